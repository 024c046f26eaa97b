"""Helpers shared by the conditions tests: eligible samples, p-value combination, BH."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from scinterp.interpret.stats import benjamini_hochberg

from ._design import sample_conditions

#: largest p-value the Cauchy combination reads (see :func:`cauchy_combine`)
P_CLIP_HIGH = 0.99


def cauchy_combine(pvalues: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Cauchy combination (ACAT; Liu & Xie 2020) of p-values per row (NaN skipped, the
    weights of the others renormalized): a valid p-value under any dependence between the
    combined tests for small p. A row of NaN gives NaN. P-values above ``P_CLIP_HIGH``
    count as ``P_CLIP_HIGH`` (a p of 1 would otherwise cancel any evidence of the others;
    the combined p-value of a row of large p-values stays large)."""
    p = np.atleast_2d(np.asarray(pvalues, dtype=float))
    w = np.ones(p.shape[1]) if weights is None else np.asarray(weights, dtype=float)
    ok = np.isfinite(p)
    wt = np.where(ok, w[None, :], 0.0)
    tot = wt.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        wt = wt / tot[:, None]
        # p-values above P_CLIP_HIGH are read as P_CLIP_HIGH: tan() of a p-value near 1 is an
        # unbounded negative number that would cancel every other test's evidence
        pc = np.clip(np.where(ok, p, 0.5), 1e-300, P_CLIP_HIGH)
        # tan(pi (0.5 - p)) loses precision for tiny p: 1 / (pi p) is its limit there
        t = np.where(pc < 1e-15, 1 / (pc * np.pi), np.tan((0.5 - pc) * np.pi))
        stat = (wt * t).sum(1)
        out = np.where(stat > 1e15, 1 / (stat * np.pi), stats.cauchy.sf(stat))
    out = np.where(tot > 0, np.clip(out, 0.0, 1.0), np.nan)
    return out


def adjust(table: pd.DataFrame, by=("method", "contrast")) -> pd.Series:
    """BH adjusted p-values within each ``by`` group of ``table`` (NaN stays NaN)."""
    if table.empty:
        return pd.Series([], dtype=float, index=table.index)
    return table.groupby(list(by), sort=False, observed=True)["p_value"].transform(
        lambda p: pd.Series(benjamini_hochberg(p.to_numpy(dtype=float)), index=p.index)
    )


def eligible(meta: pd.DataFrame, per_sample: pd.Series, cell_type: str, contrast, options):
    """Samples of ``cell_type`` in the contrast with ``>= min_cells`` cells: a frame
    (index ``sample|type``; sample, n_cells, in_test) and a skip reason or None."""
    test, ref = contrast
    m = meta[meta["cell_type"] == cell_type]
    cond = m["sample"].map(per_sample)
    m = m.assign(condition=cond)[cond.isin([test, ref]) & (m["n_cells"] >= options.min_cells)]
    m = m.assign(in_test=m["condition"] == test)
    n_t, n_r = int(m["in_test"].sum()), int((~m["in_test"]).sum())
    reason = None
    if n_t < options.min_samples or n_r < options.min_samples:
        reason = (
            f"cell type '{cell_type}', contrast {test} vs {ref}: {n_t} {test} and {n_r} {ref} "
            f"samples with >= {options.min_cells} cells (>= {options.min_samples} per "
            "condition needed)"
        )
    return m, reason


def design_of(obs, sample_key, condition_key):
    return sample_conditions(obs, sample_key, condition_key)
