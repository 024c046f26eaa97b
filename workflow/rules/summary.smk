# The findings summary and the exports, after every branch: they read what the
# branches that are switched on wrote (inputs in workflow/rules/inputs/summary.smk).


# The report's first page: what the run found, one page per dataset (scinterp.report.summary).
# "0. Findings summary" sorts before "0. Run record" (the report orders categories by name).
rule summary:
    input:
        unpack(summary_inputs),
    output:
        md="results/{dataset}/summary.md",
        html=report(
            "results/{dataset}/summary.html",
            caption="../report/summary.rst",
            category="0. Findings summary",
            subcategory="{dataset}",
        ),
    log:
        "logs/{dataset}/summary.log",
    benchmark:
        "results/{dataset}/benchmarks/summary.tsv"
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(2000, 4000),
        runtime=runtime(10, 10),
    params:
        dataset="{dataset}",
        switched_off=summary_switched_off,
    script:
        "../../scripts/summary.py"


# Per-cell identity scores and program activity for scanpy and CELLxGENE
# (scinterp.report.export.cell_activity). Not embedded in the report: it grows with the cells.
rule cell_activity:
    input:
        unpack(cell_activity_inputs),
    output:
        h5ad="results/{dataset}/cell_activity.h5ad",
    log:
        "logs/{dataset}/cell_activity.log",
    benchmark:
        "results/{dataset}/benchmarks/cell_activity.tsv"
    conda:
        "../../envs/scanpy.yaml"
    # X is read in row chunks, never whole; the cells x scores, obs and the embeddings
    # grow with the cells (peak 0.60 GB at 100k, 0.68 GB at 200k synthetic cells)
    resources:
        mem_mb=mem_mb(2000, 200),
        runtime=runtime(30, 5),
    params:
        dataset="{dataset}",
        n_genes=20,
        seed=config["train"]["seed"],
    script:
        "../../scripts/cell_activity.py"


# The consensus network in GRNBoost2/pySCENIC's adjacency format (TF, target, importance).
rule grn_adjacencies:
    input:
        edges="results/{dataset}/grn/edges.tsv",
    output:
        adjacencies=report(
            "results/{dataset}/grn/adjacencies.tsv",
            caption="../report/grn_adjacencies.rst",
            category="7. Gene regulatory network",
            subcategory="{dataset}",
            labels={"table": "adjacencies (pySCENIC format)"},
        ),
    log:
        "logs/{dataset}/grn_adjacencies.log",
    benchmark:
        "results/{dataset}/benchmarks/grn_adjacencies.tsv"
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(10),
    script:
        "../../scripts/grn_adjacencies.py"
