# Branch (v): what changes between conditions, per cell type, with the sample (donor)
# as the unit (scinterp.interpret.conditions): genes, programs, responding cell types
# and abundance, then the figures and, with ground truth, the evaluation.


rule test_conditions:
    input:
        unpack(conditions_inputs),
    output:
        genes=report(
            "results/{dataset}/conditions/genes.tsv",
            caption="../report/conditions_genes.rst",
            category="9. Conditions between samples",
            subcategory="{dataset}",
            labels={"table": "changed genes"},
        ),
        programs=report(
            "results/{dataset}/conditions/programs.tsv",
            caption="../report/conditions_programs.rst",
            category="9. Conditions between samples",
            subcategory="{dataset}",
            labels={"table": "changed programs"},
        ),
        celltypes=report(
            "results/{dataset}/conditions/celltypes.tsv",
            caption="../report/conditions_celltypes.rst",
            category="9. Conditions between samples",
            subcategory="{dataset}",
            labels={"table": "responding cell types"},
        ),
        abundance=report(
            "results/{dataset}/conditions/abundance.tsv",
            caption="../report/conditions_abundance.rst",
            category="9. Conditions between samples",
            subcategory="{dataset}",
            labels={"table": "abundance"},
        ),
        skipped="results/{dataset}/conditions/skipped.tsv",
    log:
        "logs/{dataset}/test_conditions.log",
    benchmark:
        "results/{dataset}/benchmarks/test_conditions.tsv"
    conda:
        "../../envs/scanpy.yaml"
    # one thread on a small dataset: a second BLAS thread only spins (tiny conditions test
    # data, idle machine: 41.4 s wall and 42.7 CPU-s on 1 thread, 40.9 s and 66.2 CPU-s on
    # 2). At atlas scale pydeseq2 is most of the job (100 samples x 20,000 genes: 30-38
    # CPU-s per cell type) and the job takes every core it is given (conditions_threads;
    # `--set-threads test_conditions=N` overrides)
    threads: conditions_threads
    # pseudobulk sums stream the counts in row chunks; the classifiers read a sample of
    # max_cells_per_type cells per type
    resources:
        mem_mb=mem_mb(4000, 300),
        runtime=runtime(60, 10),
    params:
        dataset="{dataset}",
        design=conditions_design,
        options=branch_options("conditions", *CONDITIONS_OPTIONS),
    script:
        "../../scripts/test_conditions.py"


rule conditions_figures:
    input:
        normalized="results/{dataset}/normalized.h5ad",
        genes="results/{dataset}/conditions/genes.tsv",
        abundance="results/{dataset}/conditions/abundance.tsv",
    output:
        volcano=report(
            "results/{dataset}/conditions/volcano.png",
            caption="../report/conditions_figures.rst",
            category="9. Conditions between samples",
            subcategory="{dataset}",
            labels={"figure": "volcano per cell type"},
        ),
        heatmap=report(
            "results/{dataset}/conditions/heatmap.png",
            caption="../report/conditions_figures.rst",
            category="9. Conditions between samples",
            subcategory="{dataset}",
            labels={"figure": "top genes per sample"},
        ),
        abundance=report(
            "results/{dataset}/conditions/abundance.png",
            caption="../report/conditions_figures.rst",
            category="9. Conditions between samples",
            subcategory="{dataset}",
            labels={"figure": "cell-type shares per sample"},
        ),
    log:
        "logs/{dataset}/conditions_figures.log",
    benchmark:
        "results/{dataset}/benchmarks/conditions_figures.tsv"
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(2000, 300),
        runtime=runtime(20, 5),
    params:
        design=conditions_design,
        fdr=CONDITIONS["fdr"],
        n_top=CONDITIONS["n_top_genes"],
    script:
        "../../scripts/conditions_figures.py"


rule conditions_evaluation:
    input:
        genes="results/{dataset}/conditions/genes.tsv",
        abundance="results/{dataset}/conditions/abundance.tsv",
        truth=conditions_truth_input,
    output:
        evaluation=report(
            "results/{dataset}/conditions/evaluation.tsv",
            caption="../report/conditions_evaluation.rst",
            category="9. Conditions between samples",
            subcategory="{dataset}",
            labels={"table": "evaluation against the truth"},
        ),
    log:
        "logs/{dataset}/conditions_evaluation.log",
    benchmark:
        "results/{dataset}/benchmarks/conditions_evaluation.tsv"
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(10),
    params:
        fdr=CONDITIONS["fdr"],
    script:
        "../../scripts/conditions_evaluation.py"
