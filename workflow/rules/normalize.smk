# normalize_total + log1p, batch-aware HVGs, PCA, integration over the batch (with a
# batch_key), neighbours, UMAP, Leiden; then the integration's scIB metrics.


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
    # 1.02 of a core at 2 threads (demo: 25.9 CPU-s in 25.3 s)
    threads: 1
    # peak 4.98 GB for 3.54 GiB of filtered.h5ad (300k-cell atlas, counts written before
    # they are normalized in place; benchmarks/LOG.md): 1.3 GB per GiB, here 1.5
    resources:
        mem_mb=mem_mb(2000, 1500),
        runtime=runtime(60, 15),
    params:
        dataset="{dataset}",
        label_key=ds_param("label_key"),
        batch_key=ds_param("batch_key"),
        condition_key=ds_param("condition_key"),
        normalize=normalize_params(),
    script:
        "../../scripts/normalize.py"


# With a batch_key: scIB metrics of the PCA before and after integration (on at most
# 20,000 cells), reading only obs, obsm and uns of normalized.h5ad. A rule of its own so
# that normalize never holds the metrics' kNN graphs beside its matrices.
rule integration_metrics:
    input:
        h5ad="results/{dataset}/normalized.h5ad",
    output:
        tsv=report(
            "results/{dataset}/normalize/integration.tsv",
            caption="../report/integration_metrics.rst",
            category="2. Normalization",
            subcategory="{dataset}",
        ),
        umap=report(
            "results/{dataset}/normalize/integration.png",
            caption="../report/integration_umap.rst",
            category="2. Normalization",
            subcategory="{dataset}",
        ),
        warnings="results/{dataset}/normalize/integration_warnings.txt",
    log:
        "logs/{dataset}/integration_metrics.log",
    benchmark:
        "results/{dataset}/benchmarks/integration_metrics.tsv"
    conda:
        "../../envs/scanpy.yaml"
    # 1.07 of a core at 2 threads (demo: 20.2 CPU-s in 18.8 s)
    threads: 1
    resources:
        mem_mb=mem_mb(3000),
        runtime=runtime(30),
    params:
        label_key=ds_param("label_key"),
        batch_key=ds_param("batch_key"),
        normalize=normalize_params(),
    script:
        "../../scripts/integration_metrics.py"
