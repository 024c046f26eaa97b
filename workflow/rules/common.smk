# Config validation, input functions and the final targets.
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

from scinterp.config import ATAC_FROM_RNA, check_datasets
from scinterp.errors import ScinterpInputError
from scinterp.applicability import pick_identity_model, skipped_models
from scinterp.priors import SPECIES_GENE_SETS
from scinterp.qc import check_qc_params
from scinterp.models.registry import model_names, model_spec

# Types, defaults and unknown keys first: a typo stops the run before any job.
validate(config, schema="../schemas/config.schema.yaml")

DATASETS = config["datasets"]
# The conda envs' post-deploy scripts install scinterp from here (envs/*.post-deploy.sh).
os.environ.setdefault("SCINTERP_ROOT", workflow.basedir)
# Jobs inherit this. OpenMP threads that spin while they wait for a partner thread
# collapse when jobs share cores (Snakemake runs several at once; shared cluster nodes):
# a 2-thread step of the GRN model took 856 ms spinning vs 108 ms passive on a busy
# 2-core machine. A value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
RESOURCES = Path(workflow.basedir) / "resources"
DEMO_DIR = "resources/demo/"
JASPAR_RELEASES = (
    "JASPAR2026",
    "JASPAR2024",
    "JASPAR2022",
    "JASPAR2020",
    "JASPAR2018",
    "JASPAR2016",
    "JASPAR2014",
)


def _made_by_a_rule(path):
    """The demo files are written by rule simulate_demo."""
    return str(path).startswith(DEMO_DIR)


check_datasets(DATASETS, producible=_made_by_a_rule, motif_releases=JASPAR_RELEASES)
check_qc_params(config["qc"])


wildcard_constraints:
    dataset="|".join(re.escape(d) for d in DATASETS),


# ---------------------------------------------------------------- input functions
def dataset_cfg(wildcards):
    return DATASETS[wildcards.dataset]


def ds_param(key):
    """Input function giving one key of the dataset's config (None when unset)."""

    def get(wildcards):
        return DATASETS[wildcards.dataset].get(key)

    return get


def mem_mb(base):
    """Memory that grows with each retry, so a job killed for memory gets more."""

    def get(wildcards, attempt):
        return base * attempt

    return get


def rna_input(wildcards):
    return DATASETS[wildcards.dataset]["rna"]


def default_gene_sets(dataset):
    """The shipped gene sets of the dataset's species (human when unset)."""
    species = DATASETS[dataset].get("species") or "human"
    return str(RESOURCES / SPECIES_GENE_SETS[species])


def gene_sets_input(wildcards):
    return DATASETS[wildcards.dataset].get("gene_sets") or default_gene_sets(
        wildcards.dataset
    )


def tfs_input(wildcards):
    return DATASETS[wildcards.dataset].get("tfs") or str(
        RESOURCES / "tfs" / "jaspar2024_vertebrates.txt"
    )


def has_atac(dataset):
    return bool(DATASETS[dataset].get("atac"))


def atac_path(dataset):
    """The cells x peaks h5ad of a dataset: its atac file, or, with atac: from_rna, the
    peaks rule extract_atac takes out of the multiome rna file."""
    atac = DATASETS[dataset].get("atac")
    if atac == ATAC_FROM_RNA:
        return f"results/{dataset}/atac.h5ad"
    return atac


def atac_input(wildcards):
    return atac_path(wildcards.dataset)


# ------------------------------------------------------------------ final targets
# Each rule file appends a function dataset -> list of its final outputs (it decides
# from config whether it is enabled for that dataset).
TARGETS = []


def final_targets():
    """Every output the config asks for, per dataset."""
    targets = []
    for ds in DATASETS:
        for targets_of in TARGETS:
            targets += targets_of(ds)
    return targets


# ------------------------------------------------------------ normalize
def normalize_targets(dataset):
    return [
        f"results/{dataset}/qc/metrics.tsv",
        f"results/{dataset}/normalized.h5ad",
    ]


TARGETS.append(normalize_targets)


