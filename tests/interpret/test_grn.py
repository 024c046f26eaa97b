"""GRN edge tables: integrated gradients agree with Captum; consensus; summaries."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from captum.attr import IntegratedGradients

from scinterp.errors import ScinterpInputError
from scinterp.interpret.grn import (
    CONSENSUS,
    EDGE_COLUMNS,
    TABLE_COLUMNS,
    consensus_edges,
    consensus_weights,
    edge_confidence,
    edges_from_matrix,
    ensemble_edges,
    infer_grn,
    integrated_gradients_grn,
    model_genes,
    plot_network,
    top_regulators,
)
from scinterp.models import GRNSEM
from scinterp.models.registry import save_model

TFS = ["T0", "T1"]
GENES = ["T0", "T1", "G0", "G1", "G2"]


def toy_model(seed=0):
    torch.manual_seed(seed)
    model = GRNSEM(len(GENES), torch.tensor([0, 1]), hidden=8)
    with torch.no_grad():
        model.adj.normal_(0.0, 0.8)
    return model.eval()


def test_edges_from_matrix_ranks_and_drops_self_loops():
    scores = np.array([[9.0, 1.0, 5.0, np.nan, 2.0], [3.0, 9.0, 5.0, 7.0, 0.0]])
    edges = edges_from_matrix(scores, TFS, GENES, "m", max_edges=4)
    assert list(edges.columns) == EDGE_COLUMNS
    # diagonal (T0->T0, T1->T1) and NaN dropped; tie at 5.0 broken by TF name
    assert list(zip(edges.tf, edges.target, strict=True)) == [
        ("T1", "G1"),
        ("T0", "G0"),
        ("T1", "G0"),
        ("T1", "T0"),
    ]
    assert (edges["method"] == "m").all() and (edges["cell_type"] == "all").all()


class Plain(torch.nn.Module):
    """The same function without ``path_tf_jacobian``: integrated gradients take forward mode."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


@pytest.mark.parametrize("path", ["analytic", "forward_mode"])
def test_integrated_gradients_match_captum(path):
    model = toy_model() if path == "analytic" else Plain(toy_model())
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, 1.0, size=(12, len(GENES))).astype(np.float32)
    groups = np.array(["a"] * 5 + ["b"] * 7)
    ours = integrated_gradients_grn(model, sp.csr_matrix(x), [0, 1], groups=groups, n_steps=16)
    base = torch.from_numpy(x.mean(0, keepdims=True))
    ig = IntegratedGradients(model)
    expected = np.zeros((2, len(GENES)))
    expected_a = np.zeros((2, len(GENES)))
    for g in range(len(GENES)):
        attr = ig.attribute(
            torch.from_numpy(x), baselines=base, target=g, n_steps=16, method="gausslegendre"
        )
        attr = attr.detach().abs().numpy()[:, [0, 1]]
        expected[:, g] = attr.mean(0)
        expected_a[:, g] = attr[:5].mean(0)
    np.testing.assert_allclose(ours["all"], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours["a"], expected_a, rtol=1e-4, atol=1e-6)
    assert set(ours) == {"all", "a", "b"}
    # a TF never explains its own prediction (no self-loop in the model)
    assert ours["all"][0, 0] == 0 and ours["all"][1, 1] == 0


def test_consensus_rewards_agreement():
    a = edges_from_matrix(np.array([[0, 1, 9, 8, 1], [1, 0, 2, 1, 7]]), TFS, GENES, "a")
    b = edges_from_matrix(np.array([[0, 9, 8, 1, 2], [1, 0, 7, 1, 3]]), TFS, GENES, "b")
    fused = consensus_edges([a, b], TFS, GENES)
    assert (fused["method"] == "consensus").all()
    # T0->G0 is near the top of both lists; it wins over edges that top only one
    assert tuple(fused.iloc[0][["tf", "target"]]) == ("T0", "G0")
    # an edge missing from one list ranks below the same edge listed in both
    partial = consensus_edges([a, b.iloc[1:]], TFS, GENES)
    top_b = tuple(b.iloc[0][["tf", "target"]])
    rank = {tuple(r): i for i, r in enumerate(partial[["tf", "target"]].itertuples(index=False))}
    full = {tuple(r): i for i, r in enumerate(fused[["tf", "target"]].itertuples(index=False))}
    assert rank[top_b] > full[top_b]


