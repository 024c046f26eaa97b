"""Partial readers of the workflow's own ``.h5ad`` files: annotations without the
matrices, chosen layers and genes, chosen rows."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from scipy import sparse


def read_meta(path: str | os.PathLike, keys=("obs", "var", "uns")) -> dict:
    """Some annotation elements of an .h5ad (``obs``, ``var``, ``uns``, ...) without its
    matrices; ``uns`` is ``{}`` when the file has none."""
    import h5py
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        out = {k: read_elem(f[k]) for k in keys if k in f}
    if "uns" in keys:
        out.setdefault("uns", {})
    return out


def read_var(path: str | os.PathLike) -> pd.DataFrame:
    """The ``var`` table of an .h5ad, without reading its matrices."""
    return read_meta(path, ("var",))["var"]


def read_normalized(path: str | os.PathLike, layers=(), var_names=None, rows=None):
    """``normalized.h5ad`` with only the ``layers`` asked for (``X``, obs, var, uns, obsm
    always): a model that needs no raw counts does not hold a second copy of the matrix.

    ``var_names``: keep only these genes (in the file's order). The matrices are then
    read in row chunks and cut to those columns chunk by chunk, so an atlas's full
    cells x genes matrix is never held (a model on 2,000 of 20,000 genes holds about a
    third of it).

    ``rows``: keep only these cells (sorted unique indices, e.g. a
    :func:`scinterp.data.cells.sample_cells` sample); only their rows are read.
    """
    import anndata as ad
    import h5py
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        parts = {k: read_elem(f[k]) for k in ("obs", "var", "uns", "obsm") if k in f}
        present = [k for k in layers if "layers" in f and k in f["layers"]]
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            if np.any(np.diff(rows) <= 0):
                raise ValueError("read_normalized: rows must be sorted and unique")
            parts["obs"] = parts["obs"].iloc[rows]
            parts["obsm"] = {k: v[rows] for k, v in parts.get("obsm", {}).items()}
            cols = None
            if var_names is not None:
                cols = _columns(parts["var"], var_names, path)
                parts["var"] = parts["var"].iloc[cols]

            def cut(elem):
                block = _read_rows(elem, rows)
                return block if cols is None else block[:, cols]

            parts["X"] = cut(f["X"])
            parts["layers"] = {k: cut(f["layers"][k]) for k in present}
        elif var_names is None:
            parts["X"] = read_elem(f["X"])
            parts["layers"] = {k: read_elem(f["layers"][k]) for k in present}
        else:
            cols = _columns(parts["var"], var_names, path)
            parts["var"] = parts["var"].iloc[cols]
            parts["X"] = _read_columns(f["X"], cols)
            parts["layers"] = {k: _read_columns(f["layers"][k], cols) for k in present}
    return ad.AnnData(**parts)


def _columns(var: pd.DataFrame, var_names, path) -> np.ndarray:
    """Sorted columns of ``var_names`` in ``var``; KeyError naming the missing ones."""
    return np.unique(_positions(var.index, var_names, path))


def read_rows(path: str | os.PathLike, rows):
    """Rows ``rows`` of an .h5ad's ``X`` (in the order given, repeats allowed), reading
    only those rows.

    ``anndata.read_h5ad(backed="r")`` keeps only ``X`` on disk but loads every layer, so
    on an atlas it reads the counts layer whole; this reads what it is asked for.
    """
    import h5py

    # h5py and the backed matrix read distinct rows in increasing order
    wanted, back = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
    with h5py.File(path, "r") as f:
        X = _read_rows(f["X"], wanted)
    return X[back]


def _read_rows(elem, wanted: np.ndarray):
    """Rows ``wanted`` (sorted, unique) of an h5ad matrix element."""
    from anndata.io import sparse_dataset

    if elem.attrs.get("encoding-type", "array") in ("csr_matrix", "csc_matrix"):
        return sparse_dataset(elem)[wanted]
    return elem[wanted] if len(wanted) else np.zeros((0, elem.shape[1]), elem.dtype)


def _read_columns(elem, cols: np.ndarray, chunk_values: int = 1 << 25):
    """Columns ``cols`` (sorted) of an h5ad matrix element, read in row chunks
    (:func:`_chunks_of`) and stacked."""
    from anndata.io import read_elem, sparse_dataset

    encoding = elem.attrs.get("encoding-type", "array")
    if encoding == "csr_matrix":
        chunks = _chunks_of(
            sparse_dataset(elem), cols, elem["data"].shape[0], None, chunk_values, 1
        )
        blocks = [block for _, block in chunks]
        if not blocks:
            return sparse.csr_matrix((0, len(cols)), dtype=elem["data"].dtype)
        out = sparse.vstack(blocks, format="csr")
        out.sort_indices()
        return out
    if encoding == "array":
        chunks = _chunks_of(elem, cols, int(np.prod(elem.shape)), None, chunk_values, 1)
        blocks = [block for _, block in chunks]
        return np.concatenate(blocks, axis=0) if blocks else np.zeros((0, len(cols)), elem.dtype)
    return read_elem(elem)[:, cols]  # CSC or other encodings: whole, then cut


def read_annotations(path: str | os.PathLike, obsm_keys=None):
    """An AnnData of an .h5ad's annotations (``obs``, ``var``, ``uns``, ``obsm``) with no
    ``X``: what a job that streams the matrix with :func:`iter_row_chunks` keeps of it.
    ``obsm_keys``: only these embeddings (all when None)."""
    import anndata as ad
    import h5py
    from anndata.io import read_elem

    parts = read_meta(path, ("obs", "var", "uns"))
    with h5py.File(path, "r") as f:
        keys = list(f["obsm"]) if "obsm" in f else []
        wanted = [k for k in keys if obsm_keys is None or k in obsm_keys]
        parts["obsm"] = {k: read_elem(f["obsm"][k]) for k in wanted}
    return ad.AnnData(**parts)


def iter_row_chunks(
    data,
    var_names=None,
    *,
    layer: str | None = None,
    chunk_rows: int | None = None,
    chunk_values: int = 1 << 22,
    row_multiple: int = 1,
):
    """``(rows, block)`` over the cells of an .h5ad (a path) or an AnnData, in row order.

    ``rows`` is a ``slice`` of cells; ``block`` the matrix (``X``, or ``layer``) on those
    rows, restricted to the columns of ``var_names`` in the order given (every column
    when None): CSR stays CSR, with each row's values in their stored order, dense stays
    dense. Only one chunk of a file's matrix is in memory at a time.

    ``chunk_rows``: cells per chunk; by default as many as hold about ``chunk_values``
    stored values (sparse) or values (dense), rounded down to a multiple of
    ``row_multiple`` (a model's batch size, so that its batches are those of one pass
    over the whole matrix).
    """
    import h5py
    from anndata.io import read_elem, sparse_dataset

    if isinstance(data, str | os.PathLike):
        with h5py.File(data, "r") as f:
            var_index = read_elem(f["var"]).index
            cols = None if var_names is None else _positions(var_index, var_names, data)
            elem = f["X"] if layer is None else f["layers"][layer]
            encoding = elem.attrs.get("encoding-type", "array")
            if encoding in ("csr_matrix", "csc_matrix"):
                matrix = sparse_dataset(elem)
                stored = elem["data"].shape[0]
            else:
                matrix, stored = elem, int(np.prod(elem.shape))
            yield from _chunks_of(matrix, cols, stored, chunk_rows, chunk_values, row_multiple)
        return
    matrix = data.X if layer is None else data.layers[layer]
    cols = None if var_names is None else _positions(data.var_names, var_names, "AnnData")
    stored = matrix.nnz if sparse.issparse(matrix) else int(np.prod(matrix.shape))
    yield from _chunks_of(matrix, cols, stored, chunk_rows, chunk_values, row_multiple)


def _positions(index: pd.Index, var_names, where) -> np.ndarray:
    """Positions of ``var_names`` in ``index``, in the order given; KeyError if missing."""
    names = pd.Index([str(g) for g in var_names])
    pos = pd.Index(index.astype(str)).get_indexer(names)
    if (pos < 0).any():
        raise KeyError(f"{where}: genes not in var: {list(names[pos < 0][:5])}")
    return pos.astype(np.int64)


def _chunks_of(matrix, cols, stored: int, chunk_rows, chunk_values: int, row_multiple: int):
    n_rows, n_cols = matrix.shape
    if chunk_rows is None:
        per_row = max(1.0, stored / max(1, n_rows))
        multiple = max(1, int(row_multiple))
        chunk_rows = max(multiple, int(chunk_values / per_row) // multiple * multiple)
    step = max(1, int(chunk_rows))
    if cols is not None and np.array_equal(cols, np.arange(n_cols)):
        cols = None  # every column in the file's order: no copy
    for start in range(0, n_rows, step):
        rows = slice(start, min(start + step, n_rows))
        block = matrix[rows]
        if isinstance(block, np.ndarray):
            block = np.asarray(block)
        elif sparse.issparse(block) and block.format != "csr":
            block = sparse.csr_matrix(block)
        yield rows, (block if cols is None else block[:, cols])


def read_frame(elem) -> pd.DataFrame:
    """An obs/var element as a DataFrame: the current layout (a group, anndata >= 0.7) or
    the legacy one (a compound HDF5 dataset whose first field is the index, anndata
    < 0.7, e.g. 10x PBMC3k as many 2019-2020 datasets ship it), read by anndata's own
    legacy reader. Legacy categorical columns are integer codes whose categories sit in
    ``uns/<column>_categories``: they are decoded as anndata.read_h5ad does."""
    import warnings

    import h5py
    from anndata.io import read_elem

    if not (isinstance(elem, h5py.Dataset) and elem.dtype.names):
        return read_elem(elem)
    from anndata._io.h5ad import read_dataframe_legacy

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*very old version of AnnData.*")
        df = read_dataframe_legacy(elem)
    df.index = df.index.astype(str)
    uns = elem.file[elem.parent.name].get("uns")
    for col in df.columns:
        key = f"{col}_categories"
        if uns is not None and key in uns and np.issubdtype(df[col].dtype, np.integer):
            cats = [c.decode() if isinstance(c, bytes) else str(c) for c in uns[key][()]]
            df[col] = pd.Categorical.from_codes(df[col].to_numpy(), cats)
    return df


def frame_columns(elem) -> list[str]:
    """Column names of an obs/var element (current or legacy layout) without its values."""
    import h5py

    if isinstance(elem, h5py.Dataset):
        return [str(c) for c in (elem.dtype.names or ())[1:]]  # the first field is the index
    if "column-order" in elem.attrs:
        return [str(c) for c in elem.attrs["column-order"]]
    index = elem.attrs.get("_index", "_index")
    return [k for k in elem.keys() if k not in (index, "__categories")]


def read_index(elem) -> pd.Index:
    """The names (index) of an obs/var element (current or legacy layout), alone."""
    import h5py
    from anndata.io import read_elem

    if isinstance(elem, h5py.Dataset):
        values = elem.fields(elem.dtype.names[0])[()]
    else:
        values = read_elem(elem[elem.attrs.get("_index", "_index")])
    return pd.Index([v.decode() if isinstance(v, bytes) else str(v) for v in values])


def read_obs_column(elem, column: str) -> pd.Series:
    """One column of an obs element (current or legacy layout)."""
    import h5py
    from anndata.io import read_elem

    if isinstance(elem, h5py.Dataset):
        return read_frame(elem)[column]
    return pd.Series(read_elem(elem[column]))
