# normalize_total + log1p, batch-aware HVGs, PCA, neighbours, UMAP, Leiden.


rule normalize:
    input:
        h5ad="results/{dataset}/qc/filtered.h5ad",
    output:
        h5ad="results/{dataset}/normalized.h5ad",
        umap=report(
            "results/{dataset}/normalize/umap.png",
            caption="../report/umap.rst",
            category="2. Normalization",
            subcategory="{dataset}",
        ),
    log:
        "logs/{dataset}/normalize.log",
    benchmark:
        "results/{dataset}/benchmarks/normalize.tsv"
    conda:
        "../../envs/scanpy.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(2000, 2000),
        runtime=runtime(60, 15),
    params:
        dataset="{dataset}",
        label_key=ds_param("label_key"),
        batch_key=ds_param("batch_key"),
        normalize=normalize_params(),
    script:
        "../../scripts/normalize.py"
