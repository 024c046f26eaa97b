# Inputs, params and targets of rules train_model and train_member
# (workflow/rules/train.smk). MODELS, models_of and trains_on_peaks are in common.smk:
# every branch asks which models a dataset has.
from scinterp.train.settings import check_train, train_params

# Each train.<model> section against its model's settings (the model specs), before any
# job: an unknown key or a wrong type names the model, the key and the allowed keys.
check_train(config["train"])


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


def train_settings(wildcards):
    """The train section as model {model} reads it (scinterp.train.settings.train_params):
    the shared keys it reads and its own section, every setting resolved from its model
    spec. Params are a rerun trigger: a change to one model's settings (or to a shared key
    such as min_genes_per_set that a model does not read) reruns no other model's jobs."""
    return train_params(wildcards.model, config["train"])


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
