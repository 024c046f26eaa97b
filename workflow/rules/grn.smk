# Branch (iii): gene regulatory networks. Our edges come from the trained network model
# (branch_model_file: the first trained model providing a network, grn_sem)
# (learned adjacency, integrated gradients, consensus) and its seed ensemble (rule
# train_members_grn_sem, branches.grn.ensemble: the edges' confidence); the peers (GRNBoost2,
# RegDiffusion, absolute Spearman, within-cell-type absolute Spearman) each in its own rule so that the benchmark files time
# each side.
rule infer_grn:
    input:
        normalized="results/{dataset}/normalized.h5ad",
        model=branch_model_file("grn", "model.pt"),
        meta=branch_model_file("grn", "model.json"),
        members=grn_members_input,
    output:
        # not embedded in the report (up to 100,000 edges per network: 41 MB on the
        # atlas); the top edges are on the summary page, the network figure, top_regulators
        edges="results/{dataset}/grn/edges.tsv",
    log:
        "logs/{dataset}/infer_grn.log",
    benchmark:
        "results/{dataset}/benchmarks/infer_grn.tsv"
    conda:
        "../../envs/torch.yaml"
    # 1.27 of a core at 2 threads (demo: 8.9 CPU-s in 7.0 s)
    threads: 1
    resources:
        gpu=1,
        mem_mb=mem_mb(4000),
        runtime=runtime(60, 5),
    params:
        dataset="{dataset}",
        options=branch_options(
            "grn",
            "baseline",
            "batch_size",
            "confidence_top",
            "consensus",
            "max_cells",
            "max_edges",
            "max_edges_cell_type",
            "min_cells_per_type",
            "n_steps",
            "per_cell_type",
        ),
        seed=config["train"]["seed"],
        device=config["train"]["device"],
    script:
        "../../scripts/infer_grn.py"


# The peers a user would pick instead (scinterp.interpret.grn.peers), on grn_sem's TFs, genes and
# cells, one rule each: their benchmark files time each side, and RegDiffusion (torch)
# goes to a GPU node like our model.
rule grnboost2:
    input:
        normalized="results/{dataset}/normalized.h5ad",
        meta=branch_model_file("grn", "model.json"),
    output:
        edges="results/{dataset}/grn/grnboost2.tsv",
    log:
        "logs/{dataset}/grnboost2.log",
    benchmark:
        "results/{dataset}/benchmarks/grnboost2.tsv"
    conda:
        "../../envs/grn.yaml"
    threads: 2
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime(180, 30),
    params:
        dataset="{dataset}",
        peer="grnboost2",
        seed=config["train"]["seed"],
        device="cpu",
    script:
        "../../scripts/grn_peer.py"


rule regdiffusion:
    input:
        normalized="results/{dataset}/normalized.h5ad",
        meta=branch_model_file("grn", "model.json"),
    output:
        edges="results/{dataset}/grn/regdiffusion.tsv",
    log:
        "logs/{dataset}/regdiffusion.log",
    benchmark:
        "results/{dataset}/benchmarks/regdiffusion.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=mem_mb(4000),
        runtime=runtime(120, 5),
    params:
        dataset="{dataset}",
        peer="regdiffusion",
        seed=config["train"]["seed"],
        device=config["train"]["device"],
    script:
        "../../scripts/grn_peer.py"


rule spearman:
    input:
        normalized="results/{dataset}/normalized.h5ad",
        meta=branch_model_file("grn", "model.json"),
    output:
        edges="results/{dataset}/grn/spearman.tsv",
    log:
        "logs/{dataset}/spearman.log",
    benchmark:
        "results/{dataset}/benchmarks/spearman.tsv"
    conda:
        "../../envs/grn.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(30, 5),
    params:
        dataset="{dataset}",
        peer="spearman",
        seed=config["train"]["seed"],
        device="cpu",
    script:
        "../../scripts/grn_peer.py"


# The correlation within each cell type (labels, or Leiden clusters), averaged over the
# types: the floor where cell types confound co-variation.
rule within_type_spearman:
    input:
        normalized="results/{dataset}/normalized.h5ad",
        meta=branch_model_file("grn", "model.json"),
    output:
        edges="results/{dataset}/grn/within_type_spearman.tsv",
    log:
        "logs/{dataset}/within_type_spearman.log",
    benchmark:
        "results/{dataset}/benchmarks/within_type_spearman.tsv"
    conda:
        "../../envs/grn.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(30, 5),
    params:
        dataset="{dataset}",
        peer="within_type_spearman",
        seed=config["train"]["seed"],
        device="cpu",
        min_cells_per_type=GRN["min_cells_per_type"],
    script:
        "../../scripts/grn_peer.py"


rule evaluate_grn:
    input:
        edges=grn_edge_files,
        benchmarks=grn_benchmark_files,
        reference=grn_reference_input,
        meta=branch_model_file("grn", "model.json"),
    output:
        metrics=report(
            "results/{dataset}/grn/metrics.tsv",
            caption="../report/grn_metrics.rst",
            category="7. Gene regulatory network",
            subcategory="{dataset}",
            labels={"table": "metrics against the reference"},
        ),
        curves=report(
            "results/{dataset}/grn/precision_recall.png",
            caption="../report/grn_precision_recall.rst",
            category="7. Gene regulatory network",
            subcategory="{dataset}",
            labels={"figure": "precision-recall curves"},
        ),
    log:
        "logs/{dataset}/evaluate_grn.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate_grn.tsv"
    conda:
        "../../envs/grn.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime(20),
    params:
        dataset="{dataset}",
    script:
        "../../scripts/evaluate_grn.py"


rule grn_figures:
    input:
        unpack(grn_figures_inputs),
    output:
        network=report(
            "results/{dataset}/grn/network.png",
            caption="../report/grn_network.rst",
            category="7. Gene regulatory network",
            subcategory="{dataset}",
            labels={"figure": "top edges"},
        ),
        regulators=report(
            "results/{dataset}/grn/top_regulators.tsv",
            caption="../report/grn_regulators.rst",
            category="7. Gene regulatory network",
            subcategory="{dataset}",
            labels={"table": "top regulators per cell type"},
        ),
    log:
        "logs/{dataset}/grn_figures.log",
    benchmark:
        "results/{dataset}/benchmarks/grn_figures.tsv"
    conda:
        "../../envs/grn.yaml"
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime(20),
    params:
        dataset="{dataset}",
        options=branch_options(
            "grn", "n_edges_plot", "n_top_regulators", "regulator_edges"
        ),
        seed=config["train"]["seed"],
    script:
        "../../scripts/grn_figures.py"


# The krumsiek11 reference data set (scanpy's simulation of the Boolean myeloid network
# of Krumsiek et al. 2011), as pseudo-counts plus its network; see config/krumsiek11.yaml.
rule krumsiek11_data:
    output:
        rna="resources/krumsiek11/rna.h5ad",
        grn="resources/krumsiek11/grn.tsv",
        tfs="resources/krumsiek11/tfs.txt",
    log:
        "logs/krumsiek11_data.log",
    benchmark:
        "logs/krumsiek11_data.benchmark.tsv"
    conda:
        "../../envs/scanpy.yaml"
    resources:
        mem_mb=mem_mb(2000),
        runtime=runtime(30),
    params:
        scale=100,
    script:
        "../../scripts/krumsiek11_data.py"
