"""Structural-equation VAE for gene regulatory networks (DeepSEM-like).

Expression is modelled as a linear structural equation in a per-gene latent space,
``h = h M + z``, with ``M`` the genes x genes adjacency. Only TF rows of ``M`` are
learnable (TF -> target), the diagonal is zero (no self-loops) and an L1 penalty keeps it
sparse. The encoder maps standardized expression to ``h`` (a small MLP shared by all
genes), ``z = h (I - M)`` is pushed towards a standard normal (KL), and the decoder
reconstructs expression from ``z (I - M)^-1``. Because only TF rows are non-zero, the
inverse needs only an n_tfs x n_tfs solve (Woodbury identity), so the model scales to
thousands of genes.

Next to the SEM, a predictor of each gene from the TFs (an MLP, TFs in, every gene out)
is trained on the same cells, with a linear skip (masked like the adjacency); its
``forward`` is what the GRN branch attributes with integrated gradients. A TF's own input is masked out of its own prediction (replaced by
its mean), so TF -> TF edges are learned from the other TFs only. The masking is exact and
cheap because the first layer is linear: masking input ``t`` subtracts ``W[:, t] x_t``
from the first pre-activation. The SEM's additive path ``dec(h M)`` cannot express
interactions such as "A and not B"; the MLP can. The two parts share no parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from scinterp.models.registry import ModelSpec, Setting, register_model

__all__ = ["GRNSEM"]


# sigmoid(u) = (1 + tanh(u / 2)) / 2: a sigmoid MLP is a tanh MLP up to a rescaling of
# its weights. torch's CPU sigmoid was faster than its tanh on a busy machine (2 vs 17 ms
# on 3M values); on a quiet one a whole training step differs by only ~5%.
#: below this many training cells per TF the predictor's sparsity prior applies in full
#: (the GRN benchmark: it helped at 2 to 6 cells per TF, cost accuracy at 13 to 80)
FULL_PRIOR_CELLS_PER_TF = 1 / 0.15

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "silu": nn.SiLU, "relu": nn.ReLU}


class _GeneMLP(nn.Module):
    """The same small MLP applied to every gene's scalar value: cells x genes -> x out."""

    def __init__(self, hidden: int, n_out: int, activation: str = "sigmoid"):
        super().__init__()
        act = _ACTIVATIONS[activation]()
        self.net = nn.Sequential(nn.Linear(1, hidden), act, nn.Linear(hidden, n_out))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.unsqueeze(-1))


