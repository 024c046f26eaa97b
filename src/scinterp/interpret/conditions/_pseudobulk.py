"""Per sample x cell type sums over the count matrix, streamed in row chunks (CSR)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

SEP = "|"


def _matrix(adata, layer):
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        from scinterp.errors import ScinterpInputError

        raise ScinterpInputError(
            f"layer '{layer}' (raw integer counts) is missing (layers: "
            f"{', '.join(adata.layers.keys()) or 'none'}).",
            fix="run the normalize step, which keeps the raw counts in layers['counts'].",
        )
    return adata.layers[layer]


def groups_of(
    obs: pd.DataFrame, label_key: str, sample_key: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Group code per cell (-1: no sample or label) and the groups' meta (index
    ``sample|type``; columns sample, cell_type, n_cells), in sample then type order."""
    s = obs[sample_key].astype(object).where(obs[sample_key].notna())
    t = obs[label_key].astype(object).where(obs[label_key].notna())
    ok = s.notna().to_numpy() & t.notna().to_numpy()
    key = pd.Series(np.where(ok, s.astype(str) + SEP + t.astype(str), None), index=obs.index)
    pairs = (
        pd.DataFrame({"sample": s.astype(str), "cell_type": t.astype(str)})[ok]
        .value_counts()
        .rename("n_cells")
        .reset_index()
        .sort_values(["sample", "cell_type"], kind="stable")
    )
    pairs.index = pd.Index(pairs["sample"] + SEP + pairs["cell_type"], name="group")
    codes = pd.Categorical(key, categories=pairs.index).codes.astype(np.int64)
    return codes, pairs[["sample", "cell_type", "n_cells"]]


def _row_blocks(matrix, codes: np.ndarray, chunk_rows: int):
    """(start, stop, CSR block, its cells' group codes, positions of the cells with a
    group) for each chunk of ``chunk_rows`` rows that holds a cell with a group."""
    n = matrix.shape[0]
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        c = codes[start:stop]
        keep = np.flatnonzero(c >= 0)
        if keep.size == 0:
            continue
        block = matrix[start:stop]
        block = sparse.csr_matrix(block) if not sparse.issparse(block) else block.tocsr()
        yield start, stop, block, c, keep


def stream_group_sums(
    matrix, codes: np.ndarray, n_groups: int, chunk_rows: int = 10000, features=None
):
    """Sum rows of ``matrix`` (cells x genes; CSR, backed or dense) per group code, one
    row chunk at a time. ``features``: a function of a CSR chunk returning a dict of CSR
    matrices (same shape) whose group sums are returned too. Returns a dict of dense
    (groups x genes) arrays: ``sum`` and each feature's name."""
    n, g = matrix.shape
    out: dict[str, np.ndarray] = {}
    for start, stop, block, c, keep in _row_blocks(matrix, codes, chunk_rows):
        ind = sparse.csr_matrix(
            (np.ones(keep.size), (c[keep], keep)), shape=(n_groups, stop - start)
        )
        parts = {"sum": block}
        if features is not None:
            parts.update(features(block))
        for name, m in parts.items():
            s = np.asarray((ind @ m).todense()) if sparse.issparse(m) else ind @ m
            out[name] = s if name not in out else out[name] + s
    for name in list(out) or ["sum"]:
        out.setdefault(name, np.zeros((n_groups, g)))
    return out


_KERNEL = None


