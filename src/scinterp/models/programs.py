"""Gene-program VAE (expiMap-like) and its unmasked linear-decoder variant (LDVAE-like).

The latent units are tied one-to-one to prior gene sets through a masked linear decoder
(unit k may only reconstruct the genes of set k), plus a few de novo units whose decoder
weights carry an L1 penalty. Counts follow a negative binomial with the cell's library
size. ``forward(x)`` returns the latent means, which is what post-hoc attribution explains.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scinterp.models.registry import ModelSpec, Setting, register_model

__all__ = [
    "ProgramVAE",
    "nb_log_likelihood",
    "nb_log_likelihood_total",
    "poisson_log_likelihood",
    "poisson_log_likelihood_total",
]

_LOG_RATE_MAX = 15.0  # exp(15) ~ 3e6 x library: far above any real count, avoids inf


def nb_log_likelihood(k: Tensor, log_mu: Tensor, log_theta: Tensor) -> Tensor:
    """Negative binomial log-probability of counts ``k`` (mean ``exp(log_mu)``, inverse
    dispersion ``exp(log_theta)``), elementwise, computed in log space."""
    theta = log_theta.exp()
    log_theta_mu = torch.logaddexp(log_theta, log_mu)
    return (
        torch.lgamma(k + theta)
        - torch.lgamma(theta)
        - torch.lgamma(k + 1.0)
        + theta * (log_theta - log_theta_mu)
        + k * (log_mu - log_theta_mu)
    )


def poisson_log_likelihood(k: Tensor, log_mu: Tensor) -> Tensor:
    """Poisson log-probability of counts ``k`` with mean ``exp(log_mu)``, elementwise."""
    return k * log_mu - log_mu.exp() - torch.lgamma(k + 1.0)


def nb_log_likelihood_total(k: Tensor, log_mu: Tensor, log_theta: Tensor) -> Tensor:
    """Sum over all entries of :func:`nb_log_likelihood`, for a cells x genes ``k`` and
    ``log_mu`` and a per-gene ``log_theta``; cheaper on sparse counts.

    With ``d = log_mu - log_theta`` the log-probability is
    ``k d - (k + theta) softplus(d) + lgamma(k + theta) - lgamma(theta) - lgamma(k + 1)``.
    The log-gamma terms, the costly part (and digamma in the backward pass), cancel to 0
    where ``k = 0``, so they are evaluated on the non-zero counts only: a scRNA-seq
    minibatch is mostly zeros.
    """
    theta = log_theta.exp()
    d = log_mu - log_theta
    dense = (k * d - (k + theta) * F.softplus(d)).sum()
    nonzero = k != 0
    rows, cols = torch.nonzero(nonzero, as_tuple=True)
    k_nz = k[rows, cols]
    theta_nz = theta.expand_as(k)[rows, cols]
    # Sum over non-zeros of lgamma(theta_g) = sum_g (non-zeros in column g) lgamma(theta_g).
    n_nz = nonzero.sum(dim=0).to(theta.dtype)
    with torch.no_grad():
        log_k_factorial = torch.lgamma(k_nz + 1.0).sum()
    return (
        dense
        + torch.lgamma(k_nz + theta_nz).sum()
        - (n_nz * torch.lgamma(theta)).sum()
        - log_k_factorial
    )


def poisson_log_likelihood_total(k: Tensor, log_mu: Tensor) -> Tensor:
    """Sum over all entries of :func:`poisson_log_likelihood`; ``lgamma(k + 1)`` (0 where
    ``k = 0``, no gradient) on the non-zero counts only."""
    with torch.no_grad():
        log_k_factorial = torch.lgamma(k[k > 0] + 1.0).sum()
    return (k * log_mu - log_mu.exp()).sum() - log_k_factorial


def _default_n_updates(module, state_dict, prefix, *args) -> None:
    # Models saved before the step counter existed load with it at 0.
    state_dict.setdefault(prefix + "n_updates", torch.zeros((), dtype=torch.long))


class ProgramVAE(nn.Module):
    """VAE with one latent unit per prior gene set and a (masked) linear decoder.

    Parameters
    ----------
    n_genes
        Genes (input and output features).
    mask
        Bool genes x n_prior: ``mask[g, k]`` is True when gene g is in prior set k.
        With ``masked=False`` only its number of columns is used.
    n_denovo
        Extra unconstrained latent units (after the prior units), L1-penalized.
    n_batches
        Number of batches; the batch enters the decoder as a one-hot covariate. The
        encoder sees expression only, so ``forward(x)`` depends on ``x`` alone (as in
        scvi-tools' default ``encode_covariates=False``).
    masked
        True: expiMap-like, prior unit k reconstructs only its genes (enforced in every
        forward pass). False: LDVAE-like, every unit may load on every gene.
    likelihood
        ``"nb"`` (negative binomial, gene-wise dispersion) or ``"poisson"``.
    l1_denovo
        L1 penalty on the de novo units' decoder weights.
    hidden
        Encoder width (two hidden layers).
    dropout
        Encoder dropout.
    kl_weight
        Weight of the KL term.
    kl_warmup, kl_start
        Training steps over which the KL weight rises linearly from ``kl_start x
        kl_weight`` to ``kl_weight`` (0: no warm-up); validation uses ``kl_weight``.
    free_bits
        KL floor per latent unit in training ("free bits", Kingma et al. 2016): the KL
        term of the training loss is ``sum_d max(kl_d, free_bits)`` with ``kl_d`` a unit's
        KL averaged over the minibatch, so a unit below the floor is not pushed further
        towards the prior. 0: off. Validation and the returned ``kl`` are the plain KL.
    """

    def __init__(
        self,
        n_genes: int,
        mask: Tensor,
        n_denovo: int = 4,
        n_batches: int = 1,
        masked: bool = True,
        likelihood: str = "nb",
        l1_denovo: float = 1e-3,
        hidden: int = 128,
        dropout: float = 0.1,
        kl_weight: float = 1.0,
        kl_warmup: int = 0,
        kl_start: float = 0.0,
        init_std: float = 0.1,
        denovo_init_std: float = 0.1,
        latent_dropout: float = 0.0,
        group_lasso: float = 0.0,
        nonneg_prior: bool = False,
        free_bits: float = 0.0,
    ):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.ndim != 2 or mask.shape[0] != n_genes:
            raise ValueError(f"mask must be genes x programs ({n_genes} x P), got {mask.shape}")
        if likelihood not in ("nb", "poisson"):
            raise ValueError(f"likelihood must be 'nb' or 'poisson', got {likelihood!r}")
        if masked and mask.shape[1] > 0 and not bool(mask.any(0).all()):
            empty = torch.nonzero(~mask.any(0)).flatten().tolist()
            raise ValueError(f"prior gene sets {empty} have no genes in the mask")
        self.n_genes = n_genes
        self.n_prior = mask.shape[1]
        self.n_denovo = n_denovo
        self.n_latent = self.n_prior + n_denovo
        if self.n_latent == 0:
            raise ValueError("ProgramVAE needs at least one latent unit")
        self.n_batches = n_batches
        self.masked = masked
        self.likelihood = likelihood
        self.l1_denovo = l1_denovo
        self.kl_weight = kl_weight
        self.kl_warmup = int(kl_warmup)
        self.kl_start = float(kl_start)
        self.free_bits = float(free_bits)
        self.latent_dropout = float(latent_dropout)
        self.group_lasso = float(group_lasso)
        self.nonneg_prior = bool(nonneg_prior) and masked
        # Training steps taken (a buffer: saved with checkpoints, so a resumed run goes on
        # with the same KL weight).
        self.register_buffer("n_updates", torch.zeros((), dtype=torch.long))
        self.register_load_state_dict_pre_hook(_default_n_updates)

        self.encoder = nn.Sequential(
            nn.Linear(n_genes, hidden),
            nn.LayerNorm(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.LayerNorm(hidden),
            nn.ReLU(),
        )
        self.mu = nn.Linear(hidden, self.n_latent)
        self.logvar = nn.Linear(hidden, self.n_latent)

        full = torch.ones(n_genes, self.n_latent, dtype=torch.bool)
        if masked:
            full[:, : self.n_prior] = mask
        self.register_buffer("decoder_mask", full)
        w = torch.empty(n_genes, self.n_latent)
        nn.init.normal_(w, std=init_std)
        nn.init.normal_(w[:, self.n_prior :], std=denovo_init_std)
        if self.nonneg_prior:
            # softplus(raw) is the weight: start at |N(0, init_std)|
            w[:, : self.n_prior] = torch.log(torch.expm1(w[:, : self.n_prior].abs() + 1e-3))
        # Zero outside the mask from the start: their gradient is always zero, so they stay 0.
        self.decoder_weight = nn.Parameter(w * full)
        # Log-rates are fractions of the library: start at a uniform share per gene.
        self.decoder_bias = nn.Parameter(
            torch.full((n_genes,), -float(torch.log(torch.tensor(n_genes))))
        )
        self.batch_effect = nn.Parameter(torch.zeros(n_batches, n_genes))
        self.log_theta = nn.Parameter(torch.zeros(n_genes))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Latent means and log-variances, cells x units."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)

    def forward(self, x: Tensor) -> Tensor:
        """Latent means, cells x units (prior units in gene-set order, then de novo)."""
        return self.encode(x)[0]

    def split_input_linear(self) -> tuple[nn.Linear, nn.Module]:
        """The encoder's first layer (linear in the genes) and the rest of ``forward``:
        ``forward(x) == rest(first(x))``; integrated gradients integrates past the first
        layer (:class:`scinterp.attribution.core.IntegratedGradients`)."""
        return self.encoder[0], nn.Sequential(*self.encoder[1:], self.mu)

    def _weight(self) -> Tensor:
        w = self.decoder_weight
        if self.nonneg_prior and self.n_prior > 0:
            w = torch.cat([F.softplus(w[:, : self.n_prior]), w[:, self.n_prior :]], dim=1)
        return w * self.decoder_mask.to(w.dtype)

    def decoder_weights(self) -> Tensor:
        """Effective decoder weights, genes x units (exactly zero outside the mask)."""
        return self._weight().detach()

    def decode(self, z: Tensor, batch: Tensor | None = None) -> Tensor:
        """Log-rates per gene (log fraction of the library), cells x genes."""
        w = self._weight()
        log_rate = F.linear(z, w, self.decoder_bias)  # z @ w.T + bias in one addmm
        if self.n_batches > 1 and batch is not None:
            log_rate = log_rate + F.embedding(batch, self.batch_effect)
        return log_rate.clamp(max=_LOG_RATE_MAX)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Negative ELBO: reconstruction NLL of raw counts + KL + L1 on de novo weights.

        Uses ``x`` (encoder input), ``counts``, optional ``library`` (else the counts' row
        sums; for a gene subset pass the cells' total counts) and optional ``batch``.
        """
        x = batch["x"]
        counts = batch["counts"].float()
        library = batch.get("library")
        if library is None:
            library = counts.sum(dim=1)
        mu, logvar = self.encode(x)
        mu, logvar = mu.float(), logvar.float()
        std = (0.5 * logvar).exp()
        z = mu + std * torch.randn_like(std) if self.training else mu
        if self.training and self.latent_dropout > 0:
            z = F.dropout(z, self.latent_dropout)
        log_mu = self.decode(z, batch.get("batch")).float()
        log_mu = log_mu + torch.log(library.float().clamp(min=1.0)).unsqueeze(1)
        # Summed over the batch and divided by its size: the mean over cells of each
        # cell's reconstruction NLL, without materializing the elementwise terms.
        if self.likelihood == "nb":
            ll = nb_log_likelihood_total(counts, log_mu, self.log_theta.float())
        else:
            ll = poisson_log_likelihood_total(counts, log_mu)
        recon = -ll / counts.shape[0]
        kl_units = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)  # cells x units
        kl = kl_units.sum(dim=1).mean()
        step = self.training and torch.is_grad_enabled()  # a training step (not validation)
        kl_term = kl
        if self.free_bits > 0 and step:
            kl_term = kl_units.mean(dim=0).clamp(min=self.free_bits).sum()
        l1 = self.decoder_weight[:, self.n_prior :].abs().sum() * self.l1_denovo
        if self.group_lasso > 0 and self.n_prior > 0:
            norms = self._weight()[:, : self.n_prior].pow(2).sum(0).add(1e-12).sqrt()
            l1 = l1 + self.group_lasso * norms.sum()
        beta = self.kl_weight
        if step:
            if self.kl_warmup > 0:
                ramp = min(1.0, float(self.n_updates) / self.kl_warmup)
                beta = beta * (self.kl_start + (1.0 - self.kl_start) * ramp)
            self.n_updates += 1
        return {"loss": recon + beta * kl_term + l1, "recon": recon, "kl": kl, "l1": l1}