class GRNSEM(nn.Module):
    """DeepSEM-like structural-equation VAE with a TF x gene adjacency.

    Parameters
    ----------
    n_genes
        Genes (input and output features).
    tf_index
        Column indices of the transcription factors among the genes (distinct).
    l1
        L1 penalty on the adjacency.
    hidden
        Width of the per-gene encoder and decoder MLPs. Their activations are cells x
        genes x ``hidden`` values, the bulk of the training cost: 16 trains the demo's
        1,500 genes 4x faster than 64, with an adjacency at least as accurate.
    activation
        Non-linearity of the per-gene MLPs: ``sigmoid`` (a tanh up to a rescaling of the
        weights, and not slower on CPU), ``tanh``, ``silu`` or ``relu``.
    kl_weight
        Weight of the KL term.
    predictor_hidden
        Width of the two hidden layers of the TF -> gene predictor.
    predictor_penalty
        Sparsity prior on the predictor's TF inputs: a group lasso over the TFs (the
        norm of each TF's first-layer weights) plus an L1 penalty on the linear skip,
        weighted ``predictor_penalty / n_train`` (:attr:`n_train`, the training cells, set
        before training: a prior of fixed strength, whose weight against the data falls
        as cells are added) and in full only where there are few cells per TF (at most
        :data:`FULL_PRIOR_CELLS_PER_TF`), fading with the square of the ratio above. With
        few cells per TF (a generic TF list of hundreds, hundreds of cells) the
        unpenalized predictor spreads each target over many co-varying TFs and its
        attributions fall below a plain correlation; with a short list of TFs that
        mostly regulate something, sparsity only costs accuracy.

    Notes
    -----
    The model standardizes its input itself with the buffers ``x_mean`` and ``x_std``
    (set them with :meth:`set_standardization` before training, from training cells), so
    ``forward`` and attributions take log-normalized expression like the other models.
    ``forward(x)`` returns each gene's expression predicted from the TFs by the predictor
    (standardized units, cells x genes): output g never depends on g itself, nor on any
    non-TF gene. :meth:`sem_predict` is the SEM's own prediction, ``dec(enc(x) M)``.
    """

    def __init__(
        self,
        n_genes: int,
        tf_index: Tensor,
        l1: float = 1e-3,
        hidden: int = 16,
        kl_weight: float = 1.0,
        predictor_hidden: int = 64,
        activation: str = "sigmoid",
        predictor_penalty: float = 0.0,
    ):
        super().__init__()
        tf_index = torch.as_tensor(tf_index, dtype=torch.long).reshape(-1)
        if tf_index.numel() == 0:
            raise ValueError("GRNSEM needs at least one TF")
        if int(tf_index.min()) < 0 or int(tf_index.max()) >= n_genes:
            raise ValueError(f"tf_index has entries outside [0, {n_genes})")
        if tf_index.unique().numel() != tf_index.numel():
            raise ValueError("tf_index has duplicate entries")
        self.n_genes = n_genes
        self.n_tfs = tf_index.numel()
        self.l1 = l1
        self.kl_weight = kl_weight
        if predictor_penalty < 0:
            raise ValueError(f"predictor_penalty must be >= 0, not {predictor_penalty}")
        self.predictor_penalty = float(predictor_penalty)
        #: training cells, which scale the predictor's penalty (a training-time setting,
        #: not saved with the weights)
        self.n_train = 1
        self.register_buffer("tf_index", tf_index)
        mask = torch.ones(self.n_tfs, n_genes, dtype=torch.bool)
        mask[torch.arange(self.n_tfs), tf_index] = False  # no self-loops
        self.register_buffer("adjacency_mask", mask)
        self.adj = nn.Parameter(torch.zeros(self.n_tfs, n_genes))
        self.register_buffer("x_mean", torch.zeros(n_genes))
        self.register_buffer("x_std", torch.ones(n_genes))
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, not {activation!r}"
            )
        self.encoder = _GeneMLP(hidden, 2, activation)
        self.decoder = _GeneMLP(hidden, 1, activation)
        # Learned per-gene observation noise: with a fixed unit variance (that of the
        # standardized data) transmitting information through z never pays off, and the
        # VAE collapses to the mean; starting below 1 escapes that faster.
        self.log_sigma = nn.Parameter(torch.full((n_genes,), -1.0))
        self.pred_in = nn.Linear(self.n_tfs, predictor_hidden)
        self.pred_hidden = nn.Linear(predictor_hidden, predictor_hidden)
        self.pred_out = nn.Linear(predictor_hidden, n_genes)
        # a linear skip next to the MLP: linear regulation is learned at once, the MLP
        # adds interactions (self-loops masked as in the adjacency)
        self.pred_linear = nn.Parameter(torch.zeros(self.n_tfs, n_genes))

    @torch.no_grad()
    def set_standardization(self, mean, std) -> None:
        """Per-gene mean and standard deviation used to standardize inputs."""
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32).clamp(min=1e-6)
        self.x_mean.copy_(mean)
        self.x_std.copy_(std)

    def adjacency(self) -> Tensor:
        """Learned TF -> gene weights, n_tfs x n_genes (zero on each TF's own column)."""
        return self.adj * self.adjacency_mask

    def adjacency_full(self) -> Tensor:
        """The genes x genes adjacency ``M`` (zero rows for non-TF genes, zero diagonal)."""
        full = self.adj.new_zeros(self.n_genes, self.n_genes)
        return full.index_copy(0, self.tf_index, self.adjacency())

    def _standardize(self, x: Tensor) -> Tensor:
        return (x - self.x_mean) / self.x_std

    def _encode(self, xs: Tensor) -> tuple[Tensor, Tensor]:
        out = self.encoder(xs)
        return out[..., 0], out[..., 1].clamp(-10.0, 10.0)

    def _times_m(self, h: Tensor, a: Tensor) -> Tensor:
        """``h @ M`` with M the full adjacency, using only its TF rows."""
        return h[:, self.tf_index] @ a

    def _times_inv(self, z: Tensor, a: Tensor) -> Tensor:
        """``z @ (I - M)^-1`` via Woodbury: ``z + z_tf (I - A[:, tf])^-1 A``."""
        c = a[:, self.tf_index]
        eye = torch.eye(self.n_tfs, dtype=a.dtype, device=a.device)
        # Solve on the right: X = z_tf (I - C)^-1  <=>  (I - C)^T X^T = z_tf^T
        zt = torch.linalg.solve((eye - c).T, z[:, self.tf_index].T).T
        return z + zt @ a

    def forward(self, x: Tensor) -> Tensor:
        """Each gene's expression predicted from the TFs (its own input masked), cells x genes."""
        return self._predict(self._standardize(x))

    def _predict(self, xs: Tensor) -> Tensor:
        xt = xs[:, self.tf_index]
        pre = self.pred_in(xt)
        out = self.pred_out(torch.tanh(self.pred_hidden(torch.tanh(pre))))
        # TF t's own output: its input set to its mean (0 in standardized units)
        pre_masked = pre.unsqueeze(1) - xt.unsqueeze(-1) * self.pred_in.weight.T.unsqueeze(0)
        hidden = torch.tanh(self.pred_hidden(torch.tanh(pre_masked)))  # cells x TFs x hidden
        own = (hidden * self.pred_out.weight[self.tf_index]).sum(-1) + self.pred_out.bias[
            self.tf_index
        ]
        linear = xt @ (self.pred_linear * self.adjacency_mask)
        return out.index_copy(1, self.tf_index, own) + linear

    def tf_jacobian(self, x: Tensor) -> Tensor:
        """Derivatives of :meth:`forward` with respect to the TF inputs, analytically.

        Returns
        -------
        Tensor
            TFs x cells x genes: ``d forward(x)[c, g] / d x[c, tf_index[t]]`` (exactly zero
            where ``g`` is TF ``t`` itself). Equal to autograd's, at a few matrix products'
            cost (integrated gradients of every target need it at every step).
        """
        return self.path_tf_jacobian(x, x, [1.0], [1.0])

    def path_tf_jacobian(self, start: Tensor, end: Tensor, alphas, weights) -> Tensor:
        """``sum_k weights[k] * tf_jacobian(start + alphas[k] * (end - start))``.

        What integrated gradients of every target need (TFs x cells x genes), at little
        more than one Jacobian's cost: everything after the non-linearities is linear, so
        the path sums are taken over the small per-cell factors (cells x hidden x hidden
        and cells x TFs x hidden) and multiplied by the first-layer (hidden x TFs) and
        output (genes x hidden) weights once, not at every step (sergio_ecoli's 332 TFs:
        2.3x faster than multiplying at each step, the same values to float rounding).
        """
        w1, w2, w3 = self.pred_in.weight, self.pred_hidden.weight, self.pred_out.weight
        xs0, xs1 = (self._standardize(v)[:, self.tf_index] for v in (start, end))
        # d out / d xt = W3 diag(d2) W2 diag(d1) W1 = W3 (W2 * (d2 d1^T)) W1
        outer = xs0.new_zeros(xs0.shape[0], w2.shape[0], w2.shape[1])  # sum_k w_k d2 d1^T
        own = xs0.new_zeros(xs0.shape[0], self.n_tfs, w1.shape[0])  # before W1
        w3_own = w3[self.tf_index].unsqueeze(0)
        for a, w in zip(alphas, weights, strict=True):
            xt = xs0 + float(a) * (xs1 - xs0)
            pre = self.pred_in(xt)
            h1 = torch.tanh(pre)
            d2 = 1.0 - torch.tanh(self.pred_hidden(h1)).pow(2)
            outer += float(w) * (d2.unsqueeze(-1) * (1.0 - h1.pow(2)).unsqueeze(1))
            # each TF's own output: its input masked out of the first layer
            pre_m = pre.unsqueeze(1) - xt.unsqueeze(-1) * w1.T.unsqueeze(0)  # cells x TFs x h
            h1m = torch.tanh(pre_m)
            d2m = 1.0 - torch.tanh(self.pred_hidden(h1m)).pow(2)
            own += float(w) * (((w3_own * d2m) @ w2) * (1.0 - h1m.pow(2)))
        jac = torch.einsum("gh,cht->tcg", w3, (outer * w2) @ w1)
        own = (own @ w1) * (1.0 - torch.eye(self.n_tfs, dtype=own.dtype, device=own.device))
        jac = jac.index_copy(2, self.tf_index, own.permute(2, 0, 1))
        total = float(sum(float(w) for w in weights))
        jac = jac + total * (self.pred_linear * self.adjacency_mask).unsqueeze(1)
        return jac / self.x_std[self.tf_index].view(-1, 1, 1)  # inputs are standardized

    def sem_predict(self, x: Tensor) -> Tensor:
        """Each gene predicted by the SEM from its regulators, ``dec(enc(x) M)``."""
        a = self.adjacency()
        h, _ = self._encode(self._standardize(x))
        return self.decoder(self._times_m(h, a)).squeeze(-1)

    def reconstruct(self, x: Tensor) -> Tensor:
        """Full reconstruction through the SEM (no sampling), standardized units."""
        a = self.adjacency()
        h, _ = self._encode(self._standardize(x))
        z = h - self._times_m(h, a)
        return self.decoder(self._times_inv(z, a)).squeeze(-1)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """SEM: Gaussian NLL (standardized units) + KL of the residuals + L1; plus the
        predictor's squared error (summed over genes, like the NLL)."""
        xs = self._standardize(batch["x"].float())
        a = self.adjacency().float()
        h, logvar = self._encode(xs)
        h, logvar = h.float(), logvar.float()
        z_mu = h - self._times_m(h, a)
        std = (0.5 * logvar).exp()
        z = z_mu + std * torch.randn_like(std) if self.training else z_mu
        x_hat = self.decoder(self._times_inv(z, a)).squeeze(-1).float()
        log_sigma = self.log_sigma.float().clamp(-5.0, 5.0)
        nll = 0.5 * (x_hat - xs).pow(2) * torch.exp(-2.0 * log_sigma) + log_sigma
        recon = nll.sum(dim=1).mean()
        kl = (0.5 * (z_mu.pow(2) + logvar.exp() - 1.0 - logvar)).sum(dim=1).mean()
        l1 = self.l1 * a.abs().sum()
        predict = 0.5 * (self._predict(xs).float() - xs).pow(2).sum(dim=1).mean()
        sparsity = self.predictor_sparsity()
        return {
            "loss": recon + self.kl_weight * kl + l1 + predict + sparsity,
            "recon": recon,
            "kl": kl,
            "l1": l1,
            "predict": predict,
            "sparsity": sparsity,
        }

    def predictor_sparsity(self) -> Tensor:
        """The predictor's penalty: :meth:`prior_weight` x (sum over TFs of the norm of
        its first-layer weights + L1 of the linear skip)."""
        weight = self.prior_weight()
        if not weight:
            return self.pred_linear.new_zeros(())
        group = self.pred_in.weight.norm(dim=0).sum()
        skip = (self.pred_linear * self.adjacency_mask).abs().sum()
        return weight * (group + skip)

    def prior_weight(self) -> float:
        """``predictor_penalty / n_train``, times ``min(1, c / cells per TF)^2`` with
        ``c`` = :data:`FULL_PRIOR_CELLS_PER_TF`."""
        n_train = max(self.n_train, 1)
        fade = min(1.0, FULL_PRIOR_CELLS_PER_TF * self.n_tfs / n_train) ** 2
        return self.predictor_penalty / n_train * fade


