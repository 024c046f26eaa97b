"""Metrics of a ranked list against a truth set: precision@k, AUROC, average precision.

Every branch ranks items (genes, edges, motifs) best first; these functions score such
a ranking against known positives. Items of the universe that the ranking leaves out
count as tied at the bottom.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

__all__ = ["auroc", "average_precision", "precision_at_k", "scores_over_universe"]


def precision_at_k(ranked: Sequence, truth: Iterable, k: int = 10) -> float:
    """Fraction of the first ``k`` items of ``ranked`` (best first) that are in ``truth``.

    A ranking shorter than ``k`` is still divided by ``k`` (missing slots are misses).

    Raises
    ------
    ValueError
        If ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    truth = set(truth)
    top = list(ranked)[:k]
    return sum(item in truth for item in top) / k


def scores_over_universe(
    scores: Mapping | Sequence, universe: Iterable | None = None
) -> tuple[list, np.ndarray]:
    """Items and scores over a universe: ``scores`` is item -> score (higher is better)
    or a ranked sequence (best first, scored by position). Items of ``universe`` absent
    from ``scores`` get -inf (tied last)."""
    if not isinstance(scores, Mapping):
        ranked = list(scores)
        scores = {item: float(len(ranked) - i) for i, item in enumerate(ranked)}
    items = list(dict.fromkeys([*scores, *(universe or [])]))
    vals = np.array([scores.get(i, -np.inf) for i in items], dtype=float)
    vals = np.where(np.isnan(vals), -np.inf, vals)
    return items, vals


def auroc(scores: Mapping | Sequence, truth: Iterable, universe: Iterable | None = None) -> float:
    """Area under the ROC curve of ``scores`` separating ``truth`` from the other items.

    Computed as the Mann-Whitney U statistic with midranks for ties, so tied items
    (including the unranked ones, tied last) count one half.

    Parameters
    ----------
    scores
        item -> score (higher is better), or a ranked sequence (best first).
    truth
        The positive items.
    universe
        All items that could have been ranked (defaults to the scored items).

    Returns
    -------
    float
        NaN when there are no positives or no negatives in the universe.
    """
    items, vals = scores_over_universe(scores, universe)
    truth = set(truth)
    pos = np.array([i in truth for i in items])
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # -inf ties are fine for rankdata once replaced by a finite floor.
    finite = np.where(np.isinf(vals), np.nanmin(vals[np.isfinite(vals)], initial=0.0) - 1, vals)
    ranks = rankdata(finite)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(
    scores: Mapping | Sequence, truth: Iterable, universe: Iterable | None = None
) -> float:
    """Average precision (area under the precision-recall curve, step-wise) of ``scores``.

    Positives absent from ``scores`` contribute zero precision (they are never retrieved
    within the ranked part). NaN when ``truth`` is empty.
    """
    items, vals = scores_over_universe(scores, universe)
    truth = set(truth)
    n_pos = sum(i in truth for i in items)
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-vals, kind="stable")
    hits = 0
    total = 0.0
    for rank, j in enumerate(order, start=1):
        if np.isinf(vals[j]):
            break
        if items[j] in truth:
            hits += 1
            total += hits / rank
    return total / n_pos