def normalize_params():
    """The normalize section as the rule's params. normalize_total is left out at its
    default (true): it came later, and params are a rerun trigger, so listing it would
    redo every normalized.h5ad made before it (and all that follows) for nothing."""
    params = dict(config["normalize"])
    if params.get("normalize_total", True):
        params.pop("normalize_total", None)
    return params


# ------------------------------------------------------------ train_model
MODELS = config["train"]["models"]


def _skipped(dataset):
    """What cannot run on the dataset and why (scinterp.applicability), printed once."""
    ds = DATASETS[dataset]
    return skipped_models(
        ds,
        MODELS,
        gene_sets=ds.get("gene_sets") or default_gene_sets(dataset),
        tfs=ds.get("tfs") or str(RESOURCES / "tfs" / "jaspar2024_vertebrates.txt"),
        min_genes_per_set=config["train"]["min_genes_per_set"],
        dataset=dataset,
    )


SKIPPED = {ds: _skipped(ds) for ds in DATASETS}
for _ds, _why in SKIPPED.items():
    for _part, _reason in _why.items():
        print(f"scinterp: dataset '{_ds}': {_part} skipped: {_reason}.", file=sys.stderr)


def skipped_of(wildcards):
    return SKIPPED[wildcards.dataset]


def models_of(dataset):
    """The configured models that apply to a dataset (a model that needs ATAC, seq_cnn,
    needs ATAC data; a model whose prior does not match the data is skipped, see
    SKIPPED)."""
    return [
        m
        for m in MODELS
        if (not trains_on_peaks(m) or has_atac(dataset)) and m not in SKIPPED[dataset]
    ]


def trains_on_peaks(model):
    """Whether the model's spec needs ATAC peaks (and the genome), like seq_cnn."""
    return "atac" in model_spec(model).needs


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


def train_targets(dataset):
    return [
        f"results/{dataset}/models/{m}/{f}"
        for m in models_of(dataset)
        for f in ("model.pt", "history.tsv")
    ]


TARGETS.append(train_targets)


# ------------------------------------------------------------ attribute
# The models whose spec says attributed=True; grn_sem and seq_cnn are attributed by
# their own branches.
ATTRIBUTED_MODELS = tuple(model_names(attributed=True))
ATTRIBUTION_METHODS = config["attribution"]["methods"]


def attributed_models(dataset):
    return [m for m in models_of(dataset) if m in ATTRIBUTED_MODELS]


def attribution_files(dataset):
    return [
        f"results/{dataset}/attribution/{m}/{k}.h5ad"
        for m in attributed_models(dataset)
        for k in ATTRIBUTION_METHODS
    ]


def attribution_sanity_inputs(wildcards):
    return attribution_files(wildcards.dataset)


def attribute_targets(dataset):
    files = attribution_files(dataset)
    if not files:
        return []
    return files + [
        f"results/{dataset}/attribution/sanity.tsv",
        f"results/{dataset}/attribution/sanity.png",
    ]


TARGETS.append(attribute_targets)


# ------------------------------------------------------------ branch (i): identity
# ablation and Wilcoxon, fused into a consensus; evaluated when ground truth is given.
IDENTITY = config["branches"]["identity"]


def identity_model(dataset):
    """identity.model, or another trained classifier when that one is skipped."""
    return pick_identity_model(IDENTITY["model"], attributed_models(dataset))


def identity_enabled(dataset):
    return IDENTITY["enabled"] and identity_model(dataset) is not None


def identity_params(wildcards):
    return {**IDENTITY, "model": identity_model(wildcards.dataset)}


def ensemble_members(dataset, model, size):
    """model.pt of a model's further ensemble members (seeds train.seed + 1, ...,
    trained by rule train_member); ``size`` counts the main model."""
    seed = int(config["train"]["seed"])
    return [
        f"results/{dataset}/models/{model}/members/seed{seed + i}/model.pt"
        for i in range(1, int(size))
    ]


def identity_members(dataset):
    return ensemble_members(dataset, identity_model(dataset), IDENTITY["ensemble"])


