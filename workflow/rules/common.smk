# What every stage shares: config validation, the dataset helpers and inputs that
# several stages read (rna, gene sets, TFs, ATAC), the models that apply to each dataset,
# resources, and the final targets.
#
# Layout: each stage (qc, normalize, train, attribute, identity, programs, grn, motifs,
# report, sweep, summary) is two files: workflow/rules/<stage>.smk holds its rules and
# workflow/rules/inputs/<stage>.smk its config, input functions, params helpers and
# `<stage>_targets(dataset)`, appended to TARGETS. Snakemake's linter wants rules and
# functions in separate files (and counts, as a rule, any comment or docstring line in
# which "rule", a name and a colon follow each other). The Snakefile includes this file,
# then each stage's inputs file right before its rules file, in pipeline order (the
# branches' in a loop over their registry, scinterp.interpret.branches). What a
# rule evaluates when the workflow is parsed (params=ATTRIBUTION_OPTIONS, the
# wildcard_constraints on MODELS) must be defined above it: here, in its inputs file or
# an earlier stage's. Input functions run later and may call any stage's (the
# summary's call every branch's *_targets).
import os
import re
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

from scinterp.config import (
    ATAC_FROM_RNA,
    apply_compare,
    check_schema,
    config_problems,
    keep_going_requested,
    skip_broken_datasets,
)
from scinterp.errors import ScinterpInputError
from scinterp.joblog import input_gib
from scinterp.applicability import pick_identity_model, skipped_models
from scinterp.priors import SPECIES_GENE_SETS
from scinterp.preprocess.qc import check_qc_params
from scinterp.models.registry import model_names, model_spec, models_providing
from scinterp.interpret.branches import branch, branches

# Types, defaults and unknown keys first: a typo stops the run before any job, with one
# short line per mistake (check_schema; snakemake's validate would print the schema).
SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
check_schema(config, SCHEMA)
# compare: false computes what the findings read; compare: true fills the keys the config
# leaves unset with their x-compare value in the schema (every model, attribution method
# and peer), before validate fills in the other defaults
SCHEMA_DOC = yaml.safe_load(SCHEMA.read_text())
apply_compare(config, SCHEMA_DOC)
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


# Every problem of every dataset's input, found before compute (scinterp.config): the
# whole list on the terminal; with --keep-going the broken datasets are skipped and the
# others run. Only the main process checks (a cluster job parses the workflow again);
# datasets found sound are remembered by their files' size and time.
if workflow.is_main_process:
    DATASETS = skip_broken_datasets(
        DATASETS,
        config_problems(
            DATASETS,
            producible=_made_by_a_rule,
            motif_releases=JASPAR_RELEASES,
            cache=".snakemake/scinterp/inputs_checked.json",
        ),
        keep_going=keep_going_requested(sys.argv),
    )
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


def branch_options(branch, *keys):
    """The keys of branches.<branch> that one rule reads, as its params. Params are a
    rerun trigger: a rule that lists only what it reads is not rerun when another key of
    the section changes (a figure setting, another rule's key, the ensemble size, which
    changes the rule's inputs instead)."""
    section = config["branches"][branch]
    return {k: section[k] for k in keys}


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


# ----------------------------------------------------------------------- resources
# Memory (mem_mb, MB) and time (runtime, minutes) of every job, from these two helpers:
#
#     (base + per_gb x GiB of the job's input files) x attempt
#
# attempt is 1, then 2 and 3 for the retries (the Slurm profile's retries: 2), so a job
# killed for memory or time gets twice and three times as much. The input is every
# file the job reads, as on disk (a folder counts the files in it). A demo job reads
# tens of MB and asks for about `base`; on an atlas of 1M cells x 20k genes (an
# 11.1 GiB rna .h5ad, 10.7 GiB filtered.h5ad, 21.9 GiB normalized.h5ad) per_gb is what
# counts. It is calibrated on benchmarks/README.md "atlas.py (issue 8)" (peak memory and
# wall time at 1M cells, 1 thread, a busy machine), with room above the measured peak:
#
#   rules       input at 1M  measured at 1M          mem_mb           runtime
#   qc          11.1 GiB     12.25 GB, 340 s         2000 + 1500/GiB  60 + 2/GiB
#   normalize   10.7 GiB     17.45 GB, 496 s         2000 + 2000/GiB  60 + 15/GiB
#   train_*     21.9 GiB     3.48 GB, 281 s an epoch 4000 + 300/GiB   240 + 5/GiB
#   attribute   21.9 GiB     0.86 GB, 12.5 s         4000 + 50/GiB    120
#
# qc ran without doublet detection. The whole workflow at 1M cells through snakemake
# (benchmarks/README.md "The whole workflow on an atlas", config/atlas.yaml) peaked at
# 12.8 GB (qc) and 19.9 GB (normalize, which embeds after writing its matrices). The
# jobs that read the whole normalized matrix in row chunks get 200-300 MB per GiB
# (program_tables, cell_activity); the jobs that read a sample of cells (infer_grn
# 1.4 GB at 1M, the GRN peers on train.grn_max_cells: spearman 1.0 GB, and
# rank_identity_genes on max_cells_de: 2.7 GB at 100k) a constant; motif_contributions
# and tf_activity, which hold the cells x peaks matrix, 1000 MB and 5 min per GiB;
# GRNBoost2 30 min per GiB (62 s for the demo's 0.036 GiB); summary, which reads
# tables, 4000 MB and 10 min per GiB of them. Jobs that
# read a few tables ask for a constant. `base` is 2000 MB for jobs
# in the scanpy and grn envs, 4000 MB in the torch env (torch, and on a GPU node the
# CUDA context, take 1 to 2 GB of host memory): on the demo and the generalization
# datasets no job peaked above 1.7 GB (their benchmark files). The factors assume uncompressed files (anndata's default .h5ad): a compressed input (10x
# .h5, .mtx.gz, a gzip .h5ad) holds more per byte and its job may need the retry.
# Before its input exists (a dry run), a job's value shows as <TBD>.


