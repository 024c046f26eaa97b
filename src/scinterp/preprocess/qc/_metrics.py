"""Per-cell QC metrics (counts, detected genes, % mitochondrial and ribosomal) and
detected cells per gene, read from CSR matrices chunk by chunk of rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scinterp.preprocess.qc._params import ALL_BATCHES

log = logging.getLogger(__package__)


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
            # 0 / 0 for a cell without counts: 0, not NaN (such a cell is flagged
            # low_counts; a NaN share would make its batch's threshold NaN)
            "pct_mito": np.nan_to_num(obs["pct_counts_mito"].to_numpy(dtype=float), nan=0.0),
            "pct_ribo": np.nan_to_num(obs["pct_counts_ribo"].to_numpy(dtype=float), nan=0.0),
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
