# Branch (ii): gene programs (prior gene sets and de novo) from the trained models.
rule program_tables:
    input:
        unpack(program_tables_inputs),
    output:
        activity=report(
            "results/{dataset}/programs/activity.tsv",
            caption="../report/programs_activity.rst",
            category="6. Gene programs",
            subcategory="{dataset}",
            labels={"table": "activity per cell type"},
        ),
        loadings=report(
            "results/{dataset}/programs/loadings.tsv",
            caption="../report/programs_loadings.rst",
            category="6. Gene programs",
            subcategory="{dataset}",
            labels={"table": "loadings"},
        ),
        enrichment="results/{dataset}/programs/denovo_enrichment.tsv",
        matches=report(
            "results/{dataset}/programs/denovo_matches.tsv",
            caption="../report/programs_denovo.rst",
            category="6. Gene programs",
            subcategory="{dataset}",
            labels={"table": "de novo programs"},
        ),
        cells="results/{dataset}/programs/cell_activity.h5ad",
    log:
        "logs/{dataset}/program_tables.log",
    benchmark:
        "results/{dataset}/benchmarks/program_tables.tsv"
    conda:
        "../../envs/torch.yaml"
    # 1.04 of a core at 2 threads (demo: 4.8 CPU-s in 4.6 s)
    threads: 1
    # X is read in row chunks, never whole; what grows with the cells is the cells x
    # programs activities of every VAE run (peak 0.68 GB at 100k, 0.83 GB at 200k
    # synthetic cells x 5k genes, 18 programs, 4 VAE runs + the capsule classifier)
    resources:
        mem_mb=mem_mb(4000, 300),
        runtime=runtime(60, 5),
    params:
        dataset="{dataset}",
        options=branch_options(
            "programs",
            "confidence_top",
            "n_posterior_samples",
            "n_top_denovo",
            "score_genes_ctrl_size",
            "used_threshold",
        ),
        min_set_size=config["train"]["min_genes_per_set"],
        device=config["train"]["device"],
        seed=config["train"]["seed"],
    script:
        "../../scripts/program_tables.py"


rule program_figures:
    input:
        activity="results/{dataset}/programs/activity.tsv",
        cells="results/{dataset}/programs/cell_activity.h5ad",
    output:
        heatmap=report(
            "results/{dataset}/programs/heatmap.png",
            caption="../report/programs_heatmap.rst",
            category="6. Gene programs",
            subcategory="{dataset}",
            labels={"figure": "program x cell type"},
        ),
        umap=report(
            "results/{dataset}/programs/umap.png",
            caption="../report/programs_umap.rst",
            category="6. Gene programs",
            subcategory="{dataset}",
            labels={"figure": "UMAP of top programs"},
        ),
    log:
        "logs/{dataset}/program_figures.log",
    benchmark:
        "results/{dataset}/benchmarks/program_figures.tsv"
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime(20),
    params:
        options=branch_options("programs", "n_top_umap"),
    script:
        "../../scripts/program_figures.py"


rule program_evaluation:
    input:
        activity="results/{dataset}/programs/activity.tsv",
        truth=program_truth_input,
    output:
        evaluation=report(
            "results/{dataset}/programs/evaluation.tsv",
            caption="../report/programs_evaluation.rst",
            category="6. Gene programs",
            subcategory="{dataset}",
            labels={"table": "evaluation against the truth"},
        ),
    log:
        "logs/{dataset}/program_evaluation.log",
    benchmark:
        "results/{dataset}/benchmarks/program_evaluation.tsv"
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(10),
    script:
        "../../scripts/program_evaluation.py"
