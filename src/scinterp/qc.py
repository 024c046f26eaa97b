"""Quality control of cells and genes: metrics, per-batch thresholds, doublets.

`run_qc` is the entry point used by the ``qc`` rule. Adaptive thresholds follow
the scater convention: a cell is an outlier when it lies more than ``n_mads``
*scaled* MADs (1.4826 x MAD, a consistent estimate of the SD) from the median of
its batch, on log1p(total counts) and log1p(genes) on both sides and on the
mitochondrial percentage above. Thresholds are computed per batch, so a batch
sequenced deeper is not removed wholesale.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError

log = logging.getLogger(__name__)

# Defaults of the schema's `qc` section (workflow/schemas/config.schema.yaml).
QC_DEFAULTS = {
    "mode": "adaptive",
    "n_mads": 3,
    "min_counts": 500,
    "max_counts": None,
    "min_genes": 200,
    "max_pct_mito": 20,
    "mito_prefix": "MT-",
    "ribo_prefixes": ["RPS", "RPL"],
    "doublets": True,
    "doublet_method": "classifier",
    "min_cells_per_gene": 3,
}

REASONS = ("low_counts", "high_counts", "low_genes", "high_genes", "high_mito", "doublet")
_MAD_SCALE = 1.4826
# Scrublet needs enough cells for its kNN graph and PCA; smaller batches are skipped.
MIN_CELLS_SCRUBLET = 100
ALL_BATCHES = "all"


def qc_metrics(
    adata,
    mito_prefix: str = "MT-",
    ribo_prefixes: Sequence[str] = ("RPS", "RPL"),
    batch_key: str | None = None,
) -> pd.DataFrame:
    """Per-cell QC metrics.

    Adds boolean ``var["mito"]`` and ``var["ribo"]`` (prefixes matched
    case-insensitively, so mouse ``mt-`` matches ``MT-``).

    Returns
    -------
    DataFrame with columns ``cell, total_counts, n_genes, pct_mito, pct_ribo, batch``
    in the order of ``adata.obs_names``.
    """
    import scanpy as sc
    from scipy import sparse

    names = pd.Index(adata.var_names).str.upper()
    adata.var["mito"] = np.asarray(names.str.startswith(mito_prefix.upper()))
    adata.var["ribo"] = np.asarray(names.str.startswith(tuple(p.upper() for p in ribo_prefixes)))
    if not adata.var["mito"].any():
        log.warning(
            "no gene starts with the mitochondrial prefix '%s' (case-insensitive): "
            "pct_mito is 0 for every cell; set qc.mito_prefix if your symbols differ.",
            mito_prefix,
        )
    X = adata.X
    if sparse.issparse(X) and X.format == "csr":
        obs = _csr_qc_metrics(X, adata.var["mito"].to_numpy(), adata.var["ribo"].to_numpy())
    else:
        obs, _ = sc.pp.calculate_qc_metrics(
            adata, qc_vars=["mito", "ribo"], percent_top=None, log1p=False, inplace=False
        )
    batch = (
        adata.obs[batch_key].astype(str).to_numpy()
        if batch_key is not None
        else np.full(adata.n_obs, ALL_BATCHES)
    )
    return pd.DataFrame(
        {
            "cell": adata.obs_names.astype(str),
            "total_counts": obs["total_counts"].to_numpy(dtype=float),
            "n_genes": obs["n_genes_by_counts"].to_numpy(dtype=int),
            "pct_mito": obs["pct_counts_mito"].to_numpy(dtype=float),
            "pct_ribo": obs["pct_counts_ribo"].to_numpy(dtype=float),
            "batch": batch,
        }
    )


def _csr_qc_metrics(X, mito: np.ndarray, ribo: np.ndarray) -> pd.DataFrame:
    """scanpy's calculate_qc_metrics columns from a CSR matrix, chunk by chunk of rows
    (scanpy's builds a boolean copy of the whole matrix for the detected genes)."""
    total = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    n_genes = np.empty(X.shape[0], dtype=np.int64)
    for r0, r1 in _row_chunks(X.indptr):
        s, e = X.indptr[r0], X.indptr[r1]
        c = np.zeros(e - s + 1, dtype=np.int64)
        np.cumsum(X.data[s:e] > 0, out=c[1:])
        local = X.indptr[r0 : r1 + 1] - s
        n_genes[r0:r1] = c[local[1:]] - c[local[:-1]]
    out = {"total_counts": total, "n_genes_by_counts": n_genes}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, mask in (("mito", mito), ("ribo", ribo)):
            part = np.asarray(X[:, np.flatnonzero(mask)].sum(axis=1), dtype=np.float64).ravel()
            out[f"pct_counts_{name}"] = part / total * 100
    return pd.DataFrame(out)


def _mad_bounds(x: np.ndarray, n_mads: float) -> tuple[float, float]:
    """Median -/+ n_mads scaled MADs; infinite bounds when the MAD is 0."""
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


def check_qc_params(params: dict | None, *, dataset: str | None = None) -> dict:
    """The qc section with its defaults; thresholds that contradict each other raise.

    Called when the workflow is parsed (before any job) and again by `run_qc`.
    """
    p = {**QC_DEFAULTS, **(params or {})}
    if p["max_counts"] is not None and p["min_counts"] >= p["max_counts"]:
        raise ScinterpInputError(
            f"qc.min_counts ({p['min_counts']}) is not below qc.max_counts ({p['max_counts']}): "
            "every cell would be removed.",
            dataset=dataset,
            fix="set qc.max_counts above qc.min_counts, or to null.",
        )
    return p


def adaptive_thresholds(
    metrics: pd.DataFrame,
    n_mads: float = 3,
    *,
    max_pct_mito: float = 20,
    min_genes: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flag outlier cells per batch (median +/- ``n_mads`` scaled MADs).

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
    for batch, m in metrics.groupby("batch", sort=True, observed=True):
        lc = np.log1p(m["total_counts"].to_numpy(dtype=float))
        lg = np.log1p(m["n_genes"].to_numpy(dtype=float))
        pm = m["pct_mito"].to_numpy(dtype=float)
        c_lo, c_hi = _mad_bounds(lc, n_mads)
        g_lo, g_hi = _mad_bounds(lg, n_mads)
        _, m_hi = _mad_bounds(pm, n_mads)
        m_hi = min(m_hi, max_pct_mito)
        floor = scaled_min_genes(min_genes, m["n_genes"].to_numpy(), batch)
        g_lo_abs = max(np.expm1(g_lo) if np.isfinite(g_lo) else 0.0, floor)
        g_hi_abs = float(np.expm1(g_hi)) if np.isfinite(g_hi) else np.inf
        if g_lo_abs >= g_hi_abs:
            raise ScinterpInputError(
                f"batch '{batch}': the QC thresholds contradict each other: min_genes "
                f"{g_lo_abs:.0f} >= max_genes {g_hi_abs:.0f}, so every cell would be removed.",
                fix="raise qc.n_mads or lower qc.min_genes.",
            )
        flags.loc[m.index, "low_counts"] = lc < c_lo
        flags.loc[m.index, "high_counts"] = lc > c_hi
        flags.loc[m.index, "low_genes"] = (lg < g_lo) | (m["n_genes"].to_numpy() < floor)
        flags.loc[m.index, "high_genes"] = lg > g_hi
        flags.loc[m.index, "high_mito"] = pm > m_hi
        rows.append(
            {
                "batch": batch,
                "n_cells": len(m),
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
    flags["low_counts"] = metrics["total_counts"] < min_counts
    if max_counts is not None:
        flags["high_counts"] = metrics["total_counts"] > max_counts
    flags["low_genes"] = metrics["n_genes"] < min_genes
    flags["high_mito"] = metrics["pct_mito"] > max_pct_mito
    rows = [
        {
            "batch": b,
            "n_cells": int(n),
            "min_counts": float(min_counts),
            "max_counts": float(np.inf if max_counts is None else max_counts),
            "min_genes": float(min_genes),
            "max_genes": float(np.inf),
            "max_pct_mito": float(max_pct_mito),
        }
        for b, n in metrics["batch"].value_counts(sort=False).sort_index().items()
    ]
    return flags, pd.DataFrame(rows)


def detect_doublets(
    adata,
    batches: np.ndarray,
    *,
    method: str | None = None,
    n_mads: float = 3,
    random_state: int = 0,
) -> pd.DataFrame:
    """Doublets per batch on raw counts in ``adata.X``.

    ``method`` (default ``QC_DEFAULTS["doublet_method"]``):

    - ``"classifier"``: scDblFinder's idea (`scinterp.doublets.score_doublets`):
      heterotypic doublets simulated from cluster pairs, a classifier tells them from the
      real cells, a threshold weighing both errors. On independent data with 3%
      heterotypic doublets it removes far more than scrublet (benchmarks/README.md).
    - ``"scrublet"``: scanpy's scrublet; a cell is called a doublet when its score passes
      scrublet's automatic threshold and is also above the batch's median score +
      ``n_mads`` scaled MADs.

    Batches with fewer than `MIN_CELLS_SCRUBLET` cells are skipped with a warning
    (score NaN, not a doublet).

    Returns
    -------
    DataFrame indexed like ``adata.obs_names`` with ``doublet_score`` and
    ``predicted_doublet``.
    """
    import scanpy as sc

    method = method or QC_DEFAULTS["doublet_method"]
    if method not in ("classifier", "scrublet"):
        raise ScinterpInputError(
            f"unknown qc.doublet_method '{method}'.", fix="use 'classifier' or 'scrublet'."
        )
    out = pd.DataFrame(
        {"doublet_score": np.nan, "predicted_doublet": False}, index=adata.obs_names.copy()
    )
    for batch in pd.unique(batches):
        idx = np.flatnonzero(batches == batch)
        if method == "classifier":
            _classifier_batch(adata, idx, batch, out, random_state)
            continue
        if len(idx) < MIN_CELLS_SCRUBLET:
            log.warning(
                "batch '%s': %d cells, fewer than the %d scrublet needs; doublet detection "
                "skipped for this batch.",
                batch,
                len(idx),
                MIN_CELLS_SCRUBLET,
            )
            continue
        sub = adata[idx].copy()
        res = None
        # Scrublet's PCA needs fewer components than cells and variable genes; retry
        # with fewer components on small data rather than fail the whole QC.
        for n_pcs in (min(30, len(idx) // 4), 10, 5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", category=FutureWarning)
                    res = sc.pp.scrublet(
                        sub, n_prin_comps=n_pcs, random_state=random_state, copy=True, verbose=False
                    )
                break
            except (ValueError, IndexError) as e:
                log.info("batch '%s': scrublet with %d PCs failed (%s)", batch, n_pcs, e)
        if res is None:
            log.warning("batch '%s': scrublet failed; doublet detection skipped.", batch)
            continue
        score = res.obs["doublet_score"].to_numpy(dtype=float)
        # Scrublet's automatic threshold (a minimum of the simulated scores'
        # histogram) is noisy on batches of a few hundred cells and then calls
        # singlets; a call must also be an outlier among the batch's observed
        # scores, which singlets dominate.
        _, mad_thr = _mad_bounds(score, n_mads)
        scrub_thr = res.uns.get("scrublet", {}).get("threshold")
        if scrub_thr is None:
            log.warning(
                "batch '%s': scrublet found no doublet-score threshold; using the "
                "MAD outlier threshold alone.",
                batch,
            )
        thr = max(float(scrub_thr) if scrub_thr is not None else -np.inf, mad_thr)
        log.info(
            "batch '%s': doublet threshold %.3f (scrublet %s, median + %s MADs %.3f)",
            batch,
            thr,
            "none" if scrub_thr is None else f"{float(scrub_thr):.3f}",
            n_mads,
            mad_thr,
        )
        out.iloc[idx, 0] = score
        out.iloc[idx, 1] = score > thr
    out["predicted_doublet"] = out["predicted_doublet"].astype(bool)
    return out


def _classifier_batch(adata, idx, batch, out, random_state) -> None:
    """`detect_doublets` with the classifier on one batch's rows ``idx`` (writes ``out``)."""
    from scipy import sparse

    from scinterp.doublets import MIN_CELLS, score_doublets

    if len(idx) < MIN_CELLS:
        log.warning(
            "batch '%s': %d cells, fewer than the %d the doublet classifier needs; doublet "
            "detection skipped for this batch.",
            batch,
            len(idx),
            MIN_CELLS,
        )
        return
    X = adata.X[idx]
    X = sparse.csr_matrix(X) if not sparse.issparse(X) else X.tocsr()
    try:
        res = score_doublets(X, random_state=random_state)
    except ValueError as e:  # too few genes or clusters to simulate heterotypic doublets
        log.warning("batch '%s': doublet classifier failed (%s); skipped.", batch, e)
        return
    log.info(
        "batch '%s': doublet classifier, %d clusters, threshold %.3f, %d of %d called",
        batch,
        res.n_clusters,
        res.threshold,
        int(res.predicted_doublet.sum()),
        len(idx),
    )
    out.iloc[idx, 0] = res.score
    out.iloc[idx, 1] = res.predicted_doublet


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
    if p["mode"] == "adaptive":
        flags, thresholds = adaptive_thresholds(
            metrics, p["n_mads"], max_pct_mito=p["max_pct_mito"], min_genes=p["min_genes"]
        )
    elif p["mode"] == "fixed":
        flags, thresholds = fixed_thresholds(
            metrics,
            min_counts=p["min_counts"],
            max_counts=p["max_counts"],
            min_genes=p["min_genes"],
            max_pct_mito=p["max_pct_mito"],
        )
    else:
        raise ScinterpInputError(
            f"unknown qc.mode '{p['mode']}'.", dataset=dataset, fix="use 'adaptive' or 'fixed'."
        )

    metrics["doublet_score"] = np.nan
    metrics["predicted_doublet"] = False
    flags["doublet"] = False
    if p["doublets"]:
        # Scrublet on cells that passed the metric filters: damaged cells and empty
        # droplets would otherwise distort its simulated doublets.
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

    keep = ~flags.any(axis=1)
    metrics["reason"] = _reasons(flags)
    metrics["keep"] = keep.to_numpy()
    if "quality" in adata.obs.columns:
        metrics["quality"] = adata.obs["quality"].astype(str).to_numpy()

    summary = _summarize(metrics, flags, thresholds, p)
    _log_summary(summary, dataset)

    if not keep.any():
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

    rows = keep.to_numpy()
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


def _reasons(flags: pd.DataFrame) -> np.ndarray:
    """Per cell, the names of its set flags joined by ';' (vectorized over cells)."""
    out = np.full(len(flags), "", dtype=object)
    for r in flags.columns:
        f = flags[r].to_numpy(dtype=bool)
        if f.any():
            out[f] = out[f] + np.where(out[f] == "", r, ";" + r).astype(object)
    return out


def _row_chunks(indptr: np.ndarray, max_nnz: int = 1 << 22):
    """(start, stop) row ranges holding about ``max_nnz`` stored values each."""
    n = len(indptr) - 1
    r0 = 0
    while r0 < n:
        r1 = int(np.searchsorted(indptr, indptr[r0] + max_nnz, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        yield r0, r1
        r0 = r1


def detected_per_gene(X, rows: np.ndarray | None = None) -> np.ndarray:
    """Number of cells (of ``rows``, a boolean mask; all if None) with a count > 0, per gene.

    CSR matrices are read in chunks of rows without a copy of the matrix.
    """
    from scipy import sparse

    n_obs, n_vars = X.shape
    if rows is None:
        rows = np.ones(n_obs, dtype=bool)
    if not (sparse.issparse(X) and X.format == "csr"):
        sub = X[rows]
        return np.asarray((sub > 0).sum(axis=0)).ravel().astype(np.int64)
    out = np.zeros(n_vars, dtype=np.int64)
    for r0, r1 in _row_chunks(X.indptr):
        s, e = X.indptr[r0], X.indptr[r1]
        m = X.data[s:e] > 0
        m &= np.repeat(rows[r0:r1], np.diff(X.indptr[r0 : r1 + 1]))
        out += np.bincount(X.indices[s:e][m], minlength=n_vars)
    return out


# Matrices with at least this many stored values are filtered in place by default.
INPLACE_MIN_NNZ = 100_000_000


def _shrink(a: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` values of ``a``, giving the memory beyond them back when possible.

    ``a`` (or the array it is a full view of) is resized in place: ``a`` must not be
    used afterwards, only the returned array.
    """
    base = a
    while isinstance(base.base, np.ndarray):
        base = base.base
    same = (
        base.flags.owndata
        and base.dtype == a.dtype
        and base.size == a.size
        and base.__array_interface__["data"][0] == a.__array_interface__["data"][0]
    )
    if same:
        try:
            base.resize(n, refcheck=False)
            return base
        except ValueError:
            pass
    return a[:n].copy()  # a foreign buffer: copy the part kept


def subset_csr_inplace(X, rows: np.ndarray, cols: np.ndarray):
    """Rows and columns (boolean masks) of a CSR matrix, compacted in its own arrays.

    The kept values move to the front of ``X.data`` and ``X.indices`` chunk by chunk
    (each write lands at or before what was read), then the arrays are shrunk: the
    peak is the input plus one chunk, where fancy indexing would hold two matrices.
    ``X`` itself is left unusable; use the returned matrix.
    """
    from scipy import sparse

    remap = np.full(X.shape[1], -1, dtype=X.indices.dtype)
    remap[cols] = np.arange(int(cols.sum()), dtype=X.indices.dtype)
    indptr = X.indptr
    new_indptr = np.zeros(int(rows.sum()) + 1, dtype=np.int64)
    write = 0
    out_row = 0
    for r0, r1 in _row_chunks(indptr):
        s, e = int(indptr[r0]), int(indptr[r1])
        lengths = np.diff(indptr[r0 : r1 + 1])
        new_ind = remap[X.indices[s:e]]
        m = new_ind >= 0
        m &= np.repeat(rows[r0:r1], lengths)
        n = int(m.sum())
        vals = X.data[s:e][m]  # copies: safe to write over the source below
        X.indices[write : write + n] = new_ind[m]
        X.data[write : write + n] = vals
        row_of = np.repeat(np.arange(r1 - r0, dtype=np.int32), lengths)[m]
        kept = rows[r0:r1]
        per_row = np.bincount(row_of, minlength=r1 - r0)[kept]
        k = len(per_row)
        new_indptr[out_row + 1 : out_row + 1 + k] = write + np.cumsum(per_row)
        out_row += k
        write += n
    data = _shrink(X.data, write)
    indices = _shrink(X.indices, write)
    new_indptr = new_indptr.astype(indices.dtype)
    shape = (int(rows.sum()), int(cols.sum()))
    # The input matrix becomes the filtered one (no array of it points into freed memory).
    X.data, X.indices, X.indptr = data, indices, new_indptr
    X._shape = shape
    return sparse.csr_matrix((data, indices, new_indptr), shape=shape, copy=False)


def subset(adata, rows: np.ndarray, cols: np.ndarray, *, inplace: bool | None = None):
    """``adata[rows][:, cols]`` as a new AnnData; see `run_qc` for ``inplace``."""
    import anndata as ad
    from scipy import sparse

    X = adata.X
    can = (
        sparse.issparse(X)
        and X.format == "csr"
        and not len(adata.layers)
        and not len(adata.obsp)
        and not len(adata.varp)
        and not adata.is_view
    )
    if inplace is None:
        inplace = can and X.nnz >= INPLACE_MIN_NNZ
    if not (inplace and can):
        return adata[rows][:, cols].copy()
    log.info("filtering the %d x %d matrix in place", *X.shape)
    X = subset_csr_inplace(X, rows, cols)
    return ad.AnnData(
        X=X,
        obs=adata.obs.iloc[np.flatnonzero(rows)].copy(),
        var=adata.var.iloc[np.flatnonzero(cols)].copy(),
        uns=dict(adata.uns),
        obsm={k: v[rows] for k, v in adata.obsm.items()},
        varm={k: v[cols] for k, v in adata.varm.items()},
    )


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


def plot_qc(metrics: pd.DataFrame, outpath) -> None:
    """Strip plots of counts, genes and % mito per batch, kept vs removed cells.

    Saved atomically as an image at ``outpath`` (matplotlib, no display needed).
    """
    from matplotlib.figure import Figure

    from scinterp.io import write_figure_atomic

    batches = sorted(metrics["batch"].astype(str).unique())
    panels = [
        ("total_counts", "log10(1 + total counts)", True),
        ("n_genes", "log10(1 + genes detected)", True),
        ("pct_mito", "% mitochondrial", False),
    ]
    fig = Figure(figsize=(4 + 1.2 * len(batches) * len(panels), 4))
    axes = fig.subplots(1, len(panels))
    rng = np.random.default_rng(0)
    keep = metrics["keep"].to_numpy(dtype=bool)
    b = metrics["batch"].astype(str).to_numpy()
    for ax, (col, label, logy) in zip(axes, panels, strict=True):
        y = metrics[col].to_numpy(dtype=float)
        if logy:
            # KDE of the violins in log space; a log axis would distort them
            y = np.log10(1 + y)
        data = [y[b == x] for x in batches]
        parts = ax.violinplot(
            [d if len(d) > 1 else np.r_[d, d] for d in data], showextrema=False, widths=0.8
        )
        for body in parts["bodies"]:
            body.set_alpha(0.25)
        for i, x in enumerate(batches, start=1):
            sel = b == x
            jitter = rng.uniform(-0.25, 0.25, sel.sum())
            k = keep[sel]
            ax.scatter(i + jitter[k], y[sel][k], s=2, c="tab:blue", alpha=0.5, lw=0)
            ax.scatter(i + jitter[~k], y[sel][~k], s=3, c="tab:red", alpha=0.7, lw=0)
        ax.set_xticks(range(1, len(batches) + 1), batches, rotation=45, ha="right")
        ax.set_title(label)
        ax.set_xlabel("batch")
    axes[0].scatter([], [], c="tab:blue", s=10, label=f"kept ({keep.sum()})")
    axes[0].scatter([], [], c="tab:red", s=10, label=f"removed ({(~keep).sum()})")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    write_figure_atomic(fig, outpath)
