"""Lean paths for atlas-sized CSR matrices: log-normalization in place and seurat_v3
HVGs, chunk by chunk, without the copies scanpy makes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scinterp.preprocess._rows import CHUNK_NNZ, row_chunks

# Matrices with at least this many stored values take the lean paths below (chunked,
# no copy of the matrix); smaller ones go through scanpy's functions, which copy.
LEAN_MIN_NNZ = 100_000_000
_CHUNK_NNZ = CHUNK_NNZ


def _lean(X) -> bool:
    from scipy import sparse

    return sparse.issparse(X) and X.format == "csr" and X.nnz >= LEAN_MIN_NNZ


def _chunks(indptr: np.ndarray):
    """:func:`scinterp.preprocess._rows.row_chunks` of ``_CHUNK_NNZ`` values."""
    return row_chunks(indptr, _CHUNK_NNZ)


def normalize_log1p_inplace(X, target_sum: float | None) -> None:
    """``log1p(X / total * target_sum)`` per row of a CSR matrix, in place, chunk by chunk.

    The same values as scanpy's normalize_total + log1p, without their temporaries
    (scanpy repeats the per-cell factor over all stored values in float64). With
    ``target_sum=None`` the rows are not scaled: ``log1p(X)``.
    """
    if target_sum is None:
        np.log1p(X.data, out=X.data)
        return
    totals = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    factor = totals / target_sum
    factor[factor == 0] = 1.0
    for r0, r1, s, e in _chunks(X.indptr):
        X.data[s:e] /= np.repeat(factor[r0:r1], np.diff(X.indptr[r0 : r1 + 1]))
        np.log1p(X.data[s:e], out=X.data[s:e])


def hvgs_seurat_v3_csr(adata, n_top_genes: int, batch_key: str | None, span: float = 0.3):
    """scanpy's ``highly_variable_genes(flavor="seurat_v3", layer="counts")`` for a CSR
    counts layer, computed in chunks of rows (scanpy copies every batch's rows).

    Same statistics and columns in ``var`` (``highly_variable``, ``highly_variable_rank``,
    ``means``, ``variances``, ``variances_norm``, ``highly_variable_nbatches``): per
    batch, a loess fit of log variance on log mean, values clipped at mean + sqrt(n)
    regularized SDs, the normalized variance ranked; genes ordered by median rank
    over batches, then by the number of batches where they are among the top.
    """
    from skmisc.loess import loess

    X = adata.layers["counts"]
    n_genes = X.shape[1]
    if batch_key is None:
        codes = np.zeros(X.shape[0], dtype=np.int64)
        n_b = 1
    else:
        codes, _ = pd.factorize(adata.obs[batch_key], sort=True)
        n_b = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=n_b).astype(np.float64)

    def grid_sums(clip=None):
        s1 = np.zeros(n_b * n_genes)
        s2 = np.zeros(n_b * n_genes)
        for r0, r1, s, e in _chunks(X.indptr):
            key = np.repeat(codes[r0:r1], np.diff(X.indptr[r0 : r1 + 1])) * n_genes
            key += X.indices[s:e]
            v = X.data[s:e].astype(np.float64)
            if clip is not None:
                np.minimum(v, clip[key], out=v)
            s1 += np.bincount(key, weights=v, minlength=n_b * n_genes)
            s2 += np.bincount(key, weights=v * v, minlength=n_b * n_genes)
        return s1.reshape(n_b, n_genes), s2.reshape(n_b, n_genes)

    s1, s2 = grid_sums()
    n = sizes[:, None]
    mean = s1 / n
    var = (s2 / n - mean**2) * (n / np.maximum(n - 1, 1))
    np.maximum(var, 0, out=var)
    reg_std = np.zeros_like(var)
    for b in range(n_b):
        not_const = var[b] > 0
        model = loess(
            np.log10(mean[b, not_const]), np.log10(var[b, not_const]), span=span, degree=2
        )
        model.fit()
        est = np.zeros(n_genes)
        est[not_const] = model.outputs.fitted_values
        reg_std[b] = np.sqrt(10**est)
    clip = (reg_std * np.sqrt(n) + mean).ravel()
    c1, c2 = grid_sums(clip)
    norm_var = (1 / ((n - 1) * reg_std**2)) * (n * mean**2 + c2 - 2 * c1 * mean)

    ranked = np.argsort(np.argsort(-norm_var, axis=1), axis=1).astype(np.float32)
    n_batches_hv = np.sum(ranked < n_top_genes, axis=0)
    ranked[ranked >= n_top_genes] = np.nan
    median_rank = np.ma.median(np.ma.masked_invalid(ranked), axis=0).filled(np.nan)
    total_n = sizes.sum()
    all_mean = s1.sum(axis=0) / total_n
    all_var = (s2.sum(axis=0) / total_n - all_mean**2) * (total_n / max(total_n - 1, 1))
    df = pd.DataFrame({"rank": median_rank, "nbatches": n_batches_hv}, index=pd.RangeIndex(n_genes))
    order = df.sort_values(["rank", "nbatches"], ascending=[True, False], na_position="last")
    hv = np.zeros(n_genes, dtype=bool)
    hv[order.index[: int(n_top_genes)]] = True
    adata.uns["hvg"] = {"flavor": "seurat_v3"}
    adata.var["highly_variable"] = hv
    adata.var["highly_variable_rank"] = median_rank
    adata.var["means"] = all_mean
    adata.var["variances"] = all_var
    adata.var["variances_norm"] = np.mean(norm_var, axis=0)
    if batch_key is not None:
        adata.var["highly_variable_nbatches"] = n_batches_hv
