"""`run_qc`, the ``qc`` rule end to end: metrics, flags, doublets, removal of cells
and rare genes, and the summary (logged and returned)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.preprocess.qc._doublets import detect_doublets
from scinterp.preprocess.qc._metrics import detected_per_gene, qc_metrics
from scinterp.preprocess.qc._params import REASONS, check_qc_params
from scinterp.preprocess.qc._subset import subset
from scinterp.preprocess.qc._thresholds import adaptive_thresholds, fixed_thresholds

log = logging.getLogger(__package__)


def run_qc(
    adata,
    params: dict | None,
    batch_key: str | None,
    dataset: str | None,
    *,
    path=None,
    inplace: bool | None = None,
) -> tuple:
    """Compute metrics, flag and remove bad cells, then rare genes.

    Parameters
    ----------
    adata
        Raw counts in ``.X`` (from `scinterp.io.read_counts`).
    params
        The config's ``qc`` section; missing keys take the schema defaults.
    batch_key
        obs column with batches, or None.
    dataset, path
        For messages.
    inplace
        Build the filtered matrix in the memory of ``adata.X`` (CSR only), so that an
        atlas is never held twice; ``adata`` must not be used afterwards. ``None``
        (default): in place for matrices of at least `INPLACE_MIN_NNZ` stored values.

    Returns
    -------
    filtered
        Kept cells and genes, raw counts in ``.X``; metrics in ``obs``.
    metrics
        One row per input cell: ``cell, total_counts, n_genes, pct_mito, pct_ribo,
        batch, doublet_score, predicted_doublet, reason, keep`` (plus ``quality``
        when the input has that ground-truth column).
    summary
        Counts per batch and reason, thresholds, and ground-truth figures.
    """
    p = check_qc_params(params, dataset=dataset)
    metrics = qc_metrics(adata, p["mito_prefix"], p["ribo_prefixes"], batch_key)
    _check_any_counts(metrics, dataset, path)
    flags, thresholds = _metric_flags(metrics, p, dataset)
    _flag_doublets(adata, metrics, flags, p)

    keep = ~flags.any(axis=1)
    metrics["reason"] = _reasons(flags)
    metrics["keep"] = keep.to_numpy()
    if "quality" in adata.obs.columns:
        metrics["quality"] = adata.obs["quality"].astype(str).to_numpy()

    summary = _summarize(metrics, flags, thresholds, p)
    _log_summary(summary, dataset)
    _check_cells_left(metrics, flags, thresholds, dataset, path)

    rows = keep.to_numpy()
    n_cells, gene_ok = _genes_kept(adata, rows, p, dataset, path)
    n_genes_in = int(adata.n_vars)
    filtered = subset(adata, rows, gene_ok, inplace=inplace)
    filtered.var["n_cells"] = n_cells[gene_ok]
    for col in ("total_counts", "n_genes", "pct_mito", "pct_ribo", "doublet_score"):
        filtered.obs[col] = metrics.loc[keep, col].to_numpy()
    summary["n_genes_in"] = n_genes_in
    summary["n_genes_kept"] = int(filtered.n_vars)
    log.info(
        "genes: %d in, %d kept (detected in >= %d cells)",
        n_genes_in,
        filtered.n_vars,
        p["min_cells_per_gene"],
    )
    return filtered, metrics, summary


def _check_any_counts(metrics: pd.DataFrame, dataset, path) -> None:
    if len(metrics) and not (metrics["total_counts"] > 0).any():
        # no threshold can help (and such a matrix crashes scanpy's seurat_v3 HVGs)
        raise ScinterpInputError(
            f"every one of the {len(metrics)} cells has 0 counts: the matrix holds no counts.",
            dataset=dataset,
            path=path,
            fix="give the count matrix of the cells (check that the file is the one meant, "
            "and counts_layer); lowering QC thresholds cannot help.",
        )


def _metric_flags(metrics: pd.DataFrame, p: dict, dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-cell flags of the metric filters and the thresholds per batch (``qc.mode``)."""
    if p["mode"] == "adaptive":
        return adaptive_thresholds(
            metrics, p["n_mads"], max_pct_mito=p["max_pct_mito"], min_genes=p["min_genes"]
        )
    if p["mode"] == "fixed":
        return fixed_thresholds(
            metrics,
            min_counts=p["min_counts"],
            max_counts=p["max_counts"],
            min_genes=p["min_genes"],
            max_pct_mito=p["max_pct_mito"],
        )
    raise ScinterpInputError(
        f"unknown qc.mode '{p['mode']}'.", dataset=dataset, fix="use 'adaptive' or 'fixed'."
    )


