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
    params:
        dataset="{dataset}",
        label_key=ds_param("label_key"),
        batch_key=ds_param("batch_key"),
        normalize=config["normalize"],
    log:
        "logs/{dataset}/normalize.log",
    benchmark:
        "results/{dataset}/benchmarks/normalize.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb(8000),
        runtime=60,
    conda:
        "../../envs/scanpy.yaml"
    script:
        "../../scripts/normalize.py"


def normalize_targets(dataset):
    return [
        f"results/{dataset}/qc/metrics.tsv",
        f"results/{dataset}/normalized.h5ad",
    ]


TARGETS.append(normalize_targets)