def _scaled(base, per_gb):
    """Resource function: (base + per_gb x input GiB) x attempt, an int."""
    if not per_gb:
        return lambda wildcards, attempt: base * attempt
    return lambda wildcards, input, attempt: int(
        (base + per_gb * input_gib(input)) * attempt
    )


def mem_mb(base, per_gb=0):
    """Memory (MB) that grows with the job's input (per_gb MB per GiB) and with each
    retry, so a job killed for memory gets more."""
    return _scaled(base, per_gb)


def runtime(base, per_gb=0):
    """Time limit (minutes) that grows with the job's input (per_gb minutes per GiB) and
    with each retry, so a job stopped at its time limit gets more."""
    return _scaled(base, per_gb)


# ------------------------------------------------------- the models of each dataset
MODELS = config["train"]["models"]


def _skipped(dataset):
    """What cannot run on the dataset and why (scinterp.applicability, which warns)."""
    ds = DATASETS[dataset]
    return skipped_models(
        ds,
        MODELS,
        gene_sets=ds.get("gene_sets") or default_gene_sets(dataset),
        tfs=ds.get("tfs") or str(RESOURCES / "tfs" / "jaspar2024_vertebrates.txt"),
        min_genes_per_set=config["train"]["min_genes_per_set"],
        dataset=dataset,
    )


# skipped_models itself warns once per part left out (its logger reaches the terminal)
SKIPPED = {ds: _skipped(ds) for ds in DATASETS}


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


def member_seeds(size):
    """Seeds of an ensemble's further members, ``size`` counting the main model:
    train.seed + 1, ..., train.seed + size - 1."""
    seed = int(config["train"]["seed"])
    return [seed + i for i in range(1, int(size))]


def ensemble_members(dataset, model, size):
    """model.pt of a model's further ensemble members (member_seeds, all trained in one
    job by rule train_members_<model>); ``size`` counts the main model. The identity,
    programs and grn branches each set their own size."""
    return [
        f"results/{dataset}/models/{model}/members/seed{s}/model.pt"
        for s in member_seeds(size)
    ]


# ------------------------------------------------------------------- the branches
# Each branch is declared once, as a scinterp.interpret.branches.Branch: the Snakefile
# includes its two files, these helpers answer from its declaration (the models it reads
# by role, why it is off), the summary's inputs loop over the registry.
for _b in branches():
    if _b.name not in config["branches"]:
        raise ScinterpInputError(
            f"branch {_b.name!r} is registered but the config has no {_b.config_key} section",
            path=str(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"),
            fix=f"add {_b.config_key} (enabled and its options, with defaults) to the schema",
        )


def branch_models(name, dataset):
    """The dataset's trained models that the branch reads (Branch.reads: by role, not by
    name), in train.models order."""
    roles = set(branch(name).reads)
    return [m for m in models_of(dataset) if roles & set(model_spec(m).provides)]


def branch_model(name, dataset):
    """The model the branch reads on the dataset: the first of branch_models."""
    models = branch_models(name, dataset)
    return models[0] if models else None


def branch_model_file(name, filename):
    """Input function: results/{dataset}/models/<the branch's model>/<filename>."""

    def get(wildcards):
        d = wildcards.dataset
        return f"results/{d}/models/{branch_model(name, d)}/{filename}"

    return get


def branch_off(name, dataset):
    """Why the branch does not run on the dataset (Branch.off_reason: the config
    switch, missing data, a reason of run/skipped.tsv, no model), None when it runs."""
    b = branch(name)
    return b.off_reason(
        enabled=config["branches"][name]["enabled"],
        dataset=DATASETS[dataset],
        models=branch_models(name, dataset),
        registered=list(dict.fromkeys(m for r in b.reads for m in models_providing(r))),
        skipped=SKIPPED[dataset],
    )


def branch_on(name, dataset):
    return branch_off(name, dataset) is None


def branch_targets(name, dataset):
    """The branch's final outputs on the dataset: `<name>_targets(dataset)` of its
    inputs file (workflow/rules/inputs/<name>.smk), empty when it is off."""
    return globals()[f"{name}_targets"](dataset)


# ------------------------------------------------------------------ final targets
# Each stage's inputs file (workflow/rules/inputs/<stage>.smk) appends a function
# dataset -> list of its final outputs (it decides from config whether it is enabled
# for that dataset).
TARGETS = []


def final_targets():
    """Every output the config asks for, per dataset."""
    targets = []
    for ds in DATASETS:
        for targets_of in TARGETS:
            targets += targets_of(ds)
    return targets
