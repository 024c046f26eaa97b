# Inputs, params and targets of rules train_model and train_member
# (workflow/rules/train.smk). MODELS, models_of and trains_on_peaks are in common.smk:
# every branch asks which models a dataset has.


def train_inputs(wildcards):
    ds = DATASETS[wildcards.dataset]
    inputs = {
        "normalized": f"results/{wildcards.dataset}/normalized.h5ad",
        "gene_sets": gene_sets_input(wildcards),
        "tfs": tfs_input(wildcards),
    }
    if trains_on_peaks(wildcards.model):
        inputs.update(atac=atac_path(wildcards.dataset), genome=ds["genome"])
    return inputs


# train keys that only some models read: a change to one of them (or to the list of
# models) must not retrain the others, which Snakemake does for any change of a rule's
# params
_EXPRESSION_ONLY = (
    "max_cells",
    "min_genes_per_set",
    "n_latent_denovo",
    "l1_denovo",
    "kl_weight",
    "nonneg_programs",
    "l1_adjacency",
)


def train_settings(wildcards):
    """The train section as model {model} reads it: the shared keys and its own prefixed
    ones (the model specs' prefix, scinterp.models.registry), no other model's prefixed
    keys, no expression-only keys for a model trained on peaks, never the model list."""
    others = tuple(
        model_spec(m).prefix
        for m in model_names()
        if m != wildcards.model and model_spec(m).prefix
    )
    seq = trains_on_peaks(wildcards.model)
    return {
        k: v
        for k, v in config["train"].items()
        if k != "models" and not k.startswith(others) and not (seq and k in _EXPRESSION_ONLY)
    }


def train_threads(wildcards):
    """CPU threads of a training job: the model spec's (scinterp.models.registry)."""
    return model_spec(wildcards.model).threads


def member_train_settings(wildcards):
    """train_settings of the model, with the member's seed."""
    return {**train_settings(wildcards), "seed": int(wildcards.member.removeprefix("seed"))}


def train_targets(dataset):
    return [
        f"results/{dataset}/models/{m}/{f}"
        for m in models_of(dataset)
        for f in ("model.pt", "history.tsv")
    ]


TARGETS.append(train_targets)
