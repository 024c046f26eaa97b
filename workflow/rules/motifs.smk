# Branch (iv): TF motifs learned by the sequence CNN from scATAC peaks, named by JASPAR.
rule motif_peaks:
    input:
        unpack(motif_peaks_inputs),
    output:
        peaks="results/{dataset}/motifs/peaks.tsv",
        sequences="results/{dataset}/motifs/sequences.npz",
    log:
        "logs/{dataset}/motif_peaks.log",
    benchmark:
        "results/{dataset}/benchmarks/motif_peaks.tsv"
    # the motif chain's (train_priority)
    priority: 4
    conda:
        "../../envs/motifs.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime(30),
    params:
        dataset="{dataset}",
        width=config["train"]["seq_width"],
        max_n_fraction=MOTIFS_CFG["max_n_fraction"],
    script:
        "../../scripts/motif_peaks.py"


rule motif_contributions:
    input:
        model=branch_model_file("motifs", "model.pt"),
        meta=branch_model_file("motifs", "model.json"),
        sequences="results/{dataset}/motifs/sequences.npz",
        atac=atac_input,
        normalized="results/{dataset}/normalized.h5ad",  # the cells' labels
    output:
        contributions="results/{dataset}/motifs/contributions.npz",
        filters="results/{dataset}/motifs/filters.meme",
    log:
        "logs/{dataset}/motif_contributions.log",
    benchmark:
        "results/{dataset}/benchmarks/motif_contributions.tsv"
    priority: 4  # the motif chain's (train_priority)
    conda:
        "../../envs/torch.yaml"
    # 1.43 of a core at 2 threads (demo: 38.2 CPU-s in 26.6 s); on 2 cores a
    # 2-thread job runs alone, one thread leaves the other core to the other branches
    threads: 1
    resources:
        gpu=1,
        mem_mb=mem_mb(4000, 1000),
        runtime=runtime(120),
    params:
        dataset="{dataset}",
        options=branch_options(
            "motifs",
            "attribution",
            "filter_activation",
            "filter_influence_z",
            "filter_max_motifs",
            "filter_min_ic",
            "filter_min_influence",
            "filter_min_sites",
            "filters",
            "min_rate",
            "n_per_type",
            "n_refs",
            "n_steps",
        ),
        device=config["train"]["device"],
        seed=config["train"]["seed"],
    script:
        "../../scripts/motif_contributions.py"


rule discover_motifs:
    input:
        contributions="results/{dataset}/motifs/contributions.npz",
        filters="results/{dataset}/motifs/filters.meme",
        database=motif_database_file,
    output:
        motifs=report(
            "results/{dataset}/motifs/motifs.tsv",
            caption="../report/motifs_table.rst",
            category="8. TF motifs",
            subcategory="{dataset}",
            labels={"table": "learned motifs and their JASPAR match (Tomtom)"},
        ),
        meme="results/{dataset}/motifs/motifs.meme",
    log:
        "logs/{dataset}/discover_motifs.log",
    benchmark:
        "results/{dataset}/benchmarks/discover_motifs.tsv"
    priority: 4  # the motif chain's (train_priority)
    conda:
        "../../envs/motifs.yaml"
    # 1.08 of a core at 2 threads (demo: 86.2 CPU-s in 79.7 s)
    threads: 1
    resources:
        mem_mb=mem_mb(8000),
        runtime=runtime(60),
    params:
        dataset="{dataset}",
        database=motif_database,
        options=branch_options(
            "motifs",
            "jaspar_collection",
            "jaspar_tax_group",
            "max_qvalue",
            "modisco_leiden_runs",
            "modisco_max_seqlets",
            "modisco_min_cluster_size",
            "modisco_min_metacluster_size",
            "modisco_window",
        ),
        seed=config["train"]["seed"],
    script:
        "../../scripts/discover_motifs.py"


rule tf_activity:
    input:
        model=branch_model_file("motifs", "model.pt"),
        meta=branch_model_file("motifs", "model.json"),
        motifs="results/{dataset}/motifs/motifs.tsv",
        meme="results/{dataset}/motifs/motifs.meme",
        peaks="results/{dataset}/motifs/peaks.tsv",
        sequences="results/{dataset}/motifs/sequences.npz",
        atac=atac_input,
        normalized="results/{dataset}/normalized.h5ad",  # the cells' labels
    output:
        activity=report(
            "results/{dataset}/motifs/tf_activity.tsv",
            caption="../report/motifs_activity.rst",
            category="8. TF motifs",
            subcategory="{dataset}",
            labels={"table": "TF activity per cell type"},
        ),
        cells="results/{dataset}/motifs/cell_activity.h5ad",
    log:
        "logs/{dataset}/tf_activity.log",
    benchmark:
        "results/{dataset}/benchmarks/tf_activity.tsv"
    priority: 4  # the motif chain's (train_priority)
    conda:
        "../../envs/torch.yaml"
    # 1.26 of a core at 2 threads (demo: 5.3 CPU-s in 4.2 s)
    threads: 1
    resources:
        gpu=1,
        mem_mb=mem_mb(4000, 1000),
        runtime=runtime(60, 5),
    params:
        dataset="{dataset}",
        options=branch_options(
            "motifs", "chromvar", "chromvar_backgrounds", "insertion", "n_background"
        ),
        device=config["train"]["device"],
        seed=config["train"]["seed"],
    script:
        "../../scripts/tf_activity.py"


rule motif_figures:
    input:
        motifs="results/{dataset}/motifs/motifs.tsv",
        meme="results/{dataset}/motifs/motifs.meme",
        activity="results/{dataset}/motifs/tf_activity.tsv",
        database=motif_database_file,
    output:
        logos=report(
            "results/{dataset}/motifs/logos.png",
            caption="../report/motifs_logos.rst",
            category="8. TF motifs",
            subcategory="{dataset}",
            labels={"figure": "learned motifs beside their JASPAR match"},
        ),
        heatmap=report(
            "results/{dataset}/motifs/tf_activity.png",
            caption="../report/motifs_heatmap.rst",
            category="8. TF motifs",
            subcategory="{dataset}",
            labels={"figure": "TF activity per cell type"},
        ),
    log:
        "logs/{dataset}/motif_figures.log",
    benchmark:
        "results/{dataset}/benchmarks/motif_figures.tsv"
    conda:
        "../../envs/motifs.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(20),
    params:
        dataset="{dataset}",
        database=motif_database,
        options=branch_options(
            "motifs", "jaspar_collection", "jaspar_tax_group", "n_logos"
        ),
    script:
        "../../scripts/motif_figures.py"


rule evaluate_motifs:
    input:
        motifs="results/{dataset}/motifs/motifs.tsv",
        cells="results/{dataset}/motifs/cell_activity.h5ad",
        truth=motif_truth_input,
    output:
        evaluation=report(
            "results/{dataset}/motifs/evaluation.tsv",
            caption="../report/motifs_evaluation.rst",
            category="8. TF motifs",
            subcategory="{dataset}",
            labels={"table": "evaluation against the planted motifs"},
        ),
    log:
        "logs/{dataset}/evaluate_motifs.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate_motifs.tsv"
    conda:
        "../../envs/motifs.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(10),
    params:
        dataset="{dataset}",
        max_qvalue=MOTIFS_CFG["max_qvalue"],
    script:
        "../../scripts/evaluate_motifs.py"