def member_train_settings(wildcards):
    """train_settings of the model, with the member's seed."""
    return {**train_settings(wildcards), "seed": int(wildcards.member.removeprefix("seed"))}


def identity_inputs(wildcards):
    ds = wildcards.dataset
    model = identity_model(ds)
    inputs = {
        "normalized": f"results/{ds}/normalized.h5ad",
        "model": f"results/{ds}/models/{model}/model.pt",
        "members": identity_members(ds),
        "attributions": [
            f"results/{ds}/attribution/{model}/{k}.h5ad"
            for k in ATTRIBUTION_METHODS
            if k != "ablation"
        ],
    }
    if "attention_classifier" in models_of(ds):
        inputs["attention"] = f"results/{ds}/models/attention_classifier/model.pt"
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


# ------------------------------------------------------------ branch (ii): programs
PROGRAMS_CFG = config["branches"]["programs"]
PROGRAM_VAES = tuple(model_names(program_vae=True))


def program_models(dataset):
    """Trained models the branch reads: the gene-program VAEs, the capsule classifier."""
    trained = models_of(dataset)
    models = [m for m in PROGRAM_VAES if m in trained]
    if PROGRAMS_CFG["capsule"] and "capsule_classifier" in trained:
        models.append("capsule_classifier")
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
    if not PROGRAMS_CFG["enabled"] or "branch programs" in SKIPPED[dataset]:
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


# ------------------------------------------------------------ run record
def report_targets(dataset):
    return [
        f"results/{dataset}/run/versions.tsv",
        f"results/{dataset}/run/config.yaml",
        f"results/{dataset}/run/skipped.tsv",
    ]


TARGETS.append(report_targets)


# ------------------------------------------------------------ branch (iii): grn
# Our edges (grn_sem's adjacency, integrated gradients, consensus) and the peers
# (GRNBoost2, RegDiffusion, absolute Spearman), each its own rule so that each one's
# runtime is benchmarked; evaluated when the dataset has a grn_reference.
GRN = config["branches"]["grn"]


def grn_enabled(dataset):
    return (
        GRN["enabled"]
        and "grn_sem" in models_of(dataset)
        and "branch grn" not in SKIPPED[dataset]
    )


# the peers switched on in the config, each its own rule writing grn/{peer}.tsv (the
# names of scinterp.grn_peers.PEERS)
_PEER_SWITCHES = ("grnboost2", "regdiffusion", "spearman")
GRN_PEERS = [p for p in _PEER_SWITCHES if GRN[p]]
# what infer_grn and grn_figures read: switching a peer on or off must not rerun them
GRN_OPTIONS = {k: v for k, v in GRN.items() if k not in _PEER_SWITCHES}


def grn_members(dataset):
    """model.pt of grn_sem's further ensemble members (branches.grn.ensemble)."""
    return ensemble_members(dataset, "grn_sem", GRN["ensemble"])


def grn_members_input(wildcards):
    return grn_members(wildcards.dataset)


def grn_edge_files(wildcards):
    return [f"results/{wildcards.dataset}/grn/edges.tsv"] + [
        f"results/{wildcards.dataset}/grn/{p}.tsv" for p in GRN_PEERS
    ]


def grn_benchmark_files(wildcards):
    """Each network's job benchmarks (ours: training grn_sem and infer_grn), for the
    runtime column of grn/metrics.tsv."""
    d = wildcards.dataset
    members = [
        f"results/{d}/benchmarks/train_member/grn_sem/{Path(m).parent.name}.tsv"
        for m in grn_members(d)
    ]
    return (
        [f"results/{d}/benchmarks/train_model/grn_sem.tsv"]
        + members
        + [f"results/{d}/benchmarks/infer_grn.tsv"]
        + [f"results/{d}/benchmarks/{p}.tsv" for p in GRN_PEERS]
    )


def grn_reference_input(wildcards):
    return DATASETS[wildcards.dataset]["grn_reference"]


