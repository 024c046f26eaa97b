# Per-cell QC metrics, adaptive or fixed thresholds, doublets, gene filter.


rule qc:
    input:
        rna=rna_input,
    output:
        metrics="results/{dataset}/qc/metrics.tsv",
        h5ad="results/{dataset}/qc/filtered.h5ad",
        plot=report(
            "results/{dataset}/qc/qc.png",
            caption="../report/qc.rst",
            category="1. Quality control",
            subcategory="{dataset}",
        ),
    log:
        "logs/{dataset}/qc.log",
    benchmark:
        "results/{dataset}/benchmarks/qc.tsv"
    conda:
        "../../envs/scanpy.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(8000),
        runtime=60,
    params:
        dataset="{dataset}",
        counts_layer=ds_param("counts_layer"),
        label_key=ds_param("label_key"),
        batch_key=ds_param("batch_key"),
        qc=config["qc"],
    script:
        "../../scripts/qc.py"
