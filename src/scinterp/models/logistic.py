"""A multinomial logistic-regression classifier whose coefficients are its explanation.

One linear layer from log-expression (centred on the training cells' means) to class
logits, trained with cross-entropy plus a ridge penalty on the coefficients (and,
optionally, a lasso or a group lasso: one group per gene across the classes, the
"sparse input layer"). The model is intrinsically interpretable: the logit of class t
is ``sum_g W[t, g] x_g``, so ``W[t, g] - W[u, g]`` is how much one unit of the gene's
log-expression moves the odds of t against u, and :meth:`LogisticClassifier.marker_scores`
reads identity genes off the weights with no attribution method in between.

Why the ridge penalty is strong by default (``l2=1``, in units of the mean
cross-entropy): markers of a type are co-regulated, and an unpenalized classifier
separates the types with a few of them (any one of a redundant group will do), so its
coefficients rank the type's other markers low. The ridge penalty shares the weight
among correlated genes; the benchmark (benchmarks/identity_sources.py; benchmarks/README.md,
"Identity: a model-based source as good as Wilcoxon") chose it by its worst dataset. As
the penalty grows the coefficients tend to the class-size-weighted difference of mean
expression, a statistic: at ``l2=1`` they are close to it, at 0.01 they are not (and
rank better on one dataset, worse on the others). Logistic regression ranks among the
best marker methods (Pullin & McCarthy 2024, Genome Biology 25:56).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from scinterp.models.classifier import classification_loss
from scinterp.models.registry import ModelSpec, register_model

__all__ = ["CONTRASTS", "LogisticClassifier"]

#: how :meth:`LogisticClassifier.marker_scores` reduces the contrasts with the other classes
CONTRASTS = ("min", "mean")


class LogisticClassifier(nn.Module):
    """Multinomial logistic regression on log-expression with a ridge (and lasso) penalty.

    Parameters
    ----------
    n_genes, n_classes
        Input features and output classes.
    l2
        Ridge penalty on the coefficients: ``l2 * sum(W**2)`` is added to the mean
        cross-entropy of a batch.
    l1
        Lasso penalty ``l1 * sum(|W|)`` (0: none).
    group_l1
        Group lasso ``group_l1 * sum_g ||W[:, g]||_2``: a gene's coefficients for all
        classes shrink to zero together, a sparse input layer (0: none).
    """

    #: the identity source its :meth:`marker_scores` give (``identity/genes.tsv`` method)
    marker_source = "logistic_weights"

    def __init__(
        self,
        n_genes: int,
        n_classes: int,
        l2: float = 1.0,
        l1: float = 0.0,
        group_l1: float = 0.0,
    ):
        super().__init__()
        for name, value in (("l2", l2), ("l1", l1), ("group_l1", group_l1)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, not {value}")
        self.l2, self.l1, self.group_l1 = float(l2), float(l1), float(group_l1)
        self.linear = nn.Linear(n_genes, n_classes)
        # zero start: the penalized problem is convex, so the fit does not depend on an
        # initial draw (only on the minibatch order, which the training seed fixes)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        # the training cells' mean expression (finish), so the bias is the class log-odds
        # of an average cell and the weights need not absorb the genes' levels
        self.register_buffer("center", torch.zeros(n_genes))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, cells x classes."""
        return self.linear(x - self.center)

    def penalty(self) -> Tensor:
        """The coefficients' penalty (ridge, lasso, group lasso) added to the loss."""
        w = self.linear.weight
        out = self.l2 * (w**2).sum()
        if self.l1:
            out = out + self.l1 * w.abs().sum()
        if self.group_l1:
            out = out + self.group_l1 * torch.sqrt((w**2).sum(dim=0) + 1e-12).sum()
        return out

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Cross-entropy on ``batch["x"]``, ``batch["y"]`` plus :meth:`penalty`."""
        out = classification_loss(self(batch["x"]), batch["y"])
        out["penalty"] = self.penalty()
        out["loss"] = out["loss"] + out["penalty"]
        return out

    def marker_scores(self, contrast: str = "min") -> np.ndarray:
        """Classes x genes: each class's coefficient minus each other class's, reduced
        over the other classes.

        ``"min"`` (default): a gene scores high only when it raises the class's odds
        against *every* other class (a marker is highest in its own type); ``"mean"``:
        against the average other class. With one class, zeros.
        """
        if contrast not in CONTRASTS:
            raise ValueError(f"contrast must be one of {CONTRASTS}, not {contrast!r}")
        w = self.linear.weight.detach().cpu().double().numpy()
        n = w.shape[0]
        if n < 2:
            return np.zeros_like(w)
        out = np.empty_like(w)
        for t in range(n):
            diff = w[t][None, :] - np.delete(w, t, axis=0)
            out[t] = diff.min(axis=0) if contrast == "min" else diff.mean(axis=0)
        return out


def _build(data) -> dict:
    return {"n_genes": data.n_genes, "n_classes": len(data.classes)}


def _center(module: LogisticClassifier, data) -> None:
    mean, _ = data.train_moments()
    module.center.copy_(torch.as_tensor(np.asarray(mean), dtype=module.center.dtype))


register_model(
    ModelSpec(
        name="logistic_classifier",
        cls=LogisticClassifier,
        kind="classifier",
        needs=("labels",),
        uses=("gene_sets",),
        build=_build,
        finish=_center,
        threads=1,
        provides=("markers",),
    )
)
