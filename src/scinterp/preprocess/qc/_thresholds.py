"""Outlier flags: adaptive thresholds per batch (median +/- scaled MADs, scater's
convention) and fixed thresholds."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.preprocess.qc._params import ALL_BATCHES, REASONS

log = logging.getLogger(__package__)


_MAD_SCALE = 1.4826


def _mad_bounds(x: np.ndarray, n_mads: float) -> tuple[float, float]:
    """Median -/+ n_mads scaled MADs of the finite values; infinite bounds when the MAD
    is 0 or no value is finite (never NaN: a NaN bound would flag nobody)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return -np.inf, np.inf
    med = float(np.median(x))
    mad = _MAD_SCALE * float(np.median(np.abs(x - med)))
    if mad == 0:
        # A constant metric (e.g. no mitochondrial genes) flags nobody.
        return -np.inf, np.inf
    return med - n_mads * mad, med + n_mads * mad


# The absolute min_genes floor is at most this fraction of a batch's median detected genes:
# 200 genes is a floor for 10x whole-transcriptome data (median ~1,000-3,000 genes), where it
# is 0.07-0.2 of the median; on a 100-gene panel or an 11-gene simulation it would remove
# every cell (issue 14: sergio_panel, krumsiek11).
MIN_GENES_MEDIAN_FRACTION = 0.2


def scaled_min_genes(min_genes: float, n_genes: np.ndarray, batch=ALL_BATCHES) -> float:
    """The absolute genes floor for one batch: ``min_genes``, capped at
    `MIN_GENES_MEDIAN_FRACTION` of the batch's median detected genes (logged when capped)."""
    if len(n_genes) == 0:
        return float(min_genes)
    cap = MIN_GENES_MEDIAN_FRACTION * float(np.median(n_genes))
    if min_genes > cap:
        log.info(
            "batch '%s': qc.min_genes %s is above %.0f%% of the median detected genes (%.0f); "
            "the floor is %.0f genes for this batch (a panel or small gene space).",
            batch,
            min_genes,
            100 * MIN_GENES_MEDIAN_FRACTION,
            float(np.median(n_genes)),
            cap,
        )
        return cap
    return float(min_genes)


# A batch of fewer cells than this takes the thresholds computed on all cells: a median
# and MAD of a handful of cells are noise (a 3-cell batch has one cell outside any band
# as narrow as its own spread), and a batch of one has no spread at all.
MIN_BATCH_CELLS = 50


def _batch_groups(metrics: pd.DataFrame, min_batch_cells: int):
    """(batch, its cells, the cells its thresholds are computed on, source) per batch:
    the batch itself, or all cells when it has fewer than ``min_batch_cells``."""
    for batch, m in metrics.groupby("batch", sort=True, observed=True):
        if len(m) < min_batch_cells and len(m) < len(metrics):
            log.info(
                "batch '%s': %d cells, fewer than the %d its own QC thresholds need; it "
                "takes the thresholds of all %d cells.",
                batch,
                len(m),
                min_batch_cells,
                len(metrics),
            )
            yield batch, m, metrics, ALL_BATCHES
        else:
            yield batch, m, m, batch


