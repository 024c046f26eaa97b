# Branch (iv), TF motifs (workflow/rules/motifs.smk; declared in
# scinterp/interpret/motifs/_branch.py): motifs learned by the sequence model (the first
# trained one providing sequence, seq_cnn) from the peaks of datasets with atac;
# evaluated with truth. Its config, inputs and targets.
MOTIFS_CFG = config["branches"]["motifs"]


def motifs_enabled(dataset):
    return branch_on("motifs", dataset)


def motif_peaks_inputs(wildcards):
    ds = DATASETS[wildcards.dataset]
    inputs = {"atac": atac_path(wildcards.dataset), "genome": ds["genome"]}
    if MOTIFS_CFG["tss"]:
        inputs["tss"] = MOTIFS_CFG["tss"]
    return inputs


def motif_database(wildcards):
    """The dataset's motif_database: a JASPAR release name, or a MEME file (then an input)."""
    return DATASETS[wildcards.dataset].get("motif_database") or "JASPAR2024"


def motif_database_file(wildcards):
    db = motif_database(wildcards)
    return [] if db in JASPAR_RELEASES else [db]


def motif_truth_input(wildcards):
    return str(Path(DATASETS[wildcards.dataset]["truth"]) / "motifs.tsv")


def motifs_targets(dataset):
    if not motifs_enabled(dataset):
        return []
    out = [
        f"results/{dataset}/motifs/{name}"
        for name in (
            "motifs.tsv",
            "motifs.meme",
            "tf_activity.tsv",
            "logos.png",
            "tf_activity.png",
        )
    ]
    truth = DATASETS[dataset].get("truth")
    if truth:
        path = Path(truth) / "motifs.tsv"
        if path.exists() or _made_by_a_rule(path):
            out.append(f"results/{dataset}/motifs/evaluation.tsv")
    return out


TARGETS.append(motifs_targets)
