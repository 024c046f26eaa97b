"""The kept cells and genes as a new AnnData; large CSR matrices are filtered in
their own memory."""

from __future__ import annotations

import logging

import numpy as np

from scinterp.preprocess.qc._metrics import _row_chunks

log = logging.getLogger(__package__)


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
