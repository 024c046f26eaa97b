"""End-to-end: snakemake on tiny simulated data in a temporary directory."""

from __future__ import annotations

import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from scinterp.simulate import write_demo

pytestmark = pytest.mark.slow


def snakemake(repo, workdir, *args, timeout=1500):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small simulated dataset, plus an odd-but-valid copy of it."""
    root = tmp_path_factory.mktemp("tiny")
    paths = write_demo(root / "data", seed=1, n_cells=700, n_genes=600, n_peaks=600)
    # Odd but valid: counts in a layer with log data in X, lowercase mito genes,
    # labels with spaces (already), a batch column that is numeric.
    rna = ad.read_h5ad(paths["rna"])
    odd = rna.copy()
    odd.layers["raw"] = odd.X.copy()
    odd.X = odd.X.copy()
    odd.X.data = np.log1p(odd.X.data)
    odd.var_names = [g.lower() if g.startswith("MT-") else g for g in odd.var_names]
    odd.obs["donor"] = pd.Categorical(np.where(odd.obs["batch"] == "batch1", 1, 2))
    odd.write_h5ad(root / "data" / "odd.h5ad")
    return root, paths


def _config(root, paths, **datasets):
    cfg = {
        "datasets": datasets,
        "qc": {"mito_prefix": "mt-"},
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        "train": {"max_epochs": 3},
        "attribution": {"max_cells": 150, "n_steps": 8},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_qc_and_normalize_contract(repo, tiny):
    root, paths = tiny
    cfg = _config(
        root,
        paths,
        tiny={"rna": str(paths["rna"]), "label_key": "cell_type", "batch_key": "batch"},
        odd={"rna": str(root / "data" / "odd.h5ad"), "counts_layer": "raw", "batch_key": "donor"},
    )
    targets = [f"results/{d}/{f}" for d in ("tiny", "odd") for f in ("qc/metrics.tsv", "normalized.h5ad")]
    res = snakemake(repo, root, "--configfile", str(cfg), "--cores", "2", *targets)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]

    truth = ad.read_h5ad(paths["rna"]).obs["quality"]
    for ds in ("tiny", "odd"):
        out = root / "results" / ds
        metrics = pd.read_csv(out / "qc" / "metrics.tsv", sep="\t")
        assert {"cell", "total_counts", "n_genes", "pct_mito", "keep"} <= set(metrics.columns)
        keep = metrics.set_index("cell")["keep"].astype(bool).reindex(truth.index)
        assert keep[truth == "good"].mean() > 0.95
        assert (~keep[truth == "low_quality"]).mean() > 0.8
        filtered = ad.read_h5ad(out / "qc" / "filtered.h5ad")
        assert filtered.n_obs == keep.sum()
        norm = ad.read_h5ad(out / "normalized.h5ad")
        assert "counts" in norm.layers and "highly_variable" in norm.var
        assert np.allclose(norm.layers["counts"].data, np.round(norm.layers["counts"].data))
        label = norm.uns["scinterp"]["label_key"]
        assert label in norm.obs and norm.obs[label].nunique() >= 2
    # Without a label_key, Leiden clusters are the labels.
    norm = ad.read_h5ad(root / "results" / "odd" / "normalized.h5ad")
    assert norm.uns["scinterp"]["label_key"] == "label"
