"""Captum wrappers: shapes, completeness, errors, randomization sanity check."""

from pathlib import Path

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


def test_ablation_with_gene_sets_that_miss_the_data_runs_per_gene(tmp_path, caplog):
    """Gene sets of another species or ID type leave nothing to group by: the
    attribute rule ablates gene by gene and says so, instead of failing (issue 14:
    sergio_ecoli's b-numbers against the Hallmark sets)."""
    import logging

    import anndata as ad
    import pandas as pd
    import scipy.sparse as sps
    import yaml

    from scinterp.attribution.stage import attribute_from_files
    from scinterp.train.run import train_from_files

    rng = np.random.default_rng(0)
    n, g = 90, 12
    genes = [f"b{i:04d}" for i in range(g)]
    y = np.array(["x", "y", "z"])[np.arange(n) % 3]
    rate = np.ones((n, g))
    for c, name in enumerate("xyz"):
        rate[y == name, c * 4 : (c + 1) * 4] = 5.0
    counts = sps.csr_matrix(rng.poisson(rate).astype(np.float32))
    a = ad.AnnData(
        X=sps.csr_matrix(np.log1p(counts.toarray())),
        obs=pd.DataFrame({"cell_type": y}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=genes),
    )
    a.layers["counts"] = counts
    a.var["highly_variable"] = True
    a.uns["scinterp"] = {"label_key": "cell_type"}
    a.write_h5ad(tmp_path / "normalized.h5ad")
    gmt = tmp_path / "human.gmt"
    gmt.write_text("SET_A\tna\tCD3E\tCD4\tCD8A\nSET_B\tna\tMS4A1\tCD79A\tCD19\n")
    schema = Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml"
    props = yaml.safe_load(schema.read_text())["properties"]
    train = {k: v["default"] for k, v in props["train"]["properties"].items() if "default" in v}
    train.update(max_epochs=2, device="cpu")
    train_from_files(
        "mlp_classifier",
        normalized=tmp_path / "normalized.h5ad",
        outdir=tmp_path / "mlp",
        params=train,
    )
    params = {"max_cells": 30, "sanity_cells": 0, "baseline": "mean"}
    with caplog.at_level(logging.WARNING):
        out = attribute_from_files(
            tmp_path / "mlp", tmp_path / "normalized.h5ad", "ablation", params, gene_sets=gmt
        )
    assert "ablation per gene, not per gene set" in caplog.text
    assert out.shape == (30, g)
    # one group per gene: the genes' values differ within a cell
    assert (np.ptp(out.X, axis=1) > 0).all()


def test_a_registered_method_runs_through_attribute_unchanged(monkeypatch, data):
    """A new Method subclass in the registry is a method of attribute: attribute tests no
    method names, it validates, batches and dispatches on the class's own attributes."""
    from captum.attr import Occlusion

    from scinterp.attribution import core

    blocks = []

    class OneGeneOcclusion(core.Method):
        """Toy: Captum's Occlusion with a window of one feature (= ablation per feature)."""

        name = "toy_occlusion"
        captum_class = Occlusion
        reference_sample = "mean"

        def kwargs(self, x, baseline):
            blocks.append((x.shape[0], baseline.shape[0]))
            return {"sliding_window_shapes": (1,), "baselines": baseline}

    monkeypatch.setattr(core, "METHOD_CLASSES", dict(core.METHOD_CLASSES))  # undone after
    core.register_method(OneGeneOcclusion)  # what @register_method does in a module
    m = _mlp()
    kw = {"baseline": "reference", "n_reference": 5, "batch_size": 8, "device": "cpu"}
    vals = attribute(m, data, "toy_occlusion", 1, **kw)
    # blocks of 8 cells; the 5-cell reference sample reduced to its mean (one row)
    assert blocks == [(8, 1), (8, 1), (4, 1)]
    np.testing.assert_allclose(vals, attribute(m, data, "ablation", 1, **kw), atol=1e-6)
    with pytest.raises(ValueError, match="feature_mask is for methods ablation, not 'toy_"):
        attribute(m, data, "toy_occlusion", 1, feature_mask=np.zeros(12, dtype=int))
    with pytest.raises(ValueError, match="custom_attribution_func is for methods"):
        attribute(m, data, "toy_occlusion", 1, custom_attribution_func=lambda *a: a[0])
    with pytest.raises(ValueError, match="registered already"):
        core.register_method(OneGeneOcclusion)


