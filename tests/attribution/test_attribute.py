"""Captum wrappers: shapes, completeness, errors, randomization sanity check."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from scinterp.attribution import METHODS, attribute
from scinterp.attribution.stage import (
    gene_set_groups,
    model_targets,
    randomization_check,
    randomize_model,
    sample_cells,
)


def _mlp(n_in=12, n_out=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, n_out)
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.gamma(2.0, 1.0, size=(20, 12)).astype(np.float32)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("baseline", ["zeros", "mean", "reference"])
def test_every_method_shape_and_finite(method, baseline, data):
    vals = attribute(
        _mlp(),
        data,
        method,
        "predicted",
        baseline=baseline,
        n_steps=8,
        n_samples=4,
        n_reference=5,
        batch_size=7,
        device="cpu",
    )
    assert vals.shape == data.shape and vals.dtype == np.float32
    assert np.isfinite(vals).all() and np.abs(vals).sum() > 0


def test_sparse_input_matches_dense(data):
    m = _mlp()
    dense = attribute(m, data, "input_x_gradient", 1, device="cpu")
    sparse = attribute(m, sp.csr_matrix(data), "input_x_gradient", 1, device="cpu")
    np.testing.assert_allclose(dense, sparse, rtol=1e-6)


@pytest.mark.parametrize("baseline", ["zeros", "mean", "reference"])
def test_integrated_gradients_completeness(baseline, data):
    m = _mlp()
    res = attribute(
        m,
        data,
        "integrated_gradients",
        np.arange(20) % 3,
        baseline=baseline,
        n_steps=128,
        batch_size=6,
        device="cpu",
        return_delta=True,
    )
    gap = np.abs(res.output_gap)
    # Sum of attributions equals f(x) - f(baseline) up to the Riemann error.
    assert np.abs(res.delta).max() < 0.01 * gap.max() + 1e-4
    np.testing.assert_allclose(res.values.sum(1) - res.output_gap, res.delta, atol=1e-4)


def test_ig_blocks_over_steps_give_same_result(data):
    m = _mlp()
    a = attribute(m, data, "integrated_gradients", 0, n_steps=16, batch_size=20, device="cpu")
    b = attribute(
        m, data, "integrated_gradients", 0, n_steps=16, batch_size=3, max_rows=10, device="cpu"
    )
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_linear_model_ig_is_weight_times_input(data):
    lin = nn.Linear(12, 2)
    vals = attribute(lin, data, "integrated_gradients", 1, baseline="zeros", device="cpu")
    expected = data * lin.weight[1].detach().numpy()
    np.testing.assert_allclose(vals, expected, rtol=1e-4, atol=1e-5)


def test_ablation_groups_share_value_and_probabilities(data):
    mask = np.repeat(np.arange(4), 3)
    vals = attribute(
        _mlp(), data, "ablation", 0, feature_mask=mask, probabilities=True, device="cpu"
    )
    assert np.allclose(vals[:, 0], vals[:, 1]) and np.allclose(vals[:, 3], vals[:, 5])
    assert np.abs(vals).max() <= 1.0  # differences of probabilities


def test_unknown_method_target_baseline_raise(data):
    m = _mlp()
    with pytest.raises(ValueError, match="unknown attribution method 'shap'.*integrated_gradients"):
        attribute(m, data, "shap", 0)
    with pytest.raises(ValueError, match="unknown target 'own'"):
        attribute(m, data, "saliency", "own", device="cpu")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        attribute(m, data, "saliency", 3, device="cpu")
    with pytest.raises(ValueError, match="one per cell"):
        attribute(m, data, "saliency", [0, 1], device="cpu")
    with pytest.raises(ValueError, match="unknown baseline 'median'"):
        attribute(m, data, "integrated_gradients", 0, baseline="median", device="cpu")


def test_randomized_model_attributions_differ():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 30)).astype(np.float32)
    y = (X[:, :5].sum(1) > X[:, 5:10].sum(1)).astype(int)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(200):
        loss = nn.functional.cross_entropy(m(torch.tensor(X)), torch.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    r = randomization_check(m, X, "integrated_gradients", y, n_steps=16, device="cpu")
    assert r["spearman_mean_abs"] < 0.5 and r["spearman_target_mean"] < 0.5
    rand = randomize_model(m, seed=3)
    assert not torch.equal(rand[0].weight, m[0].weight)


def test_sample_cells_stratified_and_deterministic():
    labels = np.array(["a"] * 900 + ["b"] * 90 + ["c"] * 10)
    idx = sample_cells(labels, 100, seed=0)
    assert len(idx) <= 100 and np.all(np.diff(idx) > 0)
    counts = {k: int((labels[idx] == k).sum()) for k in "abc"}
    assert counts["c"] == 10 and counts["a"] > counts["b"] > 0
    np.testing.assert_array_equal(idx, sample_cells(labels, 100, seed=0))


def test_model_targets_own_class_and_unknown_model(data):
    m = _mlp()
    t = model_targets(m, "mlp_classifier", data, ["b"] * 10 + ["zzz"] * 10, ["a", "b", "c"])
    assert (t[:10] == 1).all()
    with pytest.raises(ValueError, match="grn_sem"):
        model_targets(m, "grn_sem", data)


def test_gene_set_groups_partition():
    mask, names = gene_set_groups(
        ["g1", "g2", "g3", "g4"], {"big": ["g1", "g2", "g3"], "small": ["g2"]}
    )
    assert names == ["big", "small", "(no gene set)"]
    assert mask.tolist() == [0, 1, 0, 2]