# ------------------------------------------------------------------ specs
_N_LATENT_DENOVO = Setting(
    4,
    "De novo (unconstrained) latent units of the gene-program VAE (ldvae: as many units as "
    "the program VAE, the gene sets' plus these).",
    schema={"minimum": 0},
    legacy="n_latent_denovo",
)
_LDVAE_KL_WEIGHT = Setting(
    0.3,
    "Weight of ldvae's KL term. 0.3: the program VAE's until issue 32, chosen in issue 14 "
    "when at 1 its posterior collapsed to the prior with signed loadings (AUROC 0.42-0.54 "
    "on three gamma-Poisson data sets); ldvae's loadings are signed.",
    schema={"type": "number", "exclusiveMinimum": 0},
    legacy="kl_weight",
)
_PROGRAM_KL_WEIGHT = Setting(
    1.0,
    "Weight of the program VAE's KL term. At 1 the objective is the ELBO, the model's fit "
    "as scvi-tools' LinearSCVI measures it: validation -ELBO 2599.5 on gp_programs "
    "(LinearSCVI 2600.4 in 400 epochs; at 0.3 ours stopped at 2618.7). Issue 14 saw the "
    "posterior collapse at 1 (program AUROC 0.42-0.54) with signed loadings; with "
    "non-negative ones (nonneg_programs) it does not: activity AUROC 0.945-1.00 on gp_4k, "
    "gp_small, gp_weak, gp_programs(_sparse) and 0.771 on pbmc_planted (0.734 at 0.3), "
    "benchmarks/programs.py, issue 32.",
    schema={"type": "number", "exclusiveMinimum": 0},
    legacy="kl_weight",
)
PROGRAM_VAE_SETTINGS = {
    "n_latent_denovo": _N_LATENT_DENOVO,
    "l1_denovo": Setting(
        0.3,
        "L1 penalty on the decoder weights of de novo units. Strong enough that de novo "
        "units only take up what no prior gene set explains: with a weak penalty (0.001) "
        "they absorb the prior programs' signal and the tied units' activities stop "
        "tracking their gene sets (demo AUROC 0.87 vs 1.0 at 0.3).",
        schema={"type": "number", "minimum": 0},
        legacy="l1_denovo",
    ),
    "kl_weight": _PROGRAM_KL_WEIGHT,
    "nonneg_programs": Setting(
        True,
        "The program VAE's gene-set units load on their genes with non-negative decoder "
        "weights (softplus), so a unit's activity rises when its genes rise and its sign "
        "needs no guessing; de novo units stay signed.",
        legacy="nonneg_programs",
    ),
    "learning_rate": Setting(
        0.002,
        "Adam learning rate of the program VAE (replaces train.learning_rate for "
        "program_vae). At the ELBO's KL weight of 1 it converges in fewer epochs at 0.002 "
        "than at 0.001, before early stopping ends it: gp_programs -ELBO 2599.5 in 143 "
        "epochs (2604.0 in 162 at 0.001), LinearSCVI's 2600.4 reached in 0.18-0.19 of its "
        "CPU time (issue 32).",
        schema={"type": "number", "exclusiveMinimum": 0},
        training=True,
    ),
}