def test_ablation_takes_the_mean_of_a_reference_array(data):
    m = _mlp()
    sample = data[:5]
    a = attribute(m, data, "ablation", 0, baseline=sample, device="cpu")
    b = attribute(m, data, "ablation", 0, baseline=sample.mean(0, keepdims=True), device="cpu")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["integrated_gradients", "deeplift", "ablation"])
def test_per_cell_references_average_the_attributions_against_each(method, data):
    """cells x k x features: each cell against each of its own k references, averaged."""
    m = _mlp()
    refs = np.random.default_rng(1).gamma(2.0, 1.0, size=(20, 3, 12)).astype(np.float32)
    kw = {"n_steps": 16, "batch_size": 7, "device": "cpu"}
    res = attribute(m, data, method, 2, baseline=refs, return_delta=True, **kw)
    one_by_one = [
        attribute(m, data, method, 2, baseline=refs[:, j : j + 1], return_delta=True, **kw)
        for j in range(3)
    ]
    np.testing.assert_allclose(
        res.values, np.mean([r.values for r in one_by_one], axis=0), rtol=1e-5, atol=1e-6
    )
    if res.delta is not None:  # completeness on average over the references
        np.testing.assert_allclose(res.values.sum(1) - res.output_gap, res.delta, atol=1e-4)
        gap = np.mean([r.output_gap for r in one_by_one], axis=0)
        np.testing.assert_allclose(res.output_gap, gap, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="per-cell references.*not 'gradient_shap'"):
        attribute(m, data, "gradient_shap", 2, baseline=refs, device="cpu")
    with pytest.raises(ValueError, match="cells x k x features"):
        attribute(m, data, method, 2, baseline=refs[:5], device="cpu")


def test_custom_attribution_func_gets_the_multipliers(data):
    """Captum's custom_attribution_func: (x - baseline) * multipliers is the default
    attribution, for DeepLIFT and for integrated gradients (path-averaged gradients)."""

    def default(multipliers, inputs, baselines):
        return ((inputs[0] - baselines[0]) * multipliers[0],)

    m = _mlp()
    for method in ("deeplift", "integrated_gradients"):
        kw = {"baseline": "mean", "n_steps": 8, "device": "cpu"}
        res = attribute(
            m, data, method, 0, custom_attribution_func=default, return_delta=True, **kw
        )
        np.testing.assert_allclose(res.values, attribute(m, data, method, 0, **kw), atol=1e-6)
        assert res.delta is None  # custom attributions need not be complete
    with pytest.raises(ValueError, match="custom_attribution_func is for methods "):
        attribute(m, data, "saliency", 0, custom_attribution_func=default, device="cpu")


def test_inputs_with_a_feature_shape_of_their_own():
    """Cells x channels x length (one-hot sequences): baselines and masks share the shape."""
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv1d(4, 3, 5), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 16, 2))
    x = np.random.default_rng(0).random((6, 4, 20)).astype(np.float32)
    for method in METHODS:
        vals = attribute(conv, x, method, 1, baseline="mean", n_steps=4, n_samples=2, device="cpu")
        assert vals.shape == x.shape and np.isfinite(vals).all()
    ig = attribute(conv, x, "integrated_gradients", 1, n_steps=64, device="cpu", return_delta=True)
    assert np.abs(ig.delta).max() < 0.02 * np.abs(ig.output_gap).max() + 1e-4
    mask = np.repeat(np.arange(20), 4).reshape(20, 4).T  # one group per position
    vals = attribute(conv, x, "ablation", 1, feature_mask=mask, device="cpu")
    assert np.allclose(vals[:, 0], vals[:, 3])


def test_schema_method_enums_follow_the_registry():
    """The schema cannot import the registry: attribution.methods lists the built-in
    methods (in order), and the identity consensus and sweep enums only registered ones
    (a new method's register_method also goes into these enums)."""
    import yaml

    from scinterp.attribution.core import METHOD_CLASSES

    schema = Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml"
    props = yaml.safe_load(schema.read_text())["properties"]
    methods = props["attribution"]["properties"]["methods"]
    assert methods["items"]["enum"] == list(METHODS)
    assert set(methods["default"]) <= set(METHODS)
    identity = props["branches"]["properties"]["identity"]["properties"]
    consensus = identity["consensus"]["items"]["enum"]
    # the identity branch's own sources besides the attribution methods
    others = {"attention", "contrastive_ig", "logistic_weights", "pairwise_auc", "wilcoxon"}
    assert set(consensus) - others == set(METHODS)
    assert set(props["sweep"]["properties"]["methods"]["items"]["enum"]) <= set(METHOD_CLASSES)


