# Branch (i), identity (workflow/rules/identity.smk; declared in
# scinterp/interpret/identity/_branch.py): ablation and Wilcoxon, fused into a consensus;
# evaluated when ground truth is given. Its config, inputs and targets; the sweep reads
# IDENTITY and identity_truth.
IDENTITY = config["branches"]["identity"]


def identity_model(dataset):
    """identity.model, or another trained classifier (a model providing cell_types)
    when that one is skipped."""
    attributed = attributed_models(dataset)
    readable = [m for m in branch_models("identity", dataset) if m in attributed]
    return pick_identity_model(IDENTITY["model"], readable)


def identity_enabled(dataset):
    return branch_on("identity", dataset) and identity_model(dataset) is not None


def identity_members(dataset):
    return ensemble_members(dataset, identity_model(dataset), IDENTITY["ensemble"])


def identity_methods():
    """The attribution methods the branch reads from the identity model: attribution.methods
    and those its consensus lists (run for the identity model alone when not in
    attribution.methods). Rule rank_identity_genes passes them as attribution_methods:
    with 'ablation' among them the branch ablates genes itself."""
    listed = [k for k in IDENTITY["consensus"] if k in KNOWN_ATTRIBUTION_METHODS]
    return list(dict.fromkeys([*ATTRIBUTION_METHODS, *listed]))


def identity_inputs(wildcards):
    ds = wildcards.dataset
    model = identity_model(ds)
    inputs = {
        "normalized": f"results/{ds}/normalized.h5ad",
        "model": f"results/{ds}/models/{model}/model.pt",
        "members": identity_members(ds),
        # ablation files hold gene-set groups: the branch ablates genes itself
        "attributions": [
            f"results/{ds}/attribution/{model}/{k}.h5ad"
            for k in identity_methods()
            if k != "ablation"
        ],
    }
    # the attention weights of a model providing them (attention_classifier)
    attention = [
        m for m in branch_models("identity", ds) if "attention" in model_spec(m).provides
    ]
    if attention:
        inputs["attention"] = f"results/{ds}/models/{attention[0]}/model.pt"
    # models whose parameters rank the genes (logistic_classifier: logistic_weights)
    inputs["markers"] = [
        f"results/{ds}/models/{m}/model.pt"
        for m in branch_models("identity", ds)
        if "markers" in model_spec(m).provides
    ]
    return inputs


def identity_truth(wildcards):
    return str(Path(DATASETS[wildcards.dataset]["truth"]) / "markers.tsv")


def identity_targets(dataset):
    if not identity_enabled(dataset):
        return []
    out = [
        f"results/{dataset}/identity/{f}"
        for f in ("genes.tsv", "methods.tsv", "dotplot.png", "heatmap.png")
    ]
    if DATASETS[dataset].get("truth"):
        out += [f"results/{dataset}/identity/evaluation.{x}" for x in ("tsv", "png")]
    return out


TARGETS.append(identity_targets)