def _kernel():
    """The numba kernel of :func:`stream_cell_sums` (compiled once per process, cached
    on disk like the package's other numba kernels)."""
    global _KERNEL
    if _KERNEL is None:
        from scinterp.numba_cache import numba_cache

        numba_cache()
        import numba

        @numba.njit(parallel=True, cache=True, nogil=True)
        def add_groups(indptr, indices, raw, logv, rows, starts, groups, out, n_blocks):
            # out[f, g, j] += the sum over the chunk's cells of group g, in ascending cell
            # order, of feature f of gene j (f: the count, expressing (log > 0), the log,
            # its square): the sums scipy's indicator product gave, bit for bit (the
            # chunk's partial sum first, then added to the total). Each group's rows of
            # ``out`` are written by one block only: the blocks run in parallel.
            n_genes = out.shape[2]
            n_g = groups.size
            for b in numba.prange(n_blocks):
                buf = np.zeros((4, n_genes))
                stamp = np.full(n_genes, -1, dtype=np.int64)
                touched = np.empty(n_genes, dtype=np.int64)
                for gi in range(b * n_g // n_blocks, (b + 1) * n_g // n_blocks):
                    nt = 0
                    for r in rows[starts[gi] : starts[gi + 1]]:
                        for p in range(indptr[r], indptr[r + 1]):
                            j = indices[p]
                            if stamp[j] != gi:
                                stamp[j] = gi
                                touched[nt] = j
                                nt += 1
                            lv = logv[p]
                            buf[0, j] += raw[p]
                            buf[1, j] += 1.0 if lv > 0 else 0.0
                            buf[2, j] += lv
                            buf[3, j] += lv * lv
                    g = groups[gi]
                    for t in range(nt):
                        j = touched[t]
                        for f in range(4):
                            out[f, g, j] += buf[f, j]
                            buf[f, j] = 0.0
            return out

        _KERNEL = add_groups
    return _KERNEL


#: the four sums of :func:`stream_cell_sums`, in the kernel's order
CELL_SUMS = ("sum", "expr", "log", "log2")


def stream_cell_sums(
    matrix, codes: np.ndarray, n_groups: int, chunk_rows: int = 10000, n_jobs: int = 1
) -> dict[str, np.ndarray]:
    """Per group code, in one streamed pass over the rows of ``matrix`` (cells x genes
    counts; CSR, backed or dense): ``sum`` (the counts), ``expr`` (cells with a count),
    ``log`` and ``log2`` (log1p of counts per 10,000 of the cell, and its square). The
    same arrays, bit for bit, as :func:`stream_group_sums` with the conditions branch's
    per-cell features (``_genes._cell_features``), without its group x gene
    intermediates: a compiled loop over the stored values, the groups split over
    ``n_jobs`` threads."""
    n, g = matrix.shape
    out = np.zeros((4, n_groups, g))
    add = _kernel()
    for _, _, block, c, keep in _row_blocks(matrix, codes, chunk_rows):
        raw = block.data.astype(np.float64)
        block = sparse.csr_matrix((raw, block.indices, block.indptr), shape=block.shape)
        lib = np.asarray(block.sum(1)).ravel()
        scale = 1e4 / np.maximum(lib, 1.0)
        logv = np.log1p(np.repeat(scale, np.diff(block.indptr)) * raw)
        rows = keep[np.argsort(c[keep], kind="stable")]  # by group, cells ascending
        groups, first = np.unique(c[rows], return_index=True)
        starts = np.append(first, rows.size).astype(np.int64)
        n_blocks = max(1, min(int(n_jobs), groups.size))
        add(
            block.indptr.astype(np.int64),
            block.indices.astype(np.int64),
            raw,
            logv,
            rows.astype(np.int64),
            starts,
            groups.astype(np.int64),
            out,
            n_blocks,
        )
    return dict(zip(CELL_SUMS, out, strict=True))


def pseudobulk(
    adata, label_key: str, sample_key: str, layer: str | None = "counts", chunk_rows: int = 10000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count sums per sample x cell type.

    Returns ``counts`` (rows ``sample|type``, columns genes, int64) and ``meta`` (same
    rows; ``sample``, ``cell_type``, ``n_cells``). The sums are streamed over row chunks
    of ``adata.layers[layer]`` (``layer=None``: ``.X``); the whole matrix is never dense.
    Cells without a sample or a label are left out.
    """
    codes, meta = groups_of(adata.obs, label_key, sample_key)
    sums = stream_group_sums(_matrix(adata, layer), codes, len(meta), chunk_rows)["sum"]
    counts = pd.DataFrame(
        np.rint(sums).astype(np.int64), index=meta.index, columns=adata.var_names.astype(str)
    )
    return counts, meta
