"""End-to-end: snakemake on tiny simulated data in a temporary directory."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from scinterp.simulate import write_demo

pytestmark = pytest.mark.slow
# the run_snakemake fixture's timeout (s), tests/workflow/conftest.py
SNAKEMAKE_TIMEOUT = 1500


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small simulated dataset, plus an odd-but-valid copy of it."""
    root = tmp_path_factory.mktemp("tiny")
    paths = write_demo(root / "data", seed=1, n_cells=700, n_genes=900, n_peaks=600)
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


def test_qc_and_normalize_contract(tiny, run_snakemake):
    root, paths = tiny
    cfg = _config(
        root,
        paths,
        tiny={"rna": str(paths["rna"]), "label_key": "cell_type", "batch_key": "batch"},
        odd={"rna": str(root / "data" / "odd.h5ad"), "counts_layer": "raw", "batch_key": "donor"},
    )
    targets = [
        f"results/{d}/{f}" for d in ("tiny", "odd") for f in ("qc/metrics.tsv", "normalized.h5ad")
    ] + ["results/tiny/normalize/integration.tsv"]
    res = run_snakemake(root, "--configfile", str(cfg), "--cores", "2", *targets)
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
    # With a batch_key: the default integration (scaled_harmony), and the scIB metrics
    # before and after (issue 31).
    integration = pd.read_csv(root / "results/tiny/normalize/integration.tsv", sep="\t")
    assert list(integration.columns) == ["method", "metric", "value"]
    wide = integration.pivot(index="metric", columns="method", values="value")
    assert set(wide.columns) == {"unintegrated", "scaled_harmony"}
    assert wide.loc["ilisi", "scaled_harmony"] > wide.loc["ilisi", "unintegrated"]
    assert (root / "results/tiny/normalize/integration.png").exists()


def test_rna_branches_end_to_end(tiny, run_snakemake):
    """Training, attribution, cell-identity genes and gene programs on tiny data: the
    contract's files and columns, weights that load with weights_only, the planted truth
    recovered, and a rerun that has nothing to do."""
    import torch

    root, paths = tiny
    models = ["mlp_classifier", "attention_classifier", "capsule_classifier", "program_vae"]
    cfg = {
        "datasets": {
            "tiny": {
                "rna": str(paths["rna"]),
                "label_key": "cell_type",
                "batch_key": "batch",
                "gene_sets": str(paths["gene_sets"]),
                "tfs": str(paths["tfs"]),
                "truth": str(paths["markers"].parent),
            }
        },
        # the qc test's qc and normalize settings: its results for tiny are reused (a
        # changed params value, even "MT-" for "mt-", would rerun every job downstream)
        "qc": {"mito_prefix": "mt-"},
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        "train": {"max_epochs": 40, "models": models},
        "attribution": {
            "max_cells": 150,
            "n_steps": 8,
            "methods": ["integrated_gradients", "gradient_shap", "ablation"],
        },
        "branches": {"grn": {"enabled": False}, "identity": {"ensemble": 3}},
    }
    path = root / "rna_branches.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = run_snakemake(root, "--configfile", str(path), "--cores", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    out = root / "results" / "tiny"

    for m in models:
        state = torch.load(out / "models" / m / "model.pt", weights_only=True)
        assert state and all(isinstance(v, torch.Tensor) for v in state.values())
        hist = pd.read_csv(out / "models" / m / "history.tsv", sep="\t")
        assert {"epoch", "train_loss", "val_loss"} <= set(hist.columns)
        assert hist["val_loss"].iloc[-1] < hist["val_loss"].iloc[0]
        for method in cfg["attribution"]["methods"]:
            a = ad.read_h5ad(out / "attribution" / m / f"{method}.h5ad")
            assert 0 < a.n_obs <= 150 and np.isfinite(a.X).all()
            assert "cell_type" in a.obs

    genes = pd.read_csv(out / "identity" / "genes.tsv", sep="\t")
    assert list(genes.columns[:5]) == ["cell_type", "gene", "score", "rank", "method"]
    assert {"consensus", "wilcoxon", "integrated_gradients", "attention", "ablation"} <= set(
        genes["method"]
    )
    # the identity model's ensemble: two more seeds, a confidence for the model's rows
    for seed in (1, 2):
        assert (out / "models" / "mlp_classifier" / "members" / f"seed{seed}" / "model.pt").exists()
    conf = genes.groupby("method")["confidence"]
    assert conf.count()["wilcoxon"] == 0  # no model, no seed to vary
    for m in ("consensus", "contrastive_ig"):
        c = genes.loc[genes["method"] == m, "confidence"]
        assert c.notna().all() and c.between(0, 1).all() and c.isin([0, 1 / 3, 2 / 3, 1]).all()
    top = genes[(genes["method"] == "consensus") & (genes["rank"] <= 5)]
    assert top["confidence"].mean() >= 0.8  # planted markers: every member agrees
    ev = pd.read_csv(out / "identity" / "evaluation.tsv", sep="\t")
    p_at_k = ev.groupby("method")["precision_at_k"].mean()
    assert p_at_k["consensus"] >= 0.8 and p_at_k["consensus"] >= p_at_k["wilcoxon"] - 0.05

    activity = pd.read_csv(out / "programs" / "activity.tsv", sep="\t")
    assert list(activity.columns[:3]) == ["program", "cell_type", "score"]
    assert {"program_vae", "score_genes", "capsule"} <= set(activity["method"])
    loadings = pd.read_csv(out / "programs" / "loadings.tsv", sep="\t")
    assert list(loadings.columns[:3]) == ["program", "gene", "weight"]
    pe = pd.read_csv(out / "programs" / "evaluation.tsv", sep="\t").set_index("method")
    assert pe.loc["program_vae", "auroc"] >= 0.95
    assert pe.loc["program_vae", "auroc"] >= pe.loc["score_genes", "auroc"] - 0.02

    again = run_snakemake(root, "--configfile", str(path), "--cores", "2", "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # A train key only the sequence CNN reads, and one more model in the list: the
    # trained models are not retrained (Snakemake reruns a job whose params changed).
    cfg["train"] = {**cfg["train"], "seq_mutate": 0.2, "models": [*models, "ldvae"]}
    path.write_text(yaml.safe_dump(cfg))
    plan = run_snakemake(root, "--configfile", str(path), "--cores", "2", "-n")
    text = plan.stdout + plan.stderr
    assert plan.returncode == 0, text[-3000:]
    assert "model=ldvae" in text
    assert not any(f"model={m}\n" in text or f"model={m}," in text for m in models), text[-3000:]
