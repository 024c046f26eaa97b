"""GRN SEM: structural constraints hold and true TF -> target edges rank first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from scinterp.data.cells import CellDataset, split_indices
from scinterp.models import GRNSEM
from scinterp.models.grn import FULL_PRIOR_CELLS_PER_TF
from scinterp.train.loop import fit


def test_woodbury_inverse_matches_dense():
    torch.manual_seed(0)
    model = GRNSEM(10, torch.tensor([0, 3, 5]))
    with torch.no_grad():
        model.adj.normal_(0, 0.3)
    full = model.adjacency_full()
    z = torch.randn(4, 10)
    dense = z @ torch.linalg.inv(torch.eye(10) - full)
    torch.testing.assert_close(model._times_inv(z, model.adjacency()), dense, atol=1e-5, rtol=1e-5)


def test_grn_recovers_linear_sem(sem_data, tmp_path):
    x, tf_index, truth = sem_data
    ds = CellDataset(x)
    tr, va = split_indices(len(ds), 0.2, seed=0)
    torch.manual_seed(0)
    model = GRNSEM(x.shape[1], torch.as_tensor(tf_index), l1=1e-3)
    model.set_standardization(x[tr].mean(0), x[tr].std(0))
    with torch.no_grad():  # even a diagonal written by hand never acts
        model.adj[torch.arange(len(tf_index)), torch.as_tensor(tf_index)] = 5.0
    fit(
        model,
        ds.subset(tr),
        ds.subset(va),
        outdir=tmp_path,
        max_epochs=20,
        batch_size=64,
        lr=1e-2,
        patience=20,
        seed=0,
        progress=False,
    )

    adj = model.adjacency().detach()
    assert adj.shape == (len(tf_index), x.shape[1])
    full = model.adjacency_full().detach()
    assert torch.all(torch.diagonal(full) == 0)
    non_tf = np.setdiff1d(np.arange(x.shape[1]), tf_index)
    assert torch.all(full[non_tf] == 0)

    allowed = model.adjacency_mask.numpy()
    auroc = roc_auc_score(truth[allowed], adj.abs().numpy()[allowed])
    assert auroc > 0.8, auroc

    # forward (the TF -> gene predictor): never from the gene itself (exact up to float
    # rounding: the own input's term is subtracted from the first layer), never from non-TFs
    xin = torch.from_numpy(x[:5]).requires_grad_(True)
    out = model(xin)
    assert out.shape == (5, x.shape[1])
    g = int(tf_index[0])
    (grad,) = torch.autograd.grad(out[:, g].sum(), xin)
    assert grad[:, g].abs().max() < 1e-6
    assert grad[:, tf_index[1:]].abs().max() > 1e-3  # the other TFs do act
    assert torch.all(grad[:, non_tf] == 0)
    # the SEM's own prediction: exactly zero on itself and on non-TFs
    sem = model.sem_predict(xin)
    (grad,) = torch.autograd.grad(sem[:, g].sum(), xin)
    assert torch.all(grad[:, g] == 0)
    assert torch.all(grad[:, non_tf] == 0)


def test_predictor_masks_each_tf_exactly():
    torch.manual_seed(0)
    model = GRNSEM(6, torch.tensor([1, 2, 4]), predictor_hidden=8)
    x = torch.randn(7, 6) + 2.0
    out = model(x)
    for k, t in enumerate([1, 2, 4]):
        # the masked output equals the plain MLP run with TF t set to its mean
        masked = model._standardize(x)[:, [1, 2, 4]]
        masked[:, k] = 0.0
        plain = model.pred_out(torch.tanh(model.pred_hidden(torch.tanh(model.pred_in(masked)))))
        torch.testing.assert_close(out[:, t], plain[:, t], atol=1e-5, rtol=1e-5)
        other = [1, 2, 4][(k + 1) % 3]
        moved = x.clone()
        moved[:, other] += 1.0
        assert (model(moved)[:, t] - out[:, t]).abs().max() > 1e-4


def test_gene_mlp_activations():
    """Every activation of the per-gene MLPs trains; an unknown one is refused by name."""
    import pytest

    for act in ("sigmoid", "tanh", "silu", "relu"):
        m = GRNSEM(30, torch.arange(5), activation=act)
        assert torch.isfinite(m.loss({"x": torch.randn(8, 30)})["loss"])
    with pytest.raises(ValueError, match="activation must be one of"):
        GRNSEM(30, torch.arange(5), activation="gelu")


def _train_predictor(x, tf_index, penalty, tmp_path):
    ds = CellDataset(x)
    tr, va = split_indices(len(ds), 0.2, seed=0)
    torch.manual_seed(0)
    model = GRNSEM(x.shape[1], torch.as_tensor(tf_index), predictor_penalty=penalty)
    model.set_standardization(x[tr].mean(0), x[tr].std(0))
    model.n_train = len(tr)
    fit(
        model,
        ds.subset(tr),
        ds.subset(va),
        outdir=tmp_path / f"p{penalty}",
        max_epochs=40,
        batch_size=32,
        lr=3e-3,
        patience=40,
        seed=0,
        progress=False,
    )
    return model


def test_predictor_penalty_silences_tfs_that_regulate_nothing(tmp_path):
    """Few cells for many TFs, most of which regulate nothing: unpenalized, the predictor
    gives those TFs first-layer weights nearly as large as the regulators'; the sparsity
    prior (weighted by 1 / training cells) shrinks them, and the true edges still rank
    first. Its weight falls as cells are added."""
    rng = np.random.default_rng(1)
    n_cells, n_real, n_idle, n_targets = 100, 6, 34, 24
    n_tfs = n_real + n_idle
    tfs = rng.normal(size=(n_cells, n_tfs))
    targets = np.zeros((n_cells, n_targets))
    truth = np.zeros((n_tfs, n_tfs + n_targets), dtype=bool)
    for j in range(n_targets):
        parents = rng.choice(n_real, size=2, replace=False)
        targets[:, j] = np.tanh(tfs[:, parents]).sum(1) + 0.5 * rng.normal(size=n_cells)
        truth[parents, n_tfs + j] = True
    x = (np.hstack([tfs, targets]) + 5.0).astype(np.float32)
    tf_index = np.arange(n_tfs)

    def idle_share(model):
        norms = model.pred_in.weight.detach().norm(dim=0).numpy()
        return norms[n_real:].mean() / norms[:n_real].mean()

    plain = _train_predictor(x, tf_index, 0.0, tmp_path)
    assert float(plain.predictor_sparsity().detach()) == 0.0
    sparse = _train_predictor(x, tf_index, 30.0, tmp_path)
    assert idle_share(sparse) < 0.7 * idle_share(plain), (idle_share(plain), idle_share(sparse))
    with torch.no_grad():
        jac = sparse.tf_jacobian(torch.from_numpy(x)).abs().mean(1).numpy()
    allowed = sparse.adjacency_mask.numpy()
    assert roc_auc_score(truth[allowed], jac[allowed]) > 0.9

    # in full at few cells per TF (here 2): its weight halves as the cells double...
    before = float(sparse.predictor_sparsity().detach())
    sparse.n_train *= 2
    assert float(sparse.predictor_sparsity().detach()) == pytest.approx(before / 2)
    # ...and fades with the square of the cells per TF above FULL_PRIOR_CELLS_PER_TF
    sparse.n_train = int(n_tfs * 10 * FULL_PRIOR_CELLS_PER_TF)
    assert sparse.prior_weight() == pytest.approx(30.0 / sparse.n_train / 100, rel=0.01)
