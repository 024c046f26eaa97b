"""Classifiers learn easy synthetic cell types; the token embedding honours its mask."""

from __future__ import annotations

import numpy as np
import torch

from scinterp.data.cells import CellDataset, split_indices
from scinterp.models import AttentionClassifier, MLPClassifier
from scinterp.train.loop import fit


def _split(d):
    ds = CellDataset(d["X_csr"], y=d["y"])
    tr, va = split_indices(len(ds), 0.25, seed=0, stratify=d["y"])
    return ds.subset(tr), ds.subset(va)


def _val_accuracy(model, d, val):
    model.eval()
    idx = val.indices
    with torch.no_grad():
        pred = model(torch.from_numpy(d["x"][idx])).argmax(1).numpy()
    return (pred == d["y"][idx]).mean()


def test_mlp_learns(programs_data, tmp_path):
    d = programs_data
    train, val = _split(d)
    torch.manual_seed(0)
    model = MLPClassifier(d["x"].shape[1], d["n_classes"], hidden=(32,))
    hist = fit(
        model,
        train,
        val,
        outdir=tmp_path,
        max_epochs=5,
        batch_size=32,
        lr=3e-3,
        patience=5,
        seed=0,
        progress=False,
    )
    assert _val_accuracy(model, d, val) > 0.9
    assert hist["val_accuracy"].iloc[-1] > 0.9


def test_attention_classifier_learns_and_attends(programs_data, tmp_path):
    d = programs_data
    train, val = _split(d)
    tokens = [torch.tensor(g) for g in d["gene_sets"].values()]
    torch.manual_seed(0)
    model = AttentionClassifier(d["x"].shape[1], tokens, d["n_classes"])
    assert model.has_remainder and model.n_tokens == len(tokens) + 1
    fit(
        model,
        train,
        val,
        outdir=tmp_path,
        max_epochs=6,
        batch_size=32,
        lr=3e-3,
        patience=6,
        seed=0,
        progress=False,
    )
    assert _val_accuracy(model, d, val) > 0.9
    att = model.attention(torch.from_numpy(d["x"][:10]))
    assert att.shape == (10, model.n_tokens)
    assert torch.all(att >= 0) and torch.all(att.sum(1) <= 1 + 1e-5)
    logits = model(torch.from_numpy(d["x"][:10]))
    assert logits.shape == (10, d["n_classes"])


def test_token_embedding_ignores_genes_outside_its_set():
    torch.manual_seed(0)
    model = AttentionClassifier(10, [torch.tensor([0, 1, 2]), torch.tensor([3, 4])], 2)
    x = torch.rand(4, 10)
    x2 = x.clone()
    x2[:, 5:] += 10.0  # genes of the remainder token only
    e, e2 = model._embed(x), model._embed(x2)
    torch.testing.assert_close(e[:, :3], e2[:, :3])  # class token and both gene-set tokens
    assert not torch.allclose(e[:, 3], e2[:, 3])
    # even weights written outside the mask by hand never act
    with torch.no_grad():
        model.token_weight[0, :, 7] = 100.0
    torch.testing.assert_close(model._embed(x)[:, 1], e[:, 1])


def test_attention_gradients_flow_to_inputs(programs_data):
    """Captum needs d(logit)/d(x) through the masked projection."""
    d = programs_data
    tokens = [torch.tensor(g) for g in d["gene_sets"].values()]
    model = AttentionClassifier(d["x"].shape[1], tokens, d["n_classes"]).eval()
    x = torch.from_numpy(d["x"][:4]).requires_grad_(True)
    model(x)[:, 0].sum().backward()
    assert np.isfinite(x.grad.numpy()).all() and x.grad.abs().sum() > 0