def _build_program_vae(
    data, *, n_latent_denovo: int, l1_denovo: float, kl_weight: float, nonneg_programs: bool
) -> dict:
    """One latent unit per gene set (decoder masked to its genes) plus de novo units."""
    mask = torch.zeros(data.n_genes, len(data.gene_sets), dtype=torch.bool)
    for k, idx in enumerate(data.gene_sets.values()):
        mask[torch.tensor(idx, dtype=torch.long), k] = True
    data.meta["n_prior"] = len(data.gene_sets)
    data.meta["programs"] = list(data.gene_sets) + [f"denovo_{i}" for i in range(n_latent_denovo)]
    data.meta["batches"] = data.batches
    return {
        "n_genes": data.n_genes,
        "mask": mask,
        "n_denovo": n_latent_denovo,
        "n_batches": max(1, len(data.batches)),
        "masked": True,
        "l1_denovo": l1_denovo,
        "kl_weight": kl_weight,
        "nonneg_prior": nonneg_programs,
    }


def _build_ldvae(data, *, n_latent_denovo: int, kl_weight: float) -> dict:
    """LDVAE: as many latent units as the program VAE, all unconstrained, no L1."""
    n_units = len(data.gene_sets) + n_latent_denovo
    if n_units == 0:
        n_units = 10
    data.meta["n_prior"] = 0
    data.meta["programs"] = [f"ldvae_{i}" for i in range(n_units)]
    data.meta["batches"] = data.batches
    return {
        "n_genes": data.n_genes,
        "mask": torch.zeros(data.n_genes, 0, dtype=torch.bool),
        "n_denovo": n_units,
        "n_batches": max(1, len(data.batches)),
        "masked": False,
        "l1_denovo": 0.0,
        "kl_weight": kl_weight,
    }


register_model(
    ModelSpec(
        name="program_vae",
        cls=ProgramVAE,
        kind="latent",
        needs=("gene_sets", "counts"),
        uses=("batch",),
        attributed=True,
        program_vae=True,
        defaults={"masked": True},
        settings=PROGRAM_VAE_SETTINGS,
        build=_build_program_vae,
        # 2 threads gave 75.6 CPU-s in 66.7 s wall on the demo (1.13x a core): one, and
        # the second core runs the other branches' jobs beside it
        threads=1,
    )
)
register_model(
    ModelSpec(
        name="ldvae",
        cls=ProgramVAE,
        kind="latent",
        needs=("counts",),
        uses=("gene_sets", "batch"),
        attributed=True,
        program_vae=True,
        defaults={"masked": False},
        settings={"n_latent_denovo": _N_LATENT_DENOVO, "kl_weight": _LDVAE_KL_WEIGHT},
        build=_build_ldvae,
        threads=1,  # program_vae's module and passes: as program_vae
    )
)
