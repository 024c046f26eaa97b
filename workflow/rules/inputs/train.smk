# Inputs, params and targets of rules train_model and train_members_<model>
# (workflow/rules/train.smk). MODELS, models_of and trains_on_peaks are in common.smk:
# every branch asks which models a dataset has.
from scinterp.train.settings import check_train, train_params

# Each train.<model> section against its model's settings (the model specs), before any
# job: an unknown key or a wrong type names the model, the key and the allowed keys.
check_train(config["train"])


def train_inputs(wildcards):
    """The files a training job reads. A model on peaks (seq_cnn) reads the ATAC file and
    genome only, not normalized.h5ad: its training starts beside QC and normalization, at
    the head of the motif branch's chain (the longest of the run); the branch's later rules
    read the cells' labels from normalized.h5ad."""
    ds = DATASETS[wildcards.dataset]
    if trains_on_peaks(wildcards.model):
        return {"atac": atac_path(wildcards.dataset), "genome": ds["genome"]}
    return {
        "normalized": f"results/{wildcards.dataset}/normalized.h5ad",
        "gene_sets": gene_sets_input(wildcards),
        "tfs": tfs_input(wildcards),
    }


def train_settings(wildcards):
    """The train section as model {model} reads it (scinterp.train.settings.train_params):
    the shared keys it reads and its own section, every setting resolved from its model
    spec. Params are a rerun trigger: a change to one model's settings (or to a shared key
    such as min_genes_per_set that a model does not read) reruns no other model's jobs.
    """
    return train_params(wildcards.model, config["train"])


def train_threads(wildcards):
    """CPU threads of a training job: the model spec's (scinterp.models.registry)."""
    return model_spec(wildcards.model).threads


def train_priority(wildcards):
    """Scheduling priority of a training job: 4 for a model on peaks (seq_cnn heads the
    motif chain, the run's longest: training, contributions, TF-MoDISco, TF activity;
    every rule of that chain has priority 4), 1 for the others, 0 for every other job.
    Snakemake's default scheduler starts the ready jobs of the largest summed priority:
    on 2 cores the motif chain keeps one core from the start (its training reads the ATAC
    file only, beside QC and normalization) and the other jobs share the second."""
    return 4 if trains_on_peaks(wildcards.model) else 1


def ensemble_size(model):
    """How many models the ensemble of ``model`` holds, the main one counted: the largest
    branches.<branch>.ensemble among the branches that may read it (Branch.reads against
    the model's roles). Rule train_members_<model> trains the further members, at
    member_seeds(ensemble_size(model)), in one job; a branch reads as many as it asks for.
    """
    roles = set(model_spec(model).provides)
    return max(
        (
            int(config["branches"][b.name].get("ensemble", 1))
            for b in branches()
            if roles & set(b.reads)
        ),
        default=1,
    )


def member_files(model, name):
    """The output ``name`` (model.pt, model.json, history.tsv, loss.png) of each further
    member of the model's ensemble, {dataset} and {model} left wildcards."""
    return [
        f"results/{{dataset}}/models/{{model}}/members/seed{s}/{name}"
        for s in member_seeds(ensemble_size(model))
    ]


def train_targets(dataset):
    return [
        f"results/{dataset}/models/{m}/{f}"
        for m in models_of(dataset)
        for f in ("model.pt", "history.tsv")
    ]


TARGETS.append(train_targets)
