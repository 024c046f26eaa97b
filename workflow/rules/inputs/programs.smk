# Branch (ii), gene programs (workflow/rules/programs.smk; declared in
# scinterp/interpret/programs/_branch.py): its config, inputs and targets.
PROGRAMS_CFG = config["branches"]["programs"]
PROGRAM_VAES = tuple(model_names(program_vae=True))


def program_models(dataset):
    """Trained models the branch reads (those providing programs): the gene-program
    VAEs, then the classifiers whose capsules are gene sets (branches.programs.capsule)."""
    readable = branch_models("programs", dataset)
    models = [m for m in PROGRAM_VAES if m in readable]
    if PROGRAMS_CFG["capsule"]:
        models += [m for m in readable if m not in PROGRAM_VAES]
    return models


def program_tables_inputs(wildcards):
    inputs = {
        "normalized": f"results/{wildcards.dataset}/normalized.h5ad",
        "gene_sets": gene_sets_input(wildcards),
    }
    for m in program_models(wildcards.dataset):
        inputs[f"model_{m}"] = f"results/{wildcards.dataset}/models/{m}/model.pt"
        if m in PROGRAM_VAES:
            inputs[f"members_{m}"] = ensemble_members(
                wildcards.dataset, m, PROGRAMS_CFG["ensemble"]
            )
    return inputs


def program_truth_input(wildcards):
    return str(Path(DATASETS[wildcards.dataset]["truth"]) / "programs.tsv")


def programs_targets(dataset):
    if not branch_on("programs", dataset):
        return []
    out = [
        f"results/{dataset}/programs/{name}"
        for name in (
            "activity.tsv",
            "loadings.tsv",
            "denovo_matches.tsv",
            "heatmap.png",
            "umap.png",
        )
    ]
    truth = DATASETS[dataset].get("truth")
    if truth:
        path = Path(truth) / "programs.tsv"
        if path.exists() or _made_by_a_rule(path):  # a truth folder may lack programs
            out.append(f"results/{dataset}/programs/evaluation.tsv")
    return out


TARGETS.append(programs_targets)
