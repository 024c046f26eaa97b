"""Metrics of scores against known positives, one place for every branch.

Every metric takes ``(labels, scores)`` in that order, as scikit-learn does: ``labels``
marks the true items (bool), ``scores`` rank them (higher is better), one entry per item.

One tie rule: tied items are retrieved together, never in the order they happen to be
listed. AUROC counts a tied positive-negative pair one half, average precision takes one
threshold per distinct score, precision@k shares the hits of a group tied across the k-th
place, early precision keeps the whole group tied with the k-th item (BEELINE).

Items scored ``-inf`` were left out of the ranking: they are tied last for AUROC and never
retrieved by the precision metrics (a positive among them adds no precision). NaN scores
are dropped. :func:`labels_and_scores` builds the two arrays from a ranking of named items
(genes, edges) and a truth set. Ratios to a random ranking (``auprc_ratio``, ``epr``) divide
by :func:`random_precision`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy.stats import mannwhitneyu
from sklearn.metrics import average_precision_score

__all__ = [
    "auroc",
    "average_precision",
    "early_precision",
    "labels_and_scores",
    "precision_at_k",
    "random_precision",
]


def _arrays(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=float)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} must be 1-d, same size")
    keep = ~np.isnan(scores)
    return labels[keep], scores[keep]


def _retrieved_best_first(labels, scores) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels and scores of the retrieved items (score > -inf), best first, and the number
    of positives overall."""
    labels, scores = _arrays(labels, scores)
    found = scores > -np.inf
    order = np.argsort(-scores[found], kind="stable")
    return labels[found][order], scores[found][order], int(labels.sum())


def labels_and_scores(
    scores: Mapping | Sequence, truth: Iterable, universe: Iterable | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of named items, for the metrics of this module.

    Parameters
    ----------
    scores
        item -> score (higher is better), or a ranked sequence (best first, scored by
        position).
    truth
        The positive items.
    universe
        All items that could have been ranked (defaults to the scored items). Items of the
        universe absent from ``scores``, and NaN scores, get ``-inf`` (not ranked).

    Returns
    -------
    (labels, scores)
        One entry per item of ``scores`` then of ``universe``, in that order.
    """
    if not isinstance(scores, Mapping):
        ranked = list(scores)
        scores = {item: float(len(ranked) - i) for i, item in enumerate(ranked)}
    items = list(dict.fromkeys([*scores, *(universe or [])]))
    vals = np.array([scores.get(i, -np.inf) for i in items], dtype=float)
    truth = set(truth)
    labels = np.array([i in truth for i in items], dtype=bool)
    return labels, np.where(np.isnan(vals), -np.inf, vals)


def auroc(labels, scores) -> float:
    """Area under the ROC curve: the Mann-Whitney U of positives against negatives over
    ``n_pos * n_neg`` (ties count one half).

    Returns
    -------
    float
        NaN without both positives and negatives.
    """
    labels, scores = _arrays(labels, scores)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # scipy's U is exact in half-integers, so the value does not depend on the item order.
    u = mannwhitneyu(scores[labels], scores[~labels], method="asymptotic").statistic
    return float(u / (n_pos * n_neg))


def average_precision(labels, scores) -> float:
    """Average precision (area under the step-wise precision-recall curve), with one
    threshold per distinct score as scikit-learn's ``average_precision_score``.

    Positives that are not retrieved (score ``-inf``) add no precision.

    Returns
    -------
    float
        NaN without positives.
    """
    y, s, n_pos = _retrieved_best_first(labels, scores)
    if n_pos == 0:
        return float("nan")
    if not y.any():
        return 0.0
    if y.all():  # every retrieved item is a hit; sklearn wants both classes
        return float(y.sum() / n_pos)
    return float(average_precision_score(y, s) * y.sum() / n_pos)


def precision_at_k(labels, scores, k: int = 10) -> float:
    """Fraction of hits among the ``k`` best items.

    A ranking that retrieves fewer than ``k`` items is still divided by ``k`` (missing
    slots are misses). A group tied across the k-th place contributes its share of hits
    to the places it fills.

    Raises
    ------
    ValueError
        If ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    y, s, _ = _retrieved_best_first(labels, scores)
    if y.size <= k:
        return float(y.sum() / k)
    cut = s[k - 1]
    above, tied = s > cut, s == cut
    hits = y[above].sum() + (k - above.sum()) * (y[tied].sum() / tied.sum())
    return float(hits / k)


def early_precision(labels, scores, k: int | None = None) -> float:
    """Precision among the ``k`` best retrieved items (BEELINE's early precision), with
    the items tied with the k-th included.

    ``k`` defaults to the number of positives; 0 when nothing is retrieved or there are
    no positives.
    """
    y, s, n_pos = _retrieved_best_first(labels, scores)
    k = n_pos if k is None else k
    if k == 0 or s.size == 0:
        return 0.0
    top = s >= s[min(k, s.size) - 1]
    return float(y[top].sum() / top.sum())


def random_precision(labels) -> float:
    """Precision of a random ranking, the share of positives (the denominator of the
    AUPRC ratio and the early precision ratio, EPR)."""
    labels = np.asarray(labels, dtype=bool)
    return float(labels.sum() / labels.size) if labels.size else float("nan")
