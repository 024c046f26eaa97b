"""The run record: software versions and the config used, saved next to the results."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

import pandas as pd
import yaml

from scinterp.io import atomic_path, write_tsv_atomic

PACKAGES = (
    "scinterp",
    "snakemake",
    "snakemake-executor-plugin-slurm",
    "scanpy",
    "anndata",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "torch",
    "captum",
    "pyranges",
    "pyfaidx",
    "pyjaspar",
    "modisco-lite",
    "memelite",
    "logomaker",
    "leidenalg",
    "igraph",
    "arboreto",
)


def software_versions() -> pd.DataFrame:
    """Versions of Python, the platform and every package scinterp uses (absent: empty)."""
    rows = [("python", sys.version.split()[0]), ("platform", platform.platform())]
    for name in PACKAGES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, ""))
    try:
        import torch

        rows.append(("cuda", torch.version.cuda or ""))
    except ImportError:
        pass
    return pd.DataFrame(rows, columns=["package", "version"])


def write_run_record(versions_path, config_path, *, config: dict, dataset: str) -> None:
    """Write ``versions.tsv`` and the config restricted to ``dataset`` (plus global sections)."""
    write_tsv_atomic(software_versions(), versions_path)
    cfg = {k: v for k, v in config.items() if k != "datasets"}
    cfg = {"datasets": {dataset: config["datasets"][dataset]}, **cfg}
    with atomic_path(config_path) as tmp:
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
