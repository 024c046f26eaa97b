"""Branch (i): planted markers come out on top; consensus, tables, evaluation."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from scinterp.attribution import attribute
from scinterp.interpret import identity as I


@pytest.fixture(scope="module")
def toy():
    """3 types, 30 genes; type k has markers 3k..3k+2 strongly up; a trained classifier."""
    rng = np.random.default_rng(0)
    types = np.repeat(["T cell", "B cell", "NK cell"], 60)
    y = np.repeat([0, 1, 2], 60)
    X = rng.gamma(1.0, 0.5, size=(180, 30)).astype(np.float32)
    for k in range(3):
        X[y == k, 3 * k : 3 * k + 3] += 3.0
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    for _ in range(150):
        loss = nn.functional.cross_entropy(m(torch.tensor(X)), torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    genes = [f"G{i}" for i in range(30)]
    markers = pd.DataFrame(
        [
            (t, f"G{3 * k + j}")
            for k, t in enumerate(["T cell", "B cell", "NK cell"])
            for j in range(3)
        ],
        columns=["cell_type", "gene"],
    )
    return m.eval(), X, y, types, genes, markers


@pytest.mark.parametrize("method", ["integrated_gradients", "gradient_shap", "input_x_gradient"])
def test_attribution_ranking_recovers_planted_markers(toy, method):
    m, X, y, types, genes, markers = toy
    vals = attribute(m, X, method, y, baseline="mean", n_steps=16, n_samples=8, device="cpu")
    scores = I.aggregate_attributions(vals, types, genes)
    table = I.long_table(scores, method)
    ev = I.evaluate_identity(table, markers, genes, k=3)
    assert ev["precision_at_k"].min() == 1.0 and ev["auroc"].min() == 1.0


def test_ablation_and_consensus(toy):
    m, X, y, types, genes, markers = toy
    cand = {t: genes for t in ["T cell", "B cell", "NK cell"]}
    abl = I.ablation_scores(m, X, types, ["T cell", "B cell", "NK cell"], genes, cand, device="cpu")
    assert set(abl.loc["B cell"].nlargest(3).index) == {"G3", "G4", "G5"}
    noise = pd.DataFrame(
        np.random.default_rng(1).normal(size=abl.shape), index=abl.index, columns=genes
    )
    cons = I.consensus_scores({"ablation": abl, "noise": noise, "ablation2": abl})
    # Two agreeing sources outvote one random source: the markers stay at the top
    # (a random source can lift one stray gene into the top 3, not displace the set).
    for k, t in enumerate(["T cell", "B cell", "NK cell"]):
        marker_set = {f"G{3 * k + j}" for j in range(3)}
        assert len(set(cons.loc[t].nlargest(3).index) & marker_set) >= 2
        assert set(cons.loc[t].nlargest(5).index) >= marker_set
    with pytest.raises(ValueError, match="no consensus source"):
        I.consensus_scores({"a": abl}, ["b"])


def test_long_table_columns_and_ranks():
    s = pd.DataFrame([[1.0, 3.0, np.nan]], index=["T cell"], columns=["a", "b", "c"])
    t = I.long_table(s, "m")
    assert list(t.columns) == I.COLUMNS
    assert t["gene"].tolist() == ["b", "a"] and t["rank"].tolist() == [1, 2]


def test_aggregate_signed_vs_abs_and_bad_mode():
    v = np.array([[1.0, -2.0], [1.0, -2.0]])
    s = I.aggregate_attributions(v, ["x", "x"], ["p", "q"])
    assert s.loc["x", "p"] > s.loc["x", "q"]
    a = I.aggregate_attributions(v, ["x", "x"], ["p", "q"], how="mean_abs")
    assert a.loc["x", "q"] > a.loc["x", "p"]
    with pytest.raises(ValueError, match="mean_abs"):
        I.aggregate_attributions(v, ["x", "x"], ["p", "q"], how="median")


def test_wilcoxon_and_summary(toy):
    import anndata as ad

    _, X, _, types, genes, markers = toy
    a = ad.AnnData(X=X, obs=pd.DataFrame({"ct": types}, index=[f"c{i}" for i in range(len(X))]))
    a.var_names = genes
    w = I.wilcoxon_scores(a, "ct")
    assert set(w.loc["T cell"].nlargest(3).index) == {"G0", "G1", "G2"}
    table = pd.concat([I.long_table(w, "wilcoxon"), I.long_table(w, "consensus")])
    ev = I.evaluate_identity(table, markers, genes, k=3)
    summ = I.method_summary(table, ev, k=3)
    assert summ["precision_at_3"].tolist() == [1.0, 1.0]
    assert summ["jaccard_top3_vs_wilcoxon"].tolist() == [1.0, 1.0]