def test_top_regulators_and_network_plot():
    edges = pd.DataFrame(
        {
            "tf": ["A", "A", "B", "C", "A", "B"],
            "target": ["x", "y", "x", "z", "z", "y"],
            "score": [5.0, 4.0, 3.0, 2.0, 0.5, 0.2],
            "method": "consensus",
            "cell_type": ["all"] * 4 + ["B cell"] * 2,
        }
    )
    table = top_regulators(edges, n_edges=3, n_top=2)
    overall = table[table.cell_type == "all"]
    assert list(overall["tf"]) == ["A", "B"]  # C falls outside the 3 strongest edges
    assert overall.iloc[0]["n_targets"] == 2 and overall.iloc[0]["top_targets"] == "x,y"
    assert list(table[table.cell_type == "B cell"]["tf"]) == ["A", "B"]
    fig = plot_network(edges[edges.cell_type == "all"], reference=edges.iloc[:1])
    assert "in the reference (1)" in fig.axes[0].get_title()
    # every node is named: TFs and targets
    assert {t.get_text() for t in fig.axes[0].texts} == {"A", "B", "C", "x", "y", "z"}


def test_infer_grn_tables(tmp_path):
    model = toy_model()
    meta = {"features": GENES, "tfs": TFS}
    save_model(
        model, tmp_path, "grn_sem", {"n_genes": 5, "tf_index": model.tf_index, "hidden": 8}, meta
    )
    rng = np.random.default_rng(1)
    obs = pd.DataFrame(
        {"ct": ["a"] * 40 + ["b"] * 40 + ["rare"] * 5}, index=[f"c{i}" for i in range(85)]
    )
    # the data hold an extra gene, in another order than the model's
    var = pd.DataFrame(index=["EXTRA"] + GENES[::-1])
    adata = ad.AnnData(
        sp.csr_matrix(rng.gamma(2.0, 1.0, (85, 6)).astype(np.float32)), obs=obs, var=var
    )
    edges = infer_grn(adata, tmp_path, label_key="ct", min_cells_per_type=10, n_steps=4)
    assert list(edges.columns) == TABLE_COLUMNS
    assert edges["confidence"].isna().all()  # one model: no confidence
    nets = edges.groupby(["method", "cell_type"]).size()
    assert set(nets.index) == {
        ("deepsem", "all"),
        ("integrated_gradients_within_type", "all"),
        *((m, c) for m in ("integrated_gradients", "consensus") for c in ("all", "a", "b")),
    }  # "rare" has too few cells for a network of its own
    assert (nets == len(TFS) * (len(GENES) - 1)).all()
    # within type: the types' attributions averaged, weighted by their cells (40 and 40)
    ig = edges[edges.method == "integrated_gradients"].set_index(["cell_type", "tf", "target"])
    within = edges[edges.method == "integrated_gradients_within_type"]
    within = within.set_index(["tf", "target"])["score"]
    for edge in [("T0", "G1"), ("T1", "G2")]:
        assert within[edge] == pytest.approx(
            (ig.loc[("a", *edge), "score"] + ig.loc[("b", *edge), "score"]) / 2
        )
    assert within[("T0", "G1")] != pytest.approx(ig.loc[("all", "T0", "G1"), "score"])
    deepsem = edges[edges.method == "deepsem"].set_index(["tf", "target"])["score"]
    adj = model.adjacency().detach().abs().numpy()
    assert deepsem[("T0", "G1")] == pytest.approx(adj[0, GENES.index("G1")])
    with pytest.raises(ScinterpInputError, match="not in the data.*retrain"):
        model_genes(adata[:, 1:3], meta, "toy", tmp_path)


