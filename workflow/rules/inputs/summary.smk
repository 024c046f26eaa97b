# The findings summary and the exports (workflow/rules/summary.smk): summary.md/.html
# (the report's first page), cell_activity.h5ad and grn/adjacencies.tsv read what the
# branches that are switched on wrote, so this file comes after every branch's.


def branches_off(dataset):
    """Branch -> why it does not run on the dataset (config switch, missing data, a
    skipped model); the reasons of skipped models themselves are in run/skipped.tsv."""
    off = {}
    if not IDENTITY["enabled"]:
        off["identity"] = "branches.identity.enabled is false"
    elif identity_model(dataset) is None:
        off["identity"] = "no classifier of train.models was trained on this dataset"
    if not PROGRAMS_CFG["enabled"]:
        off["programs"] = "branches.programs.enabled is false"
    if not GRN["enabled"]:
        off["grn"] = "branches.grn.enabled is false"
    elif not grn_enabled(dataset) and "branch grn" not in SKIPPED[dataset]:
        off["grn"] = "grn_sem is not trained on this dataset (train.models or skipped)"
    if not MOTIFS_CFG["enabled"]:
        off["motifs"] = "branches.motifs.enabled is false"
    elif not has_atac(dataset):
        off["motifs"] = "the dataset has no atac data"
    elif not motifs_enabled(dataset):
        off["motifs"] = "seq_cnn is not in train.models"
    return off


def summary_switched_off(wildcards):
    return branches_off(wildcards.dataset)


def summary_inputs(wildcards):
    """The tables and figures of every branch that runs on the dataset, by name."""
    d = wildcards.dataset
    r = f"results/{d}"
    inputs = {
        "qc_metrics": f"{r}/qc/metrics.tsv",
        "qc_plot": f"{r}/qc/qc.png",
        "umap": f"{r}/normalize/umap.png",
        "skipped": f"{r}/run/skipped.tsv",
    }
    named = {
        "identity_genes": "identity/genes.tsv",
        "identity_evaluation": "identity/evaluation.tsv",
        "identity_dotplot": "identity/dotplot.png",
        "programs_activity": "programs/activity.tsv",
        "programs_evaluation": "programs/evaluation.tsv",
        "programs_heatmap": "programs/heatmap.png",
        "grn_regulators": "grn/top_regulators.tsv",
        "grn_metrics": "grn/metrics.tsv",
        "grn_network": "grn/network.png",
        "motifs_table": "motifs/motifs.tsv",
        "motifs_activity": "motifs/tf_activity.tsv",
        "motifs_evaluation": "motifs/evaluation.tsv",
        "motifs_logos": "motifs/logos.png",
        "motifs_heatmap": "motifs/tf_activity.png",
    }
    on = set(
        identity_targets(d) + programs_targets(d) + grn_targets(d) + motifs_targets(d)
    )
    inputs.update({k: f"{r}/{f}" for k, f in named.items() if f"{r}/{f}" in on})
    return inputs


def cell_activity_inputs(wildcards):
    d = wildcards.dataset
    inputs = {"normalized": f"results/{d}/normalized.h5ad"}
    if identity_enabled(d):
        inputs["genes"] = f"results/{d}/identity/genes.tsv"
    if programs_targets(d):
        inputs["programs"] = f"results/{d}/programs/cell_activity.h5ad"
    if motifs_enabled(d):
        inputs["motifs"] = f"results/{d}/motifs/cell_activity.h5ad"
    return inputs


def summary_targets(dataset):
    out = [
        f"results/{dataset}/{f}"
        for f in ("summary.md", "summary.html", "cell_activity.h5ad")
    ]
    if grn_enabled(dataset):
        out.append(f"results/{dataset}/grn/adjacencies.tsv")
    return out


TARGETS.append(summary_targets)