def adaptive_thresholds(
    metrics: pd.DataFrame,
    n_mads: float = 3,
    *,
    max_pct_mito: float = 20,
    min_genes: int = 0,
    min_batch_cells: int = MIN_BATCH_CELLS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flag outlier cells per batch (median +/- ``n_mads`` scaled MADs).

    A cell without counts is always flagged (``low_counts``); no kept cell has a
    mitochondrial share above ``max_pct_mito``. A batch of fewer than
    ``min_batch_cells`` (`MIN_BATCH_CELLS`) cells takes the thresholds of all cells
    (column ``thresholds_from`` of the returned table).

    Parameters
    ----------
    metrics
        Output of `qc_metrics` (uses ``total_counts, n_genes, pct_mito, batch``).
    n_mads
        Width of the accepted band in scaled MADs.
    max_pct_mito
        Absolute cap on the mitochondrial percentage, applied on top.
    min_genes
        Absolute floor on detected genes, applied on top.

    Returns
    -------
    flags
        Boolean DataFrame (index of ``metrics``), one column per reason in
        ``low_counts, high_counts, low_genes, high_genes, high_mito``.
    thresholds
        One row per batch: the bounds in counts/genes/percent units.
    """
    flags = pd.DataFrame(False, index=metrics.index, columns=list(REASONS[:5]))
    rows = []
    for batch, m, ref, source in _batch_groups(metrics, min_batch_cells):
        lc = np.log1p(m["total_counts"].to_numpy(dtype=float))
        lg = np.log1p(m["n_genes"].to_numpy(dtype=float))
        pm = _pct(m["pct_mito"])
        # the bands are computed on cells with counts: an empty droplet has no share
        with_counts = ref["total_counts"].to_numpy(dtype=float) > 0
        ref = ref[with_counts] if with_counts.any() else ref
        c_lo, c_hi = _mad_bounds(np.log1p(ref["total_counts"].to_numpy(dtype=float)), n_mads)
        g_lo, g_hi = _mad_bounds(np.log1p(ref["n_genes"].to_numpy(dtype=float)), n_mads)
        _, m_hi = _mad_bounds(_pct(ref["pct_mito"]), n_mads)
        m_hi = min(float(m_hi), float(max_pct_mito))
        floor = scaled_min_genes(min_genes, ref["n_genes"].to_numpy(), batch)
        g_lo_abs = max(np.expm1(g_lo) if np.isfinite(g_lo) else 0.0, floor)
        g_hi_abs = float(np.expm1(g_hi)) if np.isfinite(g_hi) else np.inf
        if g_lo_abs >= g_hi_abs:
            raise ScinterpInputError(
                f"batch '{batch}': the QC thresholds contradict each other: min_genes "
                f"{g_lo_abs:.0f} >= max_genes {g_hi_abs:.0f}, so every cell would be removed.",
                fix="raise qc.n_mads or lower qc.min_genes.",
            )
        flags.loc[m.index, "low_counts"] = (lc < c_lo) | (m["total_counts"].to_numpy() <= 0)
        flags.loc[m.index, "high_counts"] = lc > c_hi
        flags.loc[m.index, "low_genes"] = (lg < g_lo) | (m["n_genes"].to_numpy() < floor)
        flags.loc[m.index, "high_genes"] = lg > g_hi
        flags.loc[m.index, "high_mito"] = pm > m_hi
        rows.append(
            {
                "batch": batch,
                "n_cells": len(m),
                "thresholds_from": source,
                "min_counts": float(np.expm1(c_lo)) if np.isfinite(c_lo) else 0.0,
                "max_counts": float(np.expm1(c_hi)) if np.isfinite(c_hi) else np.inf,
                "min_genes": float(g_lo_abs),
                "max_genes": float(np.expm1(g_hi)) if np.isfinite(g_hi) else np.inf,
                "max_pct_mito": float(m_hi),
            }
        )
    return flags, pd.DataFrame(rows)


def fixed_thresholds(
    metrics: pd.DataFrame,
    *,
    min_counts: float = 500,
    max_counts: float | None = None,
    min_genes: int = 200,
    max_pct_mito: float = 20,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flag cells outside fixed thresholds; same return value as `adaptive_thresholds`."""
    flags = pd.DataFrame(False, index=metrics.index, columns=list(REASONS[:5]))
    flags["low_counts"] = (metrics["total_counts"] < min_counts) | (metrics["total_counts"] <= 0)
    if max_counts is not None:
        flags["high_counts"] = metrics["total_counts"] > max_counts
    flags["low_genes"] = metrics["n_genes"] < min_genes
    flags["high_mito"] = _pct(metrics["pct_mito"]) > max_pct_mito
    rows = [
        {
            "batch": b,
            "n_cells": int(n),
            "thresholds_from": b,
            "min_counts": float(min_counts),
            "max_counts": float(np.inf if max_counts is None else max_counts),
            "min_genes": float(min_genes),
            "max_genes": float(np.inf),
            "max_pct_mito": float(max_pct_mito),
        }
        for b, n in metrics["batch"].value_counts(sort=False).sort_index().items()
    ]
    return flags, pd.DataFrame(rows)


def _pct(values) -> np.ndarray:
    """A percentage column with NaN (0 / 0: a cell without counts) read as 0; such cells
    are flagged low_counts anyway."""
    return np.nan_to_num(np.asarray(values, dtype=float), nan=0.0)