# ------------------------------------------------------------------ spec
GRN_SEM_SETTINGS = {
    "l1_adjacency": Setting(
        0.001,
        "L1 penalty on the GRN model's adjacency matrix.",
        schema={"type": "number", "minimum": 0},
        legacy="l1_adjacency",
    ),
    "predictor_penalty": Setting(
        600,
        "Sparsity prior on the GRN model's TF -> gene predictor (the network that "
        "integrated gradients explain): a group lasso over the TFs' first-layer weights "
        "plus an L1 penalty on its linear part, weighted by this value divided by the "
        "training cells, in full where there are at most about 7 training cells per TF "
        "and fading with the square of the cells per TF above (a long generic TF list "
        "over few cells needs it; a short list of real regulators does not). 0 switches "
        "it off. Chosen on the GRN benchmark (benchmarks/README.md, \"The predictor's "
        "sparsity prior\"): integrated gradients' AUPRC ratio sergio_mouse_small (2 cells "
        "per TF) 1.35 -> 8.5, sergio_ecoli (4) 16.3 -> 23.4, sergio_1k_batches (6) 17.8 "
        "-> 31.9; krumsiek11 (52) and sergio_panel (79) unchanged.",
        schema={"type": "number", "minimum": 0},
        legacy="grn_predictor_penalty",
    ),
    "learning_rate": Setting(
        0.003,
        "Adam learning rate of the GRN model (replaces train.learning_rate for grn_sem). "
        "Its per-gene SEM and TF predictor converge in fewer epochs at 0.003 than at the "
        "classifiers' 0.001, and early stopping then ends training sooner: on the demo "
        "(seeds 0-2) 35 instead of 60 epochs, 33 instead of 55 s, consensus AUPRC ratio "
        "34.2 instead of 30.6; on krumsiek11 (seeds 0-4) 2.25 and 2.27.",
        schema={"type": "number", "exclusiveMinimum": 0},
        training=True,
        legacy="grn_learning_rate",
    ),
    "max_cells": Setting(
        20000,
        "Cells grn_sem trains on (replaces train.max_cells for grn_sem): a sample "
        "stratified by cell type of at most this many; the GRN peers (rules grnboost2, "
        "regdiffusion, spearman) read the same cells, so an atlas's network costs what a "
        "20,000-cell data set's does (GRNBoost2 grows with the cells, and the Spearman "
        "ranks of 1M cells x 2,000 genes take 16 GB). Every data set of the GRN "
        "benchmarks (up to 3,815 cells) trains on all its cells. null: every cell.",
        schema={"type": ["integer", "null"], "minimum": 1},
        training=True,
        legacy="grn_max_cells",
    ),
}


