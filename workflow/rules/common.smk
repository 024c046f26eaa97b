# Config validation, input functions and the final targets.
import os
import re
from pathlib import Path

from snakemake.utils import validate

from scinterp.config import check_datasets
from scinterp.errors import ScinterpInputError

# Types, defaults and unknown keys first: a typo stops the run before any job.
validate(config, schema="../schemas/config.schema.yaml")

DATASETS = config["datasets"]
# The conda envs' post-deploy scripts install scinterp from here (envs/*.post-deploy.sh).
os.environ.setdefault("SCINTERP_ROOT", workflow.basedir)
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


def gene_sets_input(wildcards):
    return DATASETS[wildcards.dataset].get("gene_sets") or str(
        RESOURCES / "gene_sets" / "hallmark.gmt"
    )


def tfs_input(wildcards):
    return DATASETS[wildcards.dataset].get("tfs") or str(
        RESOURCES / "tfs" / "jaspar2024_vertebrates.txt"
    )


def has_atac(dataset):
    return bool(DATASETS[dataset].get("atac"))


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
