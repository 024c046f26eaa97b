"""Gene-program VAE: the loss drops, the mask holds, tied units follow their programs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import nbinom

from scinterp.data.cells import CellDataset, split_indices
from scinterp.models import ProgramVAE
from scinterp.models.programs import nb_log_likelihood
from scinterp.train.loop import fit


def _mask(d):
    mask = torch.zeros(d["x"].shape[1], len(d["gene_sets"]), dtype=torch.bool)
    for k, genes in enumerate(d["gene_sets"].values()):
        mask[genes, k] = True
    return mask


def _train(d, tmp_path, **kw):
    ds = CellDataset(d["X_csr"], counts=d["counts_csr"], batch=np.arange(len(d["y"])) % 2)
    tr, va = split_indices(len(ds), 0.25, seed=0)
    torch.manual_seed(0)
    model = ProgramVAE(d["x"].shape[1], _mask(d), n_denovo=2, n_batches=2, hidden=32, **kw)
    hist = fit(
        model,
        ds.subset(tr),
        ds.subset(va),
        outdir=tmp_path,
        max_epochs=12,
        batch_size=32,
        lr=1e-2,
        patience=12,
        seed=0,
        progress=False,
    )
    return model, hist


def test_nb_log_likelihood_matches_scipy():
    k = torch.tensor([0.0, 1.0, 5.0, 30.0])
    mu, theta = torch.tensor([0.5, 2.0, 5.0, 20.0]), torch.tensor([0.3, 1.0, 4.0, 10.0])
    ours = nb_log_likelihood(k, mu.log(), theta.log()).numpy()
    p = theta / (theta + mu)
    ref = nbinom.logpmf(k.numpy(), theta.numpy(), p.numpy())
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)


def test_program_vae_learns_and_keeps_mask(programs_data, tmp_path):
    d = programs_data
    model, hist = _train(d, tmp_path)
    assert hist["val_loss"].iloc[-1] < 0.9 * hist["val_loss"].iloc[0]
    assert {"train_recon", "train_kl", "train_l1", "val_recon"} <= set(hist.columns)
    mask = _mask(d)
    w = model.decoder_weights()
    assert w.shape == (d["x"].shape[1], model.n_latent)
    prior = w[:, : model.n_prior]
    assert torch.all(prior[~mask] == 0), "masked decoder leaked outside its gene sets"
    assert torch.all(model.decoder_weight.detach()[:, : model.n_prior][~mask] == 0)
    assert torch.all(prior[mask] != 0)
    # the de novo units are free to load on any gene
    assert torch.count_nonzero(w[:, model.n_prior :]) > 0.9 * w[:, model.n_prior :].numel()

    # Tied units light up in the right cell types: unit c separates class c from the rest
    # more than any other prior unit does (class c switches on gene set c).
    with torch.no_grad():
        z = model(torch.from_numpy(d["x"])).numpy()
    assert z.shape == (len(d["y"]), model.n_latent)
    for c in range(d["n_classes"]):
        inside = d["y"] == c
        effect = np.abs(z[inside, : model.n_prior].mean(0) - z[~inside, : model.n_prior].mean(0))
        effect /= z[:, : model.n_prior].std(0)
        assert effect.argmax() == c, (c, effect.round(2))


def test_ldvae_decoder_is_unmasked(programs_data, tmp_path):
    d = programs_data
    model, hist = _train(d, tmp_path, masked=False)
    w = model.decoder_weights()
    assert torch.count_nonzero(w) > 0.99 * w.numel()
    assert hist["val_loss"].iloc[-1] < hist["val_loss"].iloc[0]


def test_bad_inputs():
    with pytest.raises(ValueError, match="mask"):
        ProgramVAE(5, torch.zeros(4, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="no genes"):
        ProgramVAE(5, torch.zeros(5, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="likelihood"):
        ProgramVAE(5, torch.ones(5, 2, dtype=torch.bool), likelihood="zinb")


def test_sparse_aware_totals_match_elementwise_sums():
    """The training loss's totals (log-gamma on non-zero counts only) equal the summed
    elementwise log-probabilities, in value and in gradient."""
    from scinterp.models.programs import (
        nb_log_likelihood_total,
        poisson_log_likelihood,
        poisson_log_likelihood_total,
    )

    g = torch.Generator().manual_seed(0)
    k = torch.poisson(torch.rand(50, 30, generator=g) * 2.0, generator=g)
    k[k < 1] = 0.0  # mostly zeros, like a minibatch of counts
    log_mu = (torch.randn(50, 30, generator=g) * 0.5).double().requires_grad_()
    log_theta = torch.randn(30, generator=g).double().requires_grad_()
    k = k.double()
    ref = nb_log_likelihood(k, log_mu, log_theta).sum()
    ours = nb_log_likelihood_total(k, log_mu, log_theta)
    assert torch.allclose(ours, ref, rtol=1e-10)
    g_ref = torch.autograd.grad(ref, (log_mu, log_theta))
    g_ours = torch.autograd.grad(ours, (log_mu, log_theta))
    for a, b in zip(g_ours, g_ref, strict=True):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)
    p_ref = poisson_log_likelihood(k, log_mu).sum()
    assert torch.allclose(poisson_log_likelihood_total(k, log_mu), p_ref, rtol=1e-10)


def test_free_bits_floor_each_units_kl_in_training_only():
    """Free bits: in training the KL term is sum_d max(kl_d, free_bits) (kl_d: unit d's
    KL averaged over the minibatch), so a unit below the floor feels no pull towards the
    prior; validation (eval) and the reported ``kl`` are the plain KL."""
    torch.manual_seed(0)
    mask = torch.zeros(40, 3, dtype=torch.bool)
    mask[:10, 0] = mask[10:25, 1] = mask[25:, 2] = True
    x = torch.rand(16, 40)
    batch = {"x": 3 * x, "counts": (8 * x).round()}
    # posterior N(mu_d, 1) for every cell: unit 0 at mu 2 (KL 2 nats), the others at 0.3
    # (KL 0.045 each, below the floor of 0.5)
    mu_bias = torch.tensor([2.0, 0.3, 0.3, 0.3])

    def kl_term(free_bits: float, train: bool):
        model = ProgramVAE(40, mask, n_denovo=1, kl_weight=1.0, free_bits=free_bits)
        with torch.no_grad():
            model.mu.weight.zero_()
            model.mu.bias.copy_(mu_bias)
            model.logvar.weight.zero_()
            model.logvar.bias.zero_()
        model.train(train)
        out = model.loss(batch)
        term = out["loss"] - out["recon"] - out["l1"]
        term.backward()
        return float(term), float(out["kl"]), model.mu.bias.grad.clone()

    plain_kl = 0.5 * float(mu_bias.pow(2).sum())
    term, kl, grad = kl_term(0.5, train=True)
    assert term == pytest.approx(2.0 + 3 * 0.5, rel=1e-5)
    assert kl == pytest.approx(plain_kl, rel=1e-5)
    # the KL's gradient reaches only the unit above the floor
    assert grad[0] == pytest.approx(2.0, rel=1e-4)
    assert torch.all(grad[1:] == 0)
    # without the floor the small units are pulled towards the prior
    _, _, grad0 = kl_term(0.0, train=True)
    assert torch.allclose(grad0[1:], torch.full((3,), 0.3), rtol=1e-4)
    # validation: the plain KL, as without free bits
    term, kl, _ = kl_term(0.5, train=False)
    assert term == pytest.approx(plain_kl, rel=1e-5)
    assert kl == pytest.approx(plain_kl, rel=1e-5)