def _flag_doublets(adata, metrics: pd.DataFrame, flags: pd.DataFrame, p: dict) -> None:
    """Doublet scores and calls into ``metrics`` and the ``doublet`` flag (in place)."""
    metrics["doublet_score"] = np.nan
    metrics["predicted_doublet"] = False
    flags["doublet"] = False
    if not p["doublets"]:
        return
    # Doublets among the cells that passed the metric filters: damaged cells and empty
    # droplets would otherwise distort the simulated doublets.
    passed = ~flags.any(axis=1).to_numpy()
    if passed.sum() > 0:
        d = detect_doublets(
            adata[passed],
            metrics["batch"].to_numpy()[passed],
            method=p["doublet_method"],
            n_mads=p["n_mads"],
        )
        metrics.loc[passed, "doublet_score"] = d["doublet_score"].to_numpy()
        metrics.loc[passed, "predicted_doublet"] = d["predicted_doublet"].to_numpy()
    flags["doublet"] = metrics["predicted_doublet"].to_numpy(dtype=bool)


def _check_cells_left(metrics, flags, thresholds, dataset, path) -> None:
    if metrics["keep"].any():
        return
    removed = {r: int(flags[r].sum()) for r in flags.columns if flags[r].any()}
    raise ScinterpInputError(
        f"no cell is left after QC (of {len(metrics)}; cells flagged per reason: "
        f"{removed}; thresholds per batch: {thresholds.to_dict('records')}).",
        dataset=dataset,
        path=path,
        fix="relax the thresholds in the config's qc section: lower qc.min_genes "
        "(and qc.min_counts in fixed mode), raise qc.max_pct_mito or qc.n_mads, "
        "set qc.doublets: false, or check that the input holds raw counts of real cells.",
    )


def _genes_kept(adata, rows: np.ndarray, p: dict, dataset, path):
    """Cells detecting each gene among the kept ``rows``, and the genes kept."""
    n_cells = detected_per_gene(adata.X, rows)
    gene_ok = n_cells >= p["min_cells_per_gene"]
    if not gene_ok.any():
        raise ScinterpInputError(
            f"no gene is detected in at least qc.min_cells_per_gene={p['min_cells_per_gene']} "
            f"of the {int(rows.sum())} cells kept.",
            dataset=dataset,
            path=path,
            fix="lower qc.min_cells_per_gene, or relax the cell thresholds so more cells are kept.",
        )
    return n_cells, gene_ok


def _reasons(flags: pd.DataFrame) -> np.ndarray:
    """Per cell, the names of its set flags joined by ';' (vectorized over cells)."""
    out = np.full(len(flags), "", dtype=object)
    for r in flags.columns:
        f = flags[r].to_numpy(dtype=bool)
        if f.any():
            out[f] = out[f] + np.where(out[f] == "", r, ";" + r).astype(object)
    return out


def _summarize(metrics, flags, thresholds, p) -> dict:
    per_batch = {}
    for batch, idx in metrics.groupby("batch", sort=True, observed=True).groups.items():
        f = flags.loc[idx]
        per_batch[str(batch)] = {
            "n_cells": int(len(idx)),
            "n_kept": int(metrics.loc[idx, "keep"].sum()),
            **{r: int(f[r].sum()) for r in flags.columns},
        }
    summary = {
        "mode": p["mode"],
        "n_cells_in": int(len(metrics)),
        "n_cells_kept": int(metrics["keep"].sum()),
        "per_batch": per_batch,
        "thresholds": thresholds.replace({np.inf: None}).to_dict("records"),
    }
    if "quality" in metrics.columns:
        q = metrics["quality"]
        keep = metrics["keep"]

        def frac(mask, removed):
            n = int(mask.sum())
            if n == 0:
                return None
            return float(((~keep if removed else keep) & mask).sum() / n)

        summary["truth"] = {
            "n_good": int((q == "good").sum()),
            "n_low_quality": int((q == "low_quality").sum()),
            "n_doublet": int((q == "doublet").sum()),
            "frac_low_quality_removed": frac(q == "low_quality", True),
            "frac_doublets_removed": frac(q == "doublet", True),
            "frac_good_kept": frac(q == "good", False),
        }
    return summary


def _log_summary(summary: dict, dataset) -> None:
    log.info(
        "dataset '%s' QC (%s): %d cells in, %d kept",
        dataset,
        summary["mode"],
        summary["n_cells_in"],
        summary["n_cells_kept"],
    )
    for batch, s in summary["per_batch"].items():
        reasons = ", ".join(f"{r}={s[r]}" for r in REASONS)
        log.info(
            "  batch %s: %d in, %d kept; flagged %s", batch, s["n_cells"], s["n_kept"], reasons
        )
    for t in summary["thresholds"]:
        log.info("  thresholds %s", t)
    if "truth" in summary:
        t = summary["truth"]

        def pct(x):
            return "n/a" if x is None else f"{100 * x:.1f}%"

        log.info(
            "  ground truth: low-quality removed %s (of %d), doublets removed %s (of %d), "
            "good cells kept %s (of %d)",
            pct(t["frac_low_quality_removed"]),
            t["n_low_quality"],
            pct(t["frac_doublets_removed"]),
            t["n_doublet"],
            pct(t["frac_good_kept"]),
            t["n_good"],
        )
