"""Statistics of the programs branch: expiMap Bayes factors, Mann-Whitney, Cohen's d
(adjusted with :func:`scinterp.interpret.stats.benjamini_hochberg`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from scinterp.interpret.stats import benjamini_hochberg

ACTIVITY_COLUMNS = [
    "program",
    "cell_type",
    "score",
    "method",
    "effect_size",
    "auc",
    "mean_in",
    "mean_out",
    "z",
    "pvalue",
    "padj",
    "n_cells",
]
_BF_EPS = 1e-8  # expiMap's epsilon: Bayes factors lie in about [-18.4, 18.4]


def _as_labels(labels) -> tuple[np.ndarray, list[str]]:
    labels = pd.Series(np.asarray(labels, dtype=object)).astype(str)
    codes, classes = pd.factorize(labels, sort=True)
    return codes.astype(np.int64), [str(c) for c in classes]


def differential_scores(
    activity: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    programs: Sequence[str],
    method: str,
    std: np.ndarray | None = None,
    n_samples: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Per program and cell type: how much higher the activity is in that type than elsewhere.

    Parameters
    ----------
    activity
        Cells x programs activities (oriented: higher = program more on).
    labels
        Cell type of each cell.
    programs
        Program names (columns of ``activity``).
    method
        Written to the ``method`` column.
    std
        Optional cells x programs posterior standard deviations; when given, ``n_samples``
        draws per cell enter the Bayes factor (expiMap), otherwise the activities do.
    n_samples
        Posterior draws per cell.
    seed
        Seed of the draws.

    Returns
    -------
    pandas.DataFrame
        :data:`ACTIVITY_COLUMNS`: ``score`` (log Bayes factor), ``effect_size`` (Cohen's d),
        ``auc`` (P(in > out) on the activities), ``mean_in``, ``mean_out``, Mann-Whitney
        ``z``, ``pvalue`` (two-sided) and ``padj`` (BH over the whole table), ``n_cells``.
    """
    activity = np.asarray(activity, dtype=np.float64)
    if activity.ndim != 2 or activity.shape[1] != len(programs):
        raise ValueError(f"activity must be cells x {len(programs)} programs, got {activity.shape}")
    codes, classes = _as_labels(labels)
    if codes.shape[0] != activity.shape[0]:
        raise ValueError(f"{codes.shape[0]} labels for {activity.shape[0]} cells")
    n = activity.shape[0]
    counts = np.bincount(codes, minlength=len(classes))
    rng = np.random.default_rng(seed)
    rows = []
    for p, name in enumerate(programs):
        a = activity[:, p]
        # Ranks on the activities (for AUC, z) and on posterior draws (for the Bayes factor).
        ranks = stats.rankdata(a)
        tie_term = _tie_correction(a)
        if std is not None and n_samples > 0:
            noise = rng.standard_normal((n, n_samples))
            draws = a[:, None] + np.asarray(std[:, p])[:, None] * noise
            draw_ranks = stats.rankdata(draws.ravel()).reshape(n, n_samples)
        else:
            draw_ranks = None
        for t, cell_type in enumerate(classes):
            inside = codes == t
            n1, n2 = int(counts[t]), n - int(counts[t])
            if n1 == 0 or n2 == 0:
                continue
            auc, z = _mann_whitney(ranks[inside].sum(), n1, n2, tie_term)
            if draw_ranks is not None:
                s = n_samples
                m1, m2 = n1 * s, n2 * s
                u_draw = draw_ranks[inside].sum() - m1 * (m1 + 1) / 2.0
                prob = u_draw / (m1 * m2)
            else:
                prob = auc
            bf = np.log(prob + _BF_EPS) - np.log(1.0 - prob + _BF_EPS)
            a_in, a_out = a[inside], a[~inside]
            d = _cohens_d(a_in, a_out)
            rows.append(
                (
                    name,
                    cell_type,
                    float(bf),
                    method,
                    float(d),
                    float(auc),
                    float(a_in.mean()),
                    float(a_out.mean()),
                    float(z),
                    float(2.0 * stats.norm.sf(abs(z))),
                    np.nan,
                    n1,
                )
            )
    out = pd.DataFrame(rows, columns=ACTIVITY_COLUMNS)
    out["padj"] = benjamini_hochberg(out["pvalue"].to_numpy())
    return out


def _mann_whitney(rank_sum: float, n1: int, n2: int, tie_term: float) -> tuple[float, float]:
    """AUC (``U / (n1 n2)``) and the tie-corrected normal z of the Mann-Whitney U of a
    group of ``n1`` cells whose ranks (among ``n1 + n2``) sum to ``rank_sum``."""
    n = n1 + n2
    u = rank_sum - n1 * (n1 + 1) / 2.0
    auc = u / (n1 * n2)
    mu_u = n1 * n2 / 2.0
    sd_u = np.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
    z = (u - mu_u) / sd_u if sd_u > 0 else 0.0
    return auc, z


def _cohens_d(a_in: np.ndarray, a_out: np.ndarray) -> float:
    """Cohen's d of the activities inside vs outside (pooled standard deviation)."""
    n1, n2 = len(a_in), len(a_out)
    pooled = np.sqrt(
        (
            (n1 - 1) * a_in.var(ddof=1 if n1 > 1 else 0)
            + (n2 - 1) * a_out.var(ddof=1 if n2 > 1 else 0)
        )
        / max(1, n1 + n2 - 2)
    )
    return (a_in.mean() - a_out.mean()) / pooled if pooled > 0 else 0.0


def _tie_correction(a: np.ndarray) -> float:
    _, tie_counts = np.unique(a, return_counts=True)
    return float((tie_counts**3 - tie_counts).sum())