def grn_figures_inputs(wildcards):
    inputs = {"edges": f"results/{wildcards.dataset}/grn/edges.tsv"}
    if DATASETS[wildcards.dataset].get("grn_reference"):
        inputs["reference"] = grn_reference_input(wildcards)
    return inputs


def grn_targets(dataset):
    if not grn_enabled(dataset):
        return []
    out = [
        f"results/{dataset}/grn/{f}"
        for f in ("edges.tsv", "top_regulators.tsv", "network.png")
    ]
    out += [f"results/{dataset}/grn/{p}.tsv" for p in GRN_PEERS]
    if DATASETS[dataset].get("grn_reference"):
        out += [
            f"results/{dataset}/grn/{f}"
            for f in ("metrics.tsv", "precision_recall.png")
        ]
    return out


TARGETS.append(grn_targets)


# --------------------------------------------------------- branch (iv): motifs
# Motifs learned by seq_cnn from the peaks of datasets with atac; evaluated with truth.
MOTIFS_CFG = config["branches"]["motifs"]


def motif_options(*keys):
    """The branches.motifs keys that one motif step reads (its params), so that
    changing another motif key does not rerun that step."""
    return {k: MOTIFS_CFG[k] for k in keys}


def motifs_enabled(dataset):
    return MOTIFS_CFG["enabled"] and "seq_cnn" in models_of(dataset)


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


# ----------------------------------------------------------- sweeps and report
# Parameter sweeps (workflow/rules/sweep.smk): one Paramspace point per row of
# sweep.table, under results/{dataset}/sweep/{params}/ with {params} like
# "learning_rate~0.001_seed~0". Off (no rules, no targets) while sweep.table is null.
SWEEP = config["sweep"]
SWEEP_SPACE = None
if SWEEP["table"]:
    from snakemake.utils import Paramspace

    from scinterp.sweep import check_table, read_table

    _sweep_df = read_table(SWEEP["table"])
    check_table(
        _sweep_df, config["train"], config["attribution"], SWEEP["model"], path=SWEEP["table"]
    )
    SWEEP_SPACE = Paramspace(_sweep_df, filename_params="*", single_wildcard="params")
    for _ds in SWEEP["datasets"] or []:
        if _ds not in DATASETS:
            raise ScinterpInputError(
                f"sweep.datasets names '{_ds}', which is not a dataset of the config.",
                fix=f"use names from `datasets` ({', '.join(DATASETS)}), or null for all.",
            )


def sweep_enabled(dataset):
    return SWEEP_SPACE is not None and (
        SWEEP["datasets"] is None or dataset in SWEEP["datasets"]
    )


def sweep_point(wildcards):
    """The point's parameters (a dict, column -> value of the right type)."""
    return SWEEP_SPACE.instance(wildcards)


def sweep_point_dirs(wildcards):
    return [
        f"results/{wildcards.dataset}/sweep/{p}"
        for p in SWEEP_SPACE.instance_patterns
    ]


def sweep_identity_inputs(wildcards):
    base = f"results/{wildcards.dataset}/sweep/{wildcards.params}"
    return {
        "normalized": f"results/{wildcards.dataset}/normalized.h5ad",
        "model": f"{base}/model/model.pt",
        "attributions": [f"{base}/attribution/{m}.h5ad" for m in SWEEP["methods"]],
    }


def sweep_summary_inputs(wildcards):
    dirs = sweep_point_dirs(wildcards)
    inputs = {
        "genes": [f"{d}/identity/genes.tsv" for d in dirs],
        "histories": [f"{d}/model/history.tsv" for d in dirs],
    }
    if DATASETS[wildcards.dataset].get("truth"):
        inputs["markers"] = identity_truth(wildcards)
    return inputs


def sweep_targets(dataset):
    if not sweep_enabled(dataset):
        return []
    return [f"results/{dataset}/sweep/{f}" for f in ("summary.tsv", "summary.png")]


TARGETS.append(sweep_targets)


# ------------------------------------------------ findings summary and exports
# summary.md/.html (the report's first page), cell_activity.h5ad and grn/adjacencies.tsv
# read what the branches that are switched on wrote (workflow/rules/report.smk).
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
