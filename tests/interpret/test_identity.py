"""Branch (i): planted markers come out on top; consensus, tables, evaluation."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from scinterp.attribution import attribute
from scinterp.interpret import identity as I


def fit_mlp(X, y, n_classes: int, steps: int, seed: int = 0) -> nn.Module:
    """A one-hidden-layer classifier trained full-batch (seeded)."""
    torch.manual_seed(seed)
    m = nn.Sequential(nn.Linear(X.shape[1], 16), nn.ReLU(), nn.Linear(16, n_classes))
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    for _ in range(steps):
        loss = nn.functional.cross_entropy(m(torch.tensor(X)), torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m


@pytest.fixture(scope="module")
def toy():
    """3 types, 30 genes; type k has markers 3k..3k+2 strongly up; a trained classifier."""
    rng = np.random.default_rng(0)
    types = np.repeat(["T cell", "B cell", "NK cell"], 60)
    y = np.repeat([0, 1, 2], 60)
    X = rng.gamma(1.0, 0.5, size=(180, 30)).astype(np.float32)
    for k in range(3):
        X[y == k, 3 * k : 3 * k + 3] += 3.0
    m = fit_mlp(X, y, n_classes=3, steps=150)
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


def _shared_gene_data(shift: float, seed: int = 3):
    """4 types with two markers each (up by ``shift``) and G8 strongly up in A and B."""
    rng = np.random.default_rng(seed)
    names = ["A", "B", "C", "D"]
    types = np.repeat(names, 80)
    X = rng.gamma(2.0, 0.3, size=(320, 12)).astype(np.float32)
    for k, t in enumerate(names):
        X[types == t, 2 * k : 2 * k + 2] += shift
    X[np.isin(types, ["A", "B"]), 8] += 4.0
    return X, types, names, [f"G{i}" for i in range(12)]


def test_pairwise_auc_prefers_a_types_own_markers_over_a_shared_gene():
    """A gene up in two types tells each from the rest about as well as a weak marker
    does, so one-vs-rest Wilcoxon ranks it among the top; the pairwise AUC (against
    each other type) puts the type's own markers first."""
    import anndata as ad

    X, types, names, genes = _shared_gene_data(shift=0.35)
    obs = pd.DataFrame({"t": types}, index=[f"c{i}" for i in range(len(types))])
    wil = I.wilcoxon_scores(ad.AnnData(X, obs=obs, var=pd.DataFrame(index=genes)), "t")
    assert "G8" in set(wil.loc["A"].nlargest(2).index)  # the one-vs-rest test's mistake
    pair = I.pairwise_auc_scores(X, types, genes)
    assert list(pair.index) == names and ((pair >= 0) & (pair <= 1)).all().all()
    assert pair.loc["A", "G8"] < 0.6 < pair.loc["A", ["G0", "G1"]].min()  # B has G8 too
    assert set(pair.loc["A"].nlargest(2).index) == {"G0", "G1"}
    # a single type has nothing to be told from
    assert I.pairwise_auc_scores(X[:80], types[:80], genes).isna().all().all()


def test_contrastive_attribution_ranks_markers_above_a_shared_gene():
    X, types, names, genes = _shared_gene_data(shift=1.5)
    m = fit_mlp(X, np.searchsorted(names, types), n_classes=4, steps=200)
    cont = I.contrastive_scores(m.eval(), X, types, names, genes, device="cpu", contrast="min")
    for k, t in enumerate(names):
        assert set(cont.loc[t].nlargest(2).index) == {f"G{2 * k}", f"G{2 * k + 1}"}, t
    # G8 tells A from C and D, not from B: its smallest contrast is low
    assert cont.loc["A", "G8"] < cont.loc["A", ["G0", "G1"]].min()
    # a model with one class: no contrast, nothing ranked
    assert I.contrastive_scores(m, X[:5], types[:5], ["A"], genes).isna().all().all()
    # the mean over the other classes (the default) is never below the minimum and keeps
    # each type's own markers near the top, but it lets in G8, which tells A from C and D
    # only (and C, D from A and B by its absence): the one-vs-rest view, which the
    # pairwise AUC in the consensus guards against
    mean = I.contrastive_scores(m.eval(), X, types, names, genes)
    assert (mean.to_numpy() >= cont.to_numpy() - 1e-6).all()
    for k, t in enumerate(names):
        assert {f"G{2 * k}", f"G{2 * k + 1}"} <= set(mean.loc[t].nlargest(3).index), t
    assert mean.loc["A", "G8"] - cont.loc["A", "G8"] > mean.loc["A", "G0"] - cont.loc["A", "G0"]
    with pytest.raises(ValueError, match="'mean' or 'min'"):
        I.contrastive_scores(m, X, types, names, genes, contrast="max")


def test_contrastive_ensemble_averages_class_attributions_before_the_contrast():
    X, types, names, genes = _shared_gene_data(shift=1.5)
    y = np.searchsorted(names, types)
    ms = [fit_mlp(X, y, n_classes=4, steps=200, seed=s).eval() for s in range(3)]
    ens, own = I.contrastive_scores(ms, X, types, names, genes, members_too=True, contrast="min")
    assert len(own) == 3
    for m, o in zip(ms, own, strict=True):  # each member's own view, from the same passes
        pd.testing.assert_frame_equal(
            o, I.contrastive_scores(m, X, types, names, genes, contrast="min")
        )
    # the minimum of the mean contrast is at least the mean of the members' minima
    assert (ens.to_numpy() >= np.mean([o.to_numpy() for o in own], axis=0) - 1e-6).all()
    for k, t in enumerate(names):
        assert set(ens.loc[t].nlargest(2).index) == {f"G{2 * k}", f"G{2 * k + 1}"}, t
    # an ensemble of one model twice is that model
    twice = I.contrastive_scores([ms[0], ms[0]], X, types, names, genes, contrast="min")
    pd.testing.assert_frame_equal(twice, own[0], atol=1e-6)


