"""Capsule-network cell-type classifier (scCapsNet-like) with gene-group primary capsules.

Each primary capsule reads one gene group (a prior gene set) through a masked linear map
and squashes the result into a vector; genes in no group may form one extra "remaining
genes" capsule. Dynamic routing (Sabour et al. 2017) sends the primary capsules' votes to
one capsule per class; the length of a class capsule is the class score. The coupling
coefficients found by routing say, cell by cell, which primary capsules (and so which gene
groups) a class relies on; :meth:`CapsuleClassifier.capsule_class_table` averages them per
cell type, as scCapsNet does to name the genes behind each cell type.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scinterp.models.registry import ModelSpec, register_model

__all__ = ["CapsuleClassifier", "margin_loss", "squash"]

_ROUTE_GAIN = 10.0


def squash(s: Tensor, dim: int = -1, eps: float = 1e-8) -> Tensor:
    """Capsule non-linearity: keep the direction, map the length to ``|s|^2 / (1 + |s|^2)``."""
    sq = (s * s).sum(dim=dim, keepdim=True)
    return s * (sq / (1.0 + sq)) / torch.sqrt(sq + eps)


def margin_loss(
    lengths: Tensor, y: Tensor, m_pos: float = 0.9, m_neg: float = 0.1, lam: float = 0.5
) -> Tensor:
    """Capsule margin loss (Sabour et al. 2017), mean over cells.

    The true class capsule should be longer than ``m_pos``, the others shorter than
    ``m_neg``; ``lam`` down-weights the absent classes.
    """
    t = F.one_hot(y, lengths.shape[1]).to(lengths.dtype)
    pos = t * F.relu(m_pos - lengths).pow(2)
    neg = lam * (1.0 - t) * F.relu(lengths - m_neg).pow(2)
    return (pos + neg).sum(dim=1).mean()


class CapsuleClassifier(nn.Module):
    """Gene-group primary capsules, dynamic routing to class capsules.

    Parameters
    ----------
    n_genes
        Input features (log-normalized expression).
    groups
        One sequence of gene (column) indices per gene group, e.g. per prior gene set,
        in gene-set order (the same format as the attention classifier's ``tokens``).
    n_classes
        Number of cell types.
    primary_dim
        Length of each primary capsule's vector.
    class_dim
        Length of each class capsule's vector.
    routing_iters
        Dynamic-routing iterations (3 in scCapsNet and Sabour et al.).
    include_remainder
        Add one primary capsule for the genes that are in no group.
    dropout
        Dropout on the input genes during training.

    Attributes
    ----------
    n_primary
        Number of primary capsules (groups, plus one if there is a remainder capsule).
    has_remainder
        Whether the last primary capsule reads the remaining genes.
    """

    def __init__(
        self,
        n_genes: int,
        groups: Sequence[Sequence[int] | Tensor],
        n_classes: int,
        primary_dim: int = 8,
        class_dim: int = 16,
        routing_iters: int = 3,
        include_remainder: bool = True,
        dropout: float = 0.1,
    ):
        super().__init__()
        if len(groups) == 0:
            raise ValueError("CapsuleClassifier needs at least one gene group")
        if n_classes < 2:
            raise ValueError(f"CapsuleClassifier needs at least 2 classes, got {n_classes}")
        if routing_iters < 1:
            raise ValueError(f"routing_iters must be >= 1, got {routing_iters}")
        mask = torch.zeros(n_genes, len(groups) + 1, dtype=torch.bool)
        for k, genes in enumerate(groups):
            idx = torch.as_tensor(genes, dtype=torch.long).reshape(-1)
            if idx.numel() == 0:
                raise ValueError(f"gene group {k} has no genes")
            if int(idx.max()) >= n_genes or int(idx.min()) < 0:
                raise ValueError(f"gene group {k} has gene indices outside [0, {n_genes})")
            mask[idx, k] = True
        remaining = ~mask[:, :-1].any(dim=1)
        self.has_remainder = bool(include_remainder and remaining.any())
        if self.has_remainder:
            mask[:, -1] = remaining
        else:
            mask = mask[:, :-1]
        self.n_genes = n_genes
        self.n_groups = len(groups)
        self.n_primary = mask.shape[1]
        self.n_classes = n_classes
        self.primary_dim = primary_dim
        self.class_dim = class_dim
        self.routing_iters = routing_iters
        self.register_buffer("group_mask", mask)  # genes x primary capsules

        # Primary capsule k: u_k = squash(BN(W_k x + b_k)), W_k non-zero only on group k's
        # genes. BatchNorm makes the output invariant to the scale of W_k, so a small initial
        # scale only raises the effective step size (faster learning at lr 1e-3).
        sizes = mask.sum(0).clamp(min=1).float()
        w = 0.1 * torch.randn(self.n_primary, primary_dim, n_genes) / sizes.sqrt()[:, None, None]
        self.primary_weight = nn.Parameter(w * mask.T[:, None, :])
        self.primary_bias = nn.Parameter(torch.zeros(self.n_primary, primary_dim))
        # Log-expression is positive with a large gene-wise mean; centering and scaling each
        # capsule coordinate over the cells lets the capsules respond to differences between
        # cells instead of the shared mean (learning is several times faster).
        self.primary_norm = nn.BatchNorm1d(self.n_primary * primary_dim)
        # Votes: u_hat[j|k] = W_kj u_k, one matrix per (primary capsule, class). Stored divided
        # by _ROUTE_GAIN and multiplied back in forward: the same function, but Adam's steps
        # are _ROUTE_GAIN times larger relative to the weights (an equalized learning rate).
        self.route_weight = nn.Parameter(
            torch.randn(self.n_primary, n_classes, class_dim, primary_dim)
            / (primary_dim**0.5 * _ROUTE_GAIN)
        )
        self.drop = nn.Dropout(dropout)

    def primary_capsules(self, x: Tensor) -> Tensor:
        """Primary capsule vectors, cells x primary capsules x ``primary_dim``."""
        w = self.primary_weight * self.group_mask.T[:, None, :].to(self.primary_weight.dtype)
        s = F.linear(self.drop(x), w.reshape(-1, self.n_genes)) + self.primary_bias.reshape(-1)
        s = self.primary_norm(s).view(x.shape[0], self.n_primary, self.primary_dim)
        return squash(s)

    def _route(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Class capsules (cells x classes x class_dim), couplings (cells x primary x
        classes) and votes (cells x primary x classes x class_dim)."""
        u = self.primary_capsules(x)
        u_hat = torch.einsum("kjep,bkp->bkje", self.route_weight * _ROUTE_GAIN, u)
        logits = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype, device=u_hat.device)
        # Routing logits are updated without gradient through the agreement (as in
        # scCapsNet's Keras implementation): only the last pass carries gradients to u_hat.
        u_hat_detached = u_hat.detach()
        for it in range(self.routing_iters):
            c = torch.softmax(logits, dim=2)  # each primary capsule splits its vote over classes
            if it == self.routing_iters - 1:
                v = squash(torch.einsum("bkj,bkje->bje", c, u_hat))
            else:
                v = squash(torch.einsum("bkj,bkje->bje", c, u_hat_detached))
                logits = logits + torch.einsum("bkje,bje->bkj", u_hat_detached, v)
        return v, c, u_hat

    def forward(self, x: Tensor) -> Tensor:
        """Class scores, cells x classes: the lengths of the class capsules (in [0, 1)).

        They play the role of logits: the largest is the predicted class, and they are
        what attribution explains.
        """
        v, _, _ = self._route(x)
        return v.norm(dim=-1)

    @torch.no_grad()
    def coupling(self, x: Tensor) -> Tensor:
        """Routing coupling coefficients, cells x primary capsules x classes.

        Each primary capsule's row sums to 1 over the classes.
        """
        return self._route(x)[1]

    @torch.no_grad()
    def contribution(self, x: Tensor) -> Tensor:
        """Length of each primary capsule's coupled vote to each class, cells x primary x
        classes: ``|c_kj u_hat_j|k|``. Unlike the coupling alone this is small for capsules
        whose genes carry no signal (short votes)."""
        _, c, u_hat = self._route(x)
        return c * u_hat.norm(dim=-1)

    @torch.no_grad()
    def capsule_class_table(
        self, x: Tensor, y: Tensor, kind: str = "coupling", batch_size: int = 512
    ) -> Tensor:
        """Mean coupling (or contribution) of each primary capsule to each class, averaged
        over the cells of that class.

        Parameters
        ----------
        x
            Cells x genes input.
        y
            Integer class per cell (e.g. the true cell types).
        kind
            ``"coupling"`` or ``"contribution"`` (see :meth:`contribution`).
        batch_size
            Cells per forward pass.

        Returns
        -------
        Tensor
            Primary capsules x classes; column j averages the cells with ``y == j``
            (NaN for a class without cells).
        """
        if kind not in ("coupling", "contribution"):
            raise ValueError(f"kind must be 'coupling' or 'contribution', got {kind!r}")
        fn = self.coupling if kind == "coupling" else self.contribution
        total = torch.zeros(self.n_primary, self.n_classes, dtype=torch.float64)
        count = torch.zeros(self.n_classes, dtype=torch.float64)
        dev = self.route_weight.device
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(dev, torch.float32)
            yb = y[start : start + batch_size].to(dev).long()
            val = fn(xb).double()  # b x k x j
            onehot = F.one_hot(yb, self.n_classes).double()  # b x j
            total += torch.einsum("bkj,bj->kj", val, onehot).cpu()
            count += onehot.sum(0).cpu()
        return (total / count.where(count > 0, torch.nan)).float()

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Margin loss on ``batch["x"]``, ``batch["y"]`` (accuracy logged, not optimized)."""
        lengths = self(batch["x"]).float()
        y = batch["y"]
        loss = margin_loss(lengths, y)
        with torch.no_grad():
            acc = (lengths.argmax(dim=1) == y).float().mean()
        return {"loss": loss, "accuracy": acc}


# ------------------------------------------------------------------ spec
def _build_capsule(data) -> dict:
    return {"n_genes": data.n_genes, "groups": data.set_indices(), "n_classes": len(data.classes)}


def _name_capsules(module: CapsuleClassifier, data) -> None:
    data.meta["capsule_names"] = data.set_names(module.has_remainder)


register_model(
    ModelSpec(
        name="capsule_classifier",
        cls=CapsuleClassifier,
        kind="classifier",
        needs=("gene_sets", "labels"),
        attributed=True,
        sweep_kwargs=("primary_dim", "class_dim", "routing_iters", "include_remainder", "dropout"),
        build=_build_capsule,
        finish=_name_capsules,
        provides=("cell_types", "programs"),
        # a training job's second thread did 0.3 of its 6.1 CPU-s (demo, 6 epochs,
        # OMP_WAIT_POLICY=PASSIVE): at most 1.05x faster with it, so one core each
        threads=1,
    )
)
