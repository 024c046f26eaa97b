"""End-to-end: a 4-point parameter sweep (Paramspace) on tiny simulated data."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from scinterp.simulate import write_demo

pytestmark = pytest.mark.slow
# the run_snakemake fixture's timeout (s), tests/workflow/conftest.py
SNAKEMAKE_TIMEOUT = 1800


def _config(root, paths, table, **sweep):
    cfg = {
        "datasets": {
            "tiny": {
                "rna": str(paths["rna"]),
                "label_key": "cell_type",
                "batch_key": "batch",
                "gene_sets": str(paths["gene_sets"]),
                "truth": str(paths["markers"].parent),
            }
        },
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        "train": {"models": ["mlp_classifier"], "max_epochs": 2},
        "attribution": {"methods": ["integrated_gradients"], "max_cells": 150, "sanity_cells": 0},
        "branches": {
            "identity": {"consensus": ["integrated_gradients", "wilcoxon"], "max_cells": 200},
            "programs": {"enabled": False},
            "grn": {"enabled": False},
            "motifs": {"enabled": False},
        },
        "sweep": {"table": str(table), "top_k": 10, **sweep},
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    paths = write_demo(root / "data", seed=1, n_cells=600, n_genes=1000, n_peaks=300)
    return root, paths


def test_sweep_of_four_points_completes_and_summarizes(tiny, run_snakemake):
    root, paths = tiny
    table = root / "points.tsv"
    # learning rate x seed, plus the IG steps and the classifier's hidden layers (latent size)
    table.write_text(
        "learning_rate\tseed\tn_steps\thidden\n"
        "0.001\t0\t8\t64-16\n0.001\t1\t8\t64-16\n0.003\t0\t8\t64-16\n0.003\t1\t8\t64-16\n"
    )
    cfg = _config(root, paths, table)
    res = run_snakemake(
        root, "--configfile", str(cfg), "--cores", "2", "results/tiny/sweep/summary.tsv"
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]

    sweep = root / "results" / "tiny" / "sweep"
    points = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert len(points) == 4, points
    assert "learning_rate~0.003_seed~1_n_steps~8_hidden~64-16" in points, points
    for p in points:
        for f in ("model/model.pt", "model/history.tsv", "attribution/integrated_gradients.h5ad",
                  "identity/genes.tsv"):  # fmt: skip
            assert (sweep / p / f).exists(), f"{p}/{f}"
    summary = pd.read_csv(sweep / "summary.tsv", sep="\t")
    assert summary["point"].nunique() == 4
    for col in ("learning_rate", "seed", "method", "stability_jaccard", "precision_at_k"):
        assert col in summary
    cons = summary[summary["method"] == "consensus"]
    assert len(cons) == 4 and cons["stability_jaccard"].between(0, 1).all()
    assert cons["precision_at_k"].between(0, 1).all()
    assert (sweep / "summary.png").stat().st_size > 1000
    # The hidden layers of the point were used.
    meta = (sweep / points[0] / "model" / "model.json").read_text()
    assert '"hidden"' in meta and "64" in meta


def test_unknown_sweep_column_fails_before_any_job(tiny, run_snakemake):
    root, paths = tiny
    table = root / "bad.tsv"
    table.write_text("learning_rat\tseed\n0.001\t0\n")
    cfg = _config(root, paths, table)
    res = run_snakemake(root, "--configfile", str(cfg), "--cores", "1", "-n")
    assert res.returncode != 0
    assert (
        "learning_rat" in res.stderr + res.stdout and "rename the column" in res.stderr + res.stdout
    )
