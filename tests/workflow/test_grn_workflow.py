"""End-to-end: the GRN branch (our edges, GRNBoost2, evaluation, figures) on tiny data."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from scinterp.simulate import write_demo

pytestmark = pytest.mark.slow
# the run_snakemake fixture's timeout (s), tests/workflow/conftest.py
SNAKEMAKE_TIMEOUT = 900

CONTRACT_METRICS = ["method", "auprc", "auprc_ratio", "epr", "auroc"]


@pytest.fixture(scope="module")
def grn_run(tmp_path_factory, run_snakemake):
    root = tmp_path_factory.mktemp("grn")
    # n_genes=600 is below what the simulator plants now (it asks for >= 809 at seed 1)
    paths = write_demo(root / "data", seed=1, n_cells=700, n_genes=900, n_peaks=600)
    # The reference plus edges of TFs the data lacks: dropped with a warning, not an error.
    truth = pd.read_csv(paths["grn"], sep="\t")
    absent = pd.DataFrame({"tf": ["NOTATF1", "NOTATF2"], "target": truth["target"][:2]})
    reference = root / "reference.tsv"
    pd.concat([truth[["tf", "target"]], absent]).to_csv(reference, sep="\t", index=False)
    cfg = {
        "datasets": {
            "tiny": {
                "rna": str(paths["rna"]),
                "label_key": "cell_type",
                "batch_key": "batch",
                "tfs": str(paths["tfs"]),
                "grn_reference": str(reference),
            }
        },
        "compare": True,  # the peers beside ours (and RegDiffusion, below)
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        # 40 epochs: at 15 some seeds' adjacency is still half-trained (consensus AUPRC
        # ratio 5.4 at seed 1 against 9.0 at seed 0), which the ensemble mean would inherit
        "train": {"models": ["grn_sem"], "max_epochs": 40},
        "branches": {
            "programs": {"enabled": False},
            "grn": {"max_cells": 300, "regdiffusion": True, "ensemble": 2},
        },
    }
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    res = run_snakemake(root, "--configfile", str(config), "--cores", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    return root / "results" / "tiny", root / "logs" / "tiny", truth


def test_edges_follow_the_contract(grn_run):
    out, _, _ = grn_run
    edges = pd.read_csv(out / "grn" / "edges.tsv", sep="\t", keep_default_na=False)
    assert list(edges.columns[:4]) == ["tf", "target", "score", "method"]
    assert set(edges["method"]) == {
        "deepsem",
        "integrated_gradients",
        "integrated_gradients_within_type",
        "consensus",
    }
    tfs = set(pd.read_csv(out.parents[1] / "data" / "tfs.txt", header=None)[0])
    assert set(edges["tf"]) <= tfs and not (edges["tf"] == edges["target"]).any()
    # cell-type networks from the labels, the global one as "all"; best first in each
    types = set(edges["cell_type"]) - {"all"}
    assert {"T cell", "B cell", "Monocyte"} <= types
    for _, net in edges.groupby(["method", "cell_type"]):
        assert net["score"].is_monotonic_decreasing
    # ensemble 2: one further grn_sem member (seed train.seed + 1); every global edge of
    # ours gets the share of the 2 members with it in their top 100 edges
    assert (out / "models" / "grn_sem" / "members" / "seed1" / "model.pt").exists()
    edges = pd.read_csv(out / "grn" / "edges.tsv", sep="\t")
    assert list(edges.columns) == ["tf", "target", "score", "method", "cell_type", "confidence"]
    overall = edges[edges["cell_type"] == "all"]
    # the per-type integrated gradients averaged over types carry no member confidence
    within = overall["method"] == "integrated_gradients_within_type"
    assert within.any() and overall.loc[within, "confidence"].isna().all()
    overall = overall[~within]
    assert set(overall["confidence"]) <= {0.0, 0.5, 1.0}
    for _, net in overall.groupby("method"):
        assert net["confidence"].sum() == pytest.approx(100)  # 100 found edges per member
        assert net["confidence"].head(20).mean() > 0.5  # the members agree on the top
    assert edges.loc[edges["cell_type"] != "all", "confidence"].isna().all()
    for name in ("grnboost2", "regdiffusion", "spearman", "within_type_spearman"):
        peer = pd.read_csv(out / "grn" / f"{name}.tsv", sep="\t")
        assert set(peer["method"]) == {name} and set(peer["tf"]) <= tfs
        assert peer["score"].is_monotonic_decreasing and not (peer["tf"] == peer["target"]).any()


def test_metrics_against_the_reference(grn_run):
    out, logs, truth = grn_run
    metrics = pd.read_csv(out / "grn" / "metrics.tsv", sep="\t")
    assert list(metrics.columns[:5]) == CONTRACT_METRICS
    overall = metrics[metrics["cell_type"] == "all"].set_index("method")
    peers = {"grnboost2", "regdiffusion", "spearman", "within_type_spearman"}
    assert {"deepsem", "integrated_gradients", "consensus"} | peers <= set(overall.index)
    # every true edge of the simulation is a candidate (its TFs and targets are modelled
    # genes or not); both sides recover the network far better than chance
    assert overall.loc["consensus", "n_edges_true"] <= len(truth)
    assert overall.loc["consensus", "auprc_ratio"] > 3
    assert overall.loc["grnboost2", "auprc_ratio"] > 3
    # our learned network clears the correlation floor
    assert overall.loc["consensus", "auprc_ratio"] > overall.loc["spearman", "auprc_ratio"]
    # every network's runtime comes from its jobs' benchmark files; ours is training +
    # inference, the same for each of our methods
    assert (overall["runtime_s"] > 0).all()
    assert overall.loc[["deepsem", "integrated_gradients", "consensus"], "runtime_s"].nunique() == 1
    assert (overall["auroc"] > 0.7).all()
    assert "NOTATF1" in (logs / "evaluate_grn.log").read_text()  # warned, then dropped


def test_figures_and_runtimes(grn_run):
    out, _, _ = grn_run
    assert (out / "grn" / "network.png").stat().st_size > 10_000
    assert (out / "grn" / "precision_recall.png").stat().st_size > 10_000
    regulators = pd.read_csv(out / "grn" / "top_regulators.tsv", sep="\t")
    consensus = regulators[regulators["method"] == "consensus"]
    assert {"all", "B cell", "T cell"} <= set(consensus["cell_type"])
    assert (consensus.groupby("cell_type").size() == 10).all()
    # the simulation's inert TFs (expressed, regulating nothing) never lead a network
    inert = {"CTCF", "YY1", "NRF1", "REST"}
    assert not set(consensus.loc[consensus["rank"] <= 3, "tf"]) & inert
    rules = ("infer_grn", "grnboost2", "regdiffusion", "spearman", "within_type_spearman")
    for rule in (*rules, "evaluate_grn"):
        bench = pd.read_csv(out / "benchmarks" / f"{rule}.tsv", sep="\t")
        assert bench["s"].iloc[0] > 0


def test_krumsiek11_config_scores_a_published_network(repo, tmp_path, run_snakemake):
    """The shipped krumsiek11 config (640 simulated cells, 11 genes) runs end to end:
    log1p of the counts without normalize_total, and every method, ours and GRNBoost2,
    scored against the published myeloid network well above chance."""
    import anndata as ad
    import numpy as np

    cfg = yaml.safe_load((repo / "config" / "krumsiek11.yaml").read_text())
    for key, value in cfg["datasets"]["krumsiek11"].items():
        if key != "label_key":
            cfg["datasets"]["krumsiek11"][key] = str(repo / value)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    res = run_snakemake(tmp_path, "--configfile", str(config), "--cores", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    out = tmp_path / "results" / "krumsiek11"
    norm = ad.read_h5ad(out / "normalized.h5ad")
    np.testing.assert_allclose(norm.X.toarray(), np.log1p(norm.layers["counts"].toarray()))
    metrics = pd.read_csv(out / "grn" / "metrics.tsv", sep="\t")
    overall = metrics[metrics["cell_type"] == "all"].set_index("method")
    ours = ["deepsem", "integrated_gradients", "integrated_gradients_within_type", "consensus"]
    peers = ["grnboost2", "regdiffusion", "spearman", "within_type_spearman"]
    assert set(overall.index) == set(ours + peers)
    assert (overall["n_edges_true"] == 26).all() and (overall["n_candidates"] == 110).all()
    # random ranking scores 1; all seeds 0-4 gave our consensus 2.1-2.4, GRNBoost2 1.7-2.0
    assert (overall.loc[ours + ["grnboost2"], "auprc_ratio"] > 1.4).all(), overall["auprc_ratio"]
    assert overall.loc["consensus", "auprc_ratio"] > 1.8
