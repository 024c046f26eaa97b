"""The capsule classifier learns, and its coupling points each class at its own gene set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scinterp.data.cells import CellDataset, split_indices
from scinterp.models.capsule import CapsuleClassifier
from scinterp.train.loop import fit


def test_capsule_classifier_learns_and_routes_to_the_right_set(programs_data, tmp_path):
    d = programs_data
    ds = CellDataset(d["X_csr"], y=d["y"])
    tr, va = split_indices(len(ds), 0.25, seed=0, stratify=d["y"])
    groups = [torch.tensor(g) for g in d["gene_sets"].values()]
    torch.manual_seed(0)
    model = CapsuleClassifier(d["x"].shape[1], groups, d["n_classes"])
    assert model.n_primary == len(groups) + 1  # genes 32..39 are in no set: a remainder capsule
    fit(
        model,
        ds.subset(tr),
        ds.subset(va),
        outdir=tmp_path,
        max_epochs=15,
        batch_size=32,
        lr=3e-3,
        patience=15,
        seed=0,
        progress=False,
    )
    model.eval()
    x = torch.from_numpy(d["x"])
    with torch.no_grad():
        pred = model(x[va]).argmax(1).numpy()
    assert (pred == d["y"][va]).mean() > 0.9
    # Sets 0..2 tell the classes apart (class c switches set c on); set 3 and the remainder
    # carry no class signal. Every class routes through the informative capsules: each of
    # their contributions beats the best uninformative one. (A class may also rely on the
    # absence of other classes' sets, so set c need not be class c's top capsule.)
    table = model.capsule_class_table(x, torch.from_numpy(d["y"]), kind="contribution").numpy()
    assert table.shape == (model.n_primary, d["n_classes"])
    informative, flat = table[: d["n_classes"]], table[d["n_classes"] :]
    assert (informative.max(0) > 3 * flat.max(0)).all()
    assert (np.diag(informative) > flat.max(0)).all()
    coupling = model.coupling(x[:10])
    assert torch.allclose(coupling.sum(-1), torch.ones(10, model.n_primary), atol=1e-5)


def test_bad_groups():
    with pytest.raises(ValueError, match="at least one gene group"):
        CapsuleClassifier(10, [], 3)
    with pytest.raises(ValueError, match="outside"):
        CapsuleClassifier(10, [torch.tensor([3, 12])], 3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        CapsuleClassifier(10, [torch.tensor([1, 2])], 1)