def test_gradient_shap_draws_follow_the_seed_only(data):
    """Captum's GradientSHAP draws with numpy's global RNG: attribute seeds the draws
    with ``seed`` and leaves the caller's global state as it was."""
    m = _mlp()
    kw = {"baseline": "reference", "n_samples": 4, "batch_size": 7, "device": "cpu"}
    np.random.seed(1)  # noqa: NPY002
    a = attribute(m, data, "gradient_shap", 0, seed=5, **kw)
    after = np.random.random()  # noqa: NPY002
    np.random.seed(2)  # noqa: NPY002
    b = attribute(m, data, "gradient_shap", 0, seed=5, **kw)
    np.testing.assert_array_equal(a, b)
    np.random.seed(1)  # noqa: NPY002
    assert np.random.random() == after  # the global state untouched  # noqa: NPY002
    assert not np.array_equal(a, attribute(m, data, "gradient_shap", 0, seed=6, **kw))


def test_output_gap_of_a_shared_sample_is_against_its_mean_output(data):
    """DeepLiftShap's delta averages over the sample, so does the gap: also when the
    sample has as many rows as a block has cells (5 and 5 here)."""
    m = _mlp()
    res = attribute(
        m,
        data,
        "deeplift",
        0,
        baseline="reference",
        n_reference=5,
        batch_size=5,
        device="cpu",
        return_delta=True,
    )
    with torch.no_grad():
        out = m(torch.as_tensor(data))[:, 0].numpy()
    ref = data[np.sort(np.random.default_rng(0).choice(20, 5, replace=False))]
    with torch.no_grad():
        fb = m(torch.as_tensor(ref))[:, 0].mean().item()
    np.testing.assert_allclose(res.output_gap, out - fb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.values.sum(1) - res.output_gap, res.delta, atol=1e-4)


@pytest.mark.parametrize("model_kind", ["mlp_classifier", "program_vae"])
@pytest.mark.parametrize("baseline", ["zeros", "reference"])
@pytest.mark.parametrize("probabilities", [False, True])
def test_ig_past_the_first_linear_layer_equals_captums(model_kind, baseline, probabilities):
    """Models with split_input_linear have Captum integrate past their first layer; the
    attributions and convergence deltas are Captum's own IG on the whole model's."""
    from captum.attr import IntegratedGradients

    from scinterp.attribution.core import split_input_linear
    from scinterp.models import MLPClassifier, ProgramVAE

    rng = np.random.default_rng(1)
    X = rng.gamma(2.0, 1.0, size=(40, 30)).astype(np.float32)
    torch.manual_seed(0)
    if model_kind == "mlp_classifier":
        model = MLPClassifier(30, 4, hidden=(16, 8))
    else:
        mask = torch.zeros(30, 3, dtype=torch.bool)
        mask[:10, 0], mask[10:20, 1], mask[20:, 2] = True, True, True
        model = ProgramVAE(30, mask, n_denovo=1, hidden=16)
    model.eval()
    x = torch.as_tensor(X)
    first, rest = split_input_linear(model)
    torch.testing.assert_close(rest(first(x)), model(x))  # forward == rest(first(x))
    if probabilities and model_kind == "program_vae":
        pytest.skip("latent means are not class scores")
    res = attribute(
        model,
        X,
        "integrated_gradients",
        "predicted",
        baseline=baseline,
        n_steps=16,
        probabilities=probabilities,
        device="cpu",
        return_delta=True,
    )
    net = nn.Sequential(model, nn.Softmax(dim=1)) if probabilities else model
    if baseline == "zeros":
        base = torch.zeros(1, 30)
    else:  # the reference rows attribute() paired each cell with (seed 0)
        from scinterp.attribution import make_baseline

        sample = make_baseline("reference", X)
        base = torch.as_tensor(sample[np.random.default_rng(0).integers(len(sample), size=40)])
    ref, delta = IntegratedGradients(net).attribute(
        x,
        baselines=base,
        target=torch.as_tensor(res.targets),
        n_steps=16,
        return_convergence_delta=True,
    )
    scale = float(ref.abs().max())
    np.testing.assert_allclose(res.values, ref.numpy(), atol=1e-5 * scale, rtol=0)
    np.testing.assert_allclose(res.delta, delta.numpy(), atol=1e-5 * max(scale, 1.0), rtol=0)
    # the path above integrated past the first layer (not the whole model)
    from scinterp.attribution.core import METHOD_CLASSES

    runner = METHOD_CLASSES["integrated_gradients"](model, {"n_steps": 16, "max_rows": 64})
    assert runner.first is first and runner.pass_width(30) == 16
