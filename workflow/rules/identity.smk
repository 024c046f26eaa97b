# Branch (i): cell-identity genes per cell type, from attributions, attention, in-silico
rule rank_identity_genes:
    input:
        unpack(identity_inputs),
    output:
        # not embedded in the report (every gene x type x method: 98 MB on a 24-type,
        # 20k-gene atlas); its top genes are on the summary page and in the dotplot
        genes="results/{dataset}/identity/genes.tsv",
        methods=report(
            "results/{dataset}/identity/methods.tsv",
            caption="../report/identity_methods.rst",
            category="5. Cell-identity genes",
            subcategory="{dataset}",
            labels={"figure": "method comparison"},
        ),
        dotplot=report(
            "results/{dataset}/identity/dotplot.png",
            caption="../report/identity_plots.rst",
            category="5. Cell-identity genes",
            subcategory="{dataset}",
            labels={"figure": "dotplot of top genes"},
        ),
        heatmap=report(
            "results/{dataset}/identity/heatmap.png",
            caption="../report/identity_plots.rst",
            category="5. Cell-identity genes",
            subcategory="{dataset}",
            labels={"figure": "heatmap of top genes"},
        ),
        sampling="results/{dataset}/identity/sampling.tsv",
        # labels not ranked as cell types (no label, too few cells to learn), and why
        not_ranked="results/{dataset}/identity/not_ranked.tsv",
    log:
        "logs/{dataset}/rank_identity_genes.log",
    benchmark:
        "results/{dataset}/benchmarks/rank_identity_genes.tsv"
    conda:
        "../../envs/torch.yaml"
    # 1.06 of a core at 2 threads (demo: 23.1 CPU-s in 21.7 s)
    threads: 1
    resources:
        mem_mb=mem_mb(6000),
        runtime=runtime(60, 5),
    params:
        options=branch_options(
            "identity",
            "aggregate",
            "confidence_top",
            "consensus",
            "contrast",
            "max_cells",
            "max_cells_de",
            "n_candidates",
            "n_top_plot",
            "precision_k",
        ),
        # with 'ablation', the gene-level in-silico ablation is computed even when the
        # consensus does not list it
        attribution_methods=identity_methods(),
        seed=config["train"]["seed"],
        device=config["train"]["device"],
    script:
        "../../scripts/rank_identity_genes.py"


rule evaluate_identity:
    input:
        genes="results/{dataset}/identity/genes.tsv",
        normalized="results/{dataset}/normalized.h5ad",
        markers=identity_truth,
    output:
        tsv=report(
            "results/{dataset}/identity/evaluation.tsv",
            caption="../report/identity_evaluation.rst",
            category="5. Cell-identity genes",
            subcategory="{dataset}",
            labels={"figure": "evaluation (table)"},
        ),
        png=report(
            "results/{dataset}/identity/evaluation.png",
            caption="../report/identity_evaluation.rst",
            category="5. Cell-identity genes",
            subcategory="{dataset}",
            labels={"figure": "precision@10 and AUROC per method"},
        ),
    log:
        "logs/{dataset}/evaluate_identity.log",
    benchmark:
        "results/{dataset}/benchmarks/evaluate_identity.tsv"
    conda:
        "../../envs/scanpy.yaml"
    threads: 1
    resources:
        mem_mb=mem_mb(4000),
        runtime=runtime(20),
    params:
        k=IDENTITY["precision_k"],
    script:
        "../../scripts/evaluate_identity.py"