def test_ensemble_confidence_and_scores():
    a = pd.DataFrame([[4.0, 3.0, 1.0, 0.0]], index=["T"], columns=["g1", "g2", "g3", "g4"])
    b = pd.DataFrame([[4.0, 1.0, 3.0, 0.0]], index=["T"], columns=["g1", "g2", "g3", "g4"])
    conf = I.ensemble_confidence([a, b], k=2)
    assert conf.loc["T"].tolist() == [1.0, 0.5, 0.5, 0.0]
    assert I.ensemble_scores([a, b]).loc["T"].tolist() == [4.0, 2.0, 2.0, 0.0]
    assert I.ensemble_scores([a]) is a
    with pytest.raises(ValueError, match="at least one member"):
        I.ensemble_confidence([], k=2)
    # the long table carries it; without one the column is empty
    t = I.long_table(I.ensemble_scores([a, b]), "consensus", confidence=conf)
    assert t.set_index("gene")["confidence"].to_dict() == {
        "g1": 1.0,
        "g2": 0.5,
        "g3": 0.5,
        "g4": 0.0,
    }
    assert I.long_table(a, "wilcoxon")["confidence"].isna().all()


def test_identity_reads_a_stratified_sample_above_max_cells_de(toy, tmp_path):
    """Above max_cells_de only a stratified sample is read; the markers still come out on
    top and sampling.tsv reports the cells used and the split-half agreement."""
    import anndata as ad

    _, X, _, types, genes, _ = toy
    a = ad.AnnData(X=X, obs=pd.DataFrame({"cell_type": types}, index=[f"c{i}" for i in range(180)]))
    a.var_names = genes
    a.uns["scinterp"] = {"label_key": "cell_type"}
    a.write_h5ad(tmp_path / "normalized.h5ad")
    options = I.IdentityOptions(consensus=("wilcoxon", "pairwise_auc"), precision_k=3)
    table, data, key, sampling = I.rank_identity_genes(
        tmp_path / "normalized.h5ad", {}, options=options.replace(max_cells_de=90)
    )
    assert key == "cell_type" and data.n_obs == 90
    assert sampling["cells"].tolist() == [60, 60, 60]
    assert sampling["cells_used"].tolist() == [30, 30, 30]
    assert (sampling["split_half_overlap"] >= 2 / 3).all()  # 3 strong markers per type
    top = table[(table["method"] == "consensus") & (table["rank"] <= 3)]
    for k, t in enumerate(["T cell", "B cell", "NK cell"]):
        assert set(top.loc[top["cell_type"] == t, "gene"]) == {f"G{3 * k + j}" for j in range(3)}
    _, whole, _, unsampled = I.rank_identity_genes(
        tmp_path / "normalized.h5ad", {}, options=options.replace(max_cells_de=1000)
    )
    assert whole.n_obs == 180 and unsampled["split_half_overlap"].isna().all()
    assert unsampled["cells_used"].tolist() == [60, 60, 60]


def test_model_contribution_says_what_the_model_changes_in_the_consensus():
    """The findings-page sentence: the consensus re-fused from its statistics alone loses
    the genes only the model ranked high; with an evaluation, the model's own precision."""
    genes = [f"G{i}" for i in range(20)]
    stat = pd.DataFrame([np.arange(20.0, 0, -1)], index=["T"], columns=genes)  # G0 best
    order = [3, 0, 1, 2, *range(4, 20)]  # the model puts the statistics' 4th gene first
    model = pd.DataFrame([np.arange(20.0, 0, -1)], index=["T"], columns=[genes[i] for i in order])
    sources = {"wilcoxon": stat, "pairwise_auc": stat, "logistic_weights": model}
    include = ["logistic_weights", "pairwise_auc", "wilcoxon"]
    cons = I.consensus_scores(sources, include)
    table = pd.concat(
        [I.long_table(s, m, "x") for m, s in sources.items()]
        + [I.long_table(cons, "consensus", "+".join(include))],
        ignore_index=True,
    )
    top = set(table[table.method == "consensus"].nsmallest(3, "rank")["gene"])
    lost = len(top - {"G0", "G1", "G2"})
    assert lost == 1  # the model's favourite G3 made the consensus top 3
    text = I.model_contribution(table, k=3)
    assert f"would lose {lost:.1f} of its top 3" in text and "logistic_weights" in text
    ev = pd.DataFrame(
        {"cell_type": "T", "method": ["logistic_weights", "wilcoxon"], "precision_at_k": [0.9, 0.6]}
    )
    assert "logistic_weights 0.90 (Wilcoxon 0.60)" in I.model_contribution(table, ev, k=3)
    # a consensus of statistics only: the model added nothing to say
    only = table[table.method != "consensus"]
    stats = I.long_table(I.consensus_scores(sources, ["wilcoxon"]), "consensus", "wilcoxon")
    assert I.model_contribution(pd.concat([only, stats]), k=3) is None