def test_consensus_weights_and_the_correlation_source(tmp_path):
    """The consensus fuses the sources it is given at their weights: spearman alone gives
    the correlation's ranking (globally and within a type, over that type's cells);
    unknown sources and all-zero weights are refused before any compute."""
    from scinterp.interpret.grn.peers import spearman_network

    model = toy_model()
    save_model(
        model,
        tmp_path,
        "grn_sem",
        {"n_genes": 5, "tf_index": model.tf_index, "hidden": 8},
        {"features": GENES, "tfs": TFS},
    )
    rng = np.random.default_rng(2)
    obs = pd.DataFrame({"ct": ["a"] * 30 + ["b"] * 30}, index=[f"c{i}" for i in range(60)])
    X = rng.gamma(2.0, 1.0, (60, 5)).astype(np.float32)
    X[:, 2] += 2 * X[:, 0]  # the third gene follows the first TF
    adata = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=GENES))
    options = {"label_key": "ct", "min_cells_per_type": 10, "n_steps": 4, "max_cells": None}
    edges = infer_grn(adata, tmp_path, consensus={"spearman": 1.0}, **options)
    for cell_type, cells in (("all", slice(None)), ("a", slice(0, 30))):
        fused = edges[(edges.method == "consensus") & (edges.cell_type == cell_type)]
        corr = spearman_network(X[cells], GENES, TFS)
        assert pairs(fused.head(3)) == pairs(corr.head(3))
    # weights matter: integrated gradients alone rank as their own network
    only_ig = infer_grn(adata, tmp_path, consensus={"integrated_gradients": 2}, **options)
    glob = only_ig[only_ig.cell_type == "all"]
    ig = glob[glob.method == "integrated_gradients"]
    fused = glob[glob.method == "consensus"]
    assert pairs(fused) == pairs(ig)
    # a list weighs equally; the default fuses all three
    assert consensus_weights(["deepsem", "spearman"]) == {"deepsem": 1.0, "spearman": 1.0}
    assert set(consensus_weights(CONSENSUS)) == {"integrated_gradients", "deepsem", "spearman"}
    for bad in ({"attention": 1}, {"deepsem": 0}, [], {"spearman": -1}):
        with pytest.raises(ValueError, match="consensus"):
            infer_grn(adata, tmp_path, consensus=bad, **options)


def pairs(edges):
    return list(zip(edges.tf, edges.target, strict=True))


def test_edge_confidence_and_ensemble_on_hand_made_networks():
    a = edges_from_matrix(np.array([[0, 5, 4, 3, 1], [2, 0, 9, 1, 0.5]]), TFS, GENES, "m")
    b = edges_from_matrix(np.array([[0, 1, 4, 5, 3], [2, 0, 9, 0.1, 0.5]]), TFS, GENES, "m")
    c = b.iloc[:3]  # a member listing only its 3 best edges
    conf = edge_confidence([a, b, c], k=2)
    # top 2: a {T1-G0, T0-T1}, b {T1-G0, T0-G1}, c the same as b
    assert conf[("T1", "G0")] == 1.0
    assert conf[("T0", "G1")] == pytest.approx(2 / 3)
    assert conf[("T0", "T1")] == pytest.approx(1 / 3)
    assert conf[("T0", "G2")] == 0.0 and len(conf) == 8  # every listed edge, no self-loop
    # each member contributes exactly k found edges
    assert conf.sum() == pytest.approx(2.0)
    # the ensemble score: mean percentile rank; agreement wins over one member's top
    mean = ensemble_edges([a, b], TFS, GENES, "consensus")
    assert list(mean.columns) == EDGE_COLUMNS and (mean["method"] == "consensus").all()
    assert tuple(mean.iloc[0][["tf", "target"]]) == ("T1", "G0")
    assert mean["score"].between(0, 1).all() and mean["score"].is_monotonic_decreasing
    # one member: its own ranking
    alone = ensemble_edges([a], TFS, GENES, "m")
    assert pairs(alone) == pairs(a)