def _build_grn_sem(data, *, l1_adjacency: float, predictor_penalty: float) -> dict:
    return {
        "n_genes": data.n_genes,
        "tf_index": torch.tensor(data.tfs, dtype=torch.long),
        "l1": l1_adjacency,
        "predictor_penalty": predictor_penalty,
    }


def _finish(module: GRNSEM, data) -> None:
    module.set_standardization(*data.train_moments())
    module.n_train = len(data.train_idx)


register_model(
    ModelSpec(
        name="grn_sem",
        cls=GRNSEM,
        kind="grn",
        needs=("tfs",),
        settings=GRN_SEM_SETTINGS,
        build=_build_grn_sem,
        finish=_finish,
        # A cell pass costs ~20x a classifier's (an epoch of 18,000 cells x 2,061 genes,
        # 150 TFs: 18.7 s on 2 busy cores), and the GRN benchmarks' longest training
        # (early stopping) used 112k passes (gp_programs_sparse; sergio_1k_batches 48k):
        # 500k bounds a 20,000-cell sample (train.grn_sem.max_cells) at 28 epochs.
        auto_passes=500_000,
        # its per-gene MLPs and TF masking are many small operations: with 2 threads a
        # training used 1.3 cores (sergio_1k_batches: 68 CPU-s in 54-65 s) and at the atlas
        # 1.0 (476 CPU-s in 471 s), so each job takes one core and the ensemble's members
        # train two at a time on 2 cores
        threads=1,
    )
)
