"""End-to-end on shapes our simulator never makes (issue 14): a 100-gene panel and a data
set whose genes match no shipped gene set or TF. Both must finish; what cannot run is
skipped and named in the log and in run/skipped.tsv."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import sparse

from scinterp.priors import default_tfs, read_tfs

pytestmark = pytest.mark.slow
# the run_snakemake fixture's timeout (s), tests/workflow/conftest.py
SNAKEMAKE_TIMEOUT = 1500


def gamma_poisson(genes, n_types=4, per_type=150, depth=400.0, seed=0):
    """Cell types as gamma-Poisson counts with type-specific up-regulated genes (an
    independent generator: not scinterp.simulate)."""
    rng = np.random.default_rng(seed)
    n_genes = len(genes)
    base = rng.gamma(1.0, 1.0, n_genes)
    types = np.repeat(np.arange(n_types), per_type)
    fold = np.ones((n_types, n_genes))
    for t in range(n_types):
        fold[t, rng.choice(n_genes, max(3, n_genes // 10), replace=False)] = 5.0
    lib = rng.lognormal(np.log(depth), 0.25, len(types))
    mu = base[None] * fold[types]
    mu = mu / mu.sum(1, keepdims=True) * lib[:, None]
    X = rng.poisson(rng.gamma(4.0, mu / 4.0)).astype(np.float32)
    obs = pd.DataFrame({"cell_type": [f"type {t}" for t in types]})
    obs.index = [f"c{i}" for i in range(len(types))]
    return ad.AnnData(sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=genes))


def test_panel_and_no_prior_overlap_finish(tmp_path, run_snakemake):
    tfs = read_tfs(default_tfs())[:20]
    panel = gamma_poisson(tfs + [f"PANEL{i}" for i in range(80)], seed=1)
    panel.write_h5ad(tmp_path / "panel.h5ad")
    ecoli = gamma_poisson([f"b{i:04d}" for i in range(300)], n_types=3, depth=1500.0, seed=2)
    ecoli.write_h5ad(tmp_path / "ecoli.h5ad")
    cfg = {
        "datasets": {
            "panel": {"rna": str(tmp_path / "panel.h5ad"), "label_key": "cell_type"},
            "ecoli": {"rna": str(tmp_path / "ecoli.h5ad"), "label_key": "cell_type"},
        },
        "train": {
            "models": ["mlp_classifier", "attention_classifier", "program_vae", "grn_sem"],
            "max_epochs": 3,
        },
        "attribution": {"max_cells": 120, "n_steps": 8, "methods": ["integrated_gradients"]},
        # one model each: the ensembles are tested in test_workflow / test_grn_workflow,
        # and their members (snakemake jobs) were most of this test's time
        "branches": {"grn": {"grnboost2": False, "ensemble": 1}, "identity": {"ensemble": 1}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = run_snakemake(tmp_path, "--configfile", str(path), "--cores", "2")
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-6000:]

    # the panel: every cell is not lost to a whole-transcriptome genes floor
    m = pd.read_csv(tmp_path / "results/panel/qc/metrics.tsv", sep="\t")
    assert m["keep"].mean() > 0.9
    for ds in ("panel", "ecoli"):
        genes = pd.read_csv(tmp_path / f"results/{ds}/identity/genes.tsv", sep="\t")
        assert genes["cell_type"].nunique() >= 3  # the identity branch wrote its table

    # no gene set or TF matches: the prior-bound models and branches are skipped, named
    skipped = pd.read_csv(tmp_path / "results/ecoli/run/skipped.tsv", sep="\t")
    parts = set(skipped["part"])
    assert {"attention_classifier", "program_vae", "grn_sem"} <= parts
    assert {"branch programs", "branch grn"} <= parts
    assert "mlp_classifier" not in parts
    # named once on the terminal (issue 34: it was printed twice)
    assert log.count("dataset 'ecoli': program_vae is skipped") == 1
    assert not (tmp_path / "results/ecoli/grn").exists()
    # the panel's TFs are genes of the data: its network was inferred
    assert (tmp_path / "results/panel/grn/edges.tsv").exists()

    # the findings summary and the files other tools read (issue 17)
    panel = tmp_path / "results/panel"
    md = (panel / "summary.md").read_text()
    for title in ("Quality control", "Cell-identity genes", "Gene regulatory network"):
        assert f"## {title}" in md
    top = genes_of(panel).query("method == 'consensus' and rank == 1")
    for _, row in top.iterrows():
        assert f"| {row['cell_type']} | {row['gene']}" in md
    # no shipped gene set fits a 100-gene panel: the programs branch is named, not run
    assert "## Gene programs" not in md and "| branch programs | no gene set of" in md
    assert "data:image/png;base64," in (panel / "summary.html").read_text()
    adj = pd.read_csv(panel / "grn/adjacencies.tsv", sep="\t")
    assert list(adj.columns) == ["TF", "target", "importance"] and len(adj) > 0
    edges = pd.read_csv(panel / "grn/edges.tsv", sep="\t")
    consensus = edges.query("method == 'consensus' and cell_type == 'all'")
    assert adj["TF"].tolist() == consensus["tf"].tolist()
    cells = ad.read_h5ad(panel / "cell_activity.h5ad")
    assert cells.X.dtype == np.float32 and "X_umap" in cells.obsm and "cell_type" in cells.obs
    assert set(cells.var["kind"]) == {"identity"} and cells.n_vars == top["cell_type"].nunique()
    ecoli_md = (tmp_path / "results/ecoli/summary.md").read_text()
    assert "| branch grn | 0 TF(s) of jaspar2024_vertebrates.txt" in ecoli_md
    assert "## Cell-identity genes" in ecoli_md and "## Gene regulatory network" not in ecoli_md
    assert (tmp_path / "results/ecoli/cell_activity.h5ad").exists()


def genes_of(results):
    return pd.read_csv(results / "identity/genes.tsv", sep="\t", keep_default_na=False)