def _toy_data(n=60, seed=1):
    rng = np.random.default_rng(seed)
    obs = pd.DataFrame(
        {"ct": ["a"] * (n // 2) + ["b"] * (n - n // 2)}, index=[f"c{i}" for i in range(n)]
    )
    return ad.AnnData(
        rng.gamma(2.0, 1.0, (n, len(GENES))).astype(np.float32),
        obs=obs,
        var=pd.DataFrame(index=GENES),
    )


def _save(model, path, genes=GENES):
    meta = {"features": genes, "tfs": TFS}
    save_model(
        model, path, "grn_sem", {"n_genes": 5, "tf_index": model.tf_index, "hidden": 8}, meta
    )
    return path


def test_infer_grn_with_ensemble_members(tmp_path):
    main = _save(toy_model(0), tmp_path / "main")
    twin = _save(toy_model(0), tmp_path / "twin")  # the same weights as the main model
    other = _save(toy_model(3), tmp_path / "other")
    adata = _toy_data()
    options = {"label_key": "ct", "min_cells_per_type": 10, "n_steps": 4}
    alone = infer_grn(adata, main, **options)
    # a member identical to the main model: every top edge found by both, the ranking kept
    same = infer_grn(adata, main, member_dirs=[twin], confidence_top=2, **options)
    glob = same[same.cell_type == "all"]
    # the within-type network is the main model's alone (per-type attributions)
    within = glob.method == "integrated_gradients_within_type"
    assert within.any() and glob.loc[within, "confidence"].isna().all()
    glob = glob[~within]
    for method, net in glob.groupby("method"):
        ranked = alone[(alone.cell_type == "all") & (alone.method == method)]
        assert pairs(net) == pairs(ranked)
        assert list(net["confidence"]) == [1.0, 1.0] + [0.0] * (len(net) - 2)
    # per-cell-type networks stay the main model's, without a confidence
    per_type = same[same.cell_type != "all"]
    assert set(per_type.cell_type) == {"a", "b"} and per_type["confidence"].isna().all()
    pd.testing.assert_frame_equal(
        per_type.reset_index(drop=True),
        alone[alone.cell_type != "all"].reset_index(drop=True),
    )
    # a different member: confidences are shares of 2 members, k found edges each
    mixed = infer_grn(adata, main, member_dirs=[other], confidence_top=2, max_edges=5, **options)
    glob = mixed[mixed.cell_type == "all"]
    assert (glob.groupby("method").size() == 5).all()
    glob = glob[glob.method != "integrated_gradients_within_type"]
    assert set(glob["confidence"]) <= {0.0, 0.5, 1.0}
    full = infer_grn(adata, main, member_dirs=[other], confidence_top=2, **options)
    full = full[full.method != "integrated_gradients_within_type"]
    for _, net in full[full.cell_type == "all"].groupby("method"):
        assert net["confidence"].sum() == pytest.approx(2.0)
    # the main model's own scores on request
    kept = infer_grn(
        adata, main, member_dirs=[other], ensemble_score=False, confidence_top=2, **options
    )
    pd.testing.assert_frame_equal(
        kept[EDGE_COLUMNS].reset_index(drop=True), alone[EDGE_COLUMNS].reset_index(drop=True)
    )
    # a member of other genes is an input error
    wrong = _save(toy_model(0), tmp_path / "wrong", genes=GENES[::-1])
    with pytest.raises(ScinterpInputError, match="other genes or TFs"):
        infer_grn(adata, main, member_dirs=[wrong], **options)


def test_findings_page_says_what_the_model_adds():
    from scinterp.interpret.grn._branch import model_contribution
    from scinterp.report.summary import grn_section, to_markdown

    metrics = pd.DataFrame(
        {
            "method": [
                "consensus",
                "integrated_gradients",
                "deepsem",
                "spearman",
                "within_type_spearman",
                "integrated_gradients",
            ],  # fmt: skip
            "auprc": [0.3, 0.2, 0.1, 0.1, 0.1, 0.9],
            "auprc_ratio": [9.0, 8.0, 2.0, 3.0, 4.0, 50.0],
            "cell_type": ["all"] * 5 + ["B cell"],
        }
    )
    text = model_contribution(metrics)  # the global networks only
    assert "alone, its sources score integrated_gradients 8.00, deepsem 2.00" in text
    assert "2.00x the best correlation floor (within_type_spearman 4.00), above it" in text
    assert text.endswith("the consensus, which fuses them with the correlation, 9.00.")
    weak = model_contribution(metrics.assign(auprc_ratio=[9.0, 1.0, 2.0, 3.0, 8.0, 50.0]))
    assert "the best, deepsem, is 0.25x the best correlation floor (within_type_spearman " in weak
    assert "below it" in weak
    # no reference network (no metrics), or no floor to compare with: the benchmark's word
    for none in (None, metrics[metrics["method"] != "spearman"].iloc[[0, 1]]):
        assert model_contribution(none).startswith("What the model adds (no reference network")
    regulators = pd.DataFrame(
        {
            "tf": ["A"],
            "rank": [1],
            "n_targets": [3],
            "top_targets": ["x,y"],
            "method": ["consensus"],
            "cell_type": ["all"],
        }  # fmt: skip
    )
    md = to_markdown([grn_section(regulators, metrics)], "t")
    assert text in md
    assert "What the model adds (no reference network" in to_markdown(
        [grn_section(regulators)], "t"
    )
