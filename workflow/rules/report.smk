# The run record: the software versions and the config each run used, next to its results.


rule run_record:
    output:
        versions=report(
            "results/{dataset}/run/versions.tsv",
            caption="../report/versions.rst",
            category="0. Run record",
            subcategory="{dataset}",
        ),
        config="results/{dataset}/run/config.yaml",
        skipped=report(
            "results/{dataset}/run/skipped.tsv",
            caption="../report/skipped.rst",
            category="0. Run record",
            subcategory="{dataset}",
        ),
    log:
        "logs/{dataset}/run_record.log",
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(30),
    params:
        dataset="{dataset}",
        config=config,
        skipped=skipped_of,
    script:
        "../../scripts/run_record.py"
