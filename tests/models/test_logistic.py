"""logistic_classifier: its coefficients rank planted markers, not shuffled labels' noise."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from scinterp.models.logistic import LogisticClassifier

TYPES = ["A", "B", "C"]
OWN = {t: [f"g{i}" for i in range(6 * k, 6 * k + 6)] for k, t in enumerate(TYPES)}
SHARED = ["g18", "g19", "g20"]  # raised in A and B alike: a marker of neither


def _normalized(path, shuffle=False, seed=0):
    """Counts of 180 cells x 40 genes: each type raises its 6 own genes 6-fold; A and B
    also raise SHARED; labels optionally shuffled (same counts)."""
    rng = np.random.default_rng(seed)
    n, g = 180, 40
    y = np.array(TYPES)[np.arange(n) % 3]
    rate = np.tile(rng.uniform(1.0, 3.0, g), (n, 1))
    for k, t in enumerate(TYPES):
        rate[np.ix_(y == t, np.arange(6 * k, 6 * k + 6))] *= 6.0
    rate[np.ix_(np.isin(y, ["A", "B"]), [18, 19, 20])] *= 6.0
    counts = rng.poisson(rate).astype(np.float32)
    labels = rng.permutation(y) if shuffle else y
    a = ad.AnnData(
        X=sp.csr_matrix(np.log1p(counts)),
        obs=pd.DataFrame({"cell_type": labels}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=[f"g{i}" for i in range(g)]),
    )
    a.var["highly_variable"] = True
    a.uns["scinterp"] = {"label_key": "cell_type"}
    a.write_h5ad(path)
    return path


def _train(tmp_path, schema_defaults, name="m", shuffle=False, seed=0):
    from scinterp.models.registry import load_model
    from scinterp.train.run import train_from_files

    norm = _normalized(tmp_path / f"{name}.h5ad", shuffle=shuffle)
    params = {**schema_defaults("train"), "seed": seed, "device": "cpu", "max_epochs": 60}
    outdir = tmp_path / name
    train_from_files("logistic_classifier", normalized=norm, outdir=outdir, params=params)
    return outdir, *load_model(outdir, "cpu")


def _top(model, meta, contrast="min", k=6):
    s = pd.DataFrame(model.marker_scores(contrast), index=meta["classes"], columns=meta["features"])
    return {t: set(row.nlargest(k).index) for t, row in s.iterrows()}


def test_coefficients_rank_the_planted_markers(tmp_path, schema_defaults):
    _, model, meta = _train(tmp_path, schema_defaults)
    top = _top(model, meta)
    for t in TYPES:
        assert len(top[t] & set(OWN[t])) >= 5, (t, top[t])
        # min over the other types: a gene A shares with B is a marker of neither
        assert not top[t] & set(SHARED), (t, top[t])
    # the mean contrast lets the shared genes in (what "min" guards against)
    assert _top(model, meta, "mean", k=9)["A"] & set(SHARED)


def test_shuffled_labels_rank_no_markers(tmp_path, schema_defaults):
    _, model, meta = _train(tmp_path, schema_defaults, shuffle=True)
    top = _top(model, meta)
    hits = [len(top[t] & set(OWN[t])) for t in TYPES]
    # chance: 6 of 40 genes, about 1 of a top 6; planted labels give >= 5 per type
    assert np.mean(hits) <= 2, hits
    assert np.abs(model.marker_scores()).max() < 0.1  # the ridge keeps noise near zero


def test_same_seed_same_weights_and_the_identity_source(tmp_path, schema_defaults):
    from scinterp.interpret.identity import marker_sources

    d1, m1, _ = _train(tmp_path, schema_defaults, "a")
    _, m2, _ = _train(tmp_path, schema_defaults, "b")
    for k, v in m1.state_dict().items():
        torch.testing.assert_close(v, m2.state_dict()[k], rtol=0, atol=0)
    models = {}
    src = marker_sources(d1, not_ranked=["C"], models=models)
    assert list(src) == ["logistic_weights"] and models == {
        "logistic_weights": "logistic_classifier"
    }
    assert list(src["logistic_weights"].index) == ["A", "B"]  # a not-ranked type left out
    assert (
        src["logistic_weights"].loc["A", OWN["A"]].min()
        > src["logistic_weights"].loc["A"].drop(OWN["A"]).max()
    )


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        LogisticClassifier(4, 2, l2=-1)
    with pytest.raises(ValueError, match="contrast must be one of"):
        LogisticClassifier(4, 2).marker_scores("max")
    # the penalty is in the loss: a group lasso shrinks whole genes
    m = LogisticClassifier(3, 2, l2=0.0, group_l1=1.0)
    with torch.no_grad():
        m.linear.weight.copy_(torch.tensor([[3.0, 0.0, 0.0], [4.0, 0.0, 1.0]]))
    assert float(m.penalty().detach()) == pytest.approx(5.0 + 1.0, rel=1e-5)
