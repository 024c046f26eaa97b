"""Checks of an input .h5ad that run before compute (the config check, once per
dataset), each on a backed read of the file:

* the structure of a sparse matrix: ``indptr`` starts at 0, never decreases and ends
  at the number of stored values; every column index is in range. ``indptr`` is read
  whole (8 bytes a cell: 8 MB at 1M cells), ``indices`` in chunks of `INDEX_CHUNK`, so
  the matrix is never held. A broken index reaches native code (scipy's C++) as an
  out-of-bounds access: a segfault, not an error;
* the counts: present, integer and not negative on a sample of at most
  `SAMPLE_VALUES` stored values (`counts_problem`), read as `SAMPLE_BLOCKS` contiguous
  blocks spread over the file; where ``.X`` holds none, the sources `read_counts` would
  take them from (``.raw.X``, layers named like counts);
* an empty matrix (no cell or no gene) and one that holds no count at all;
* duplicated cell or gene names, labels that are all missing, batches with missing
  values.

`read_counts` checks the same again on the whole matrix when the qc job reads it.
"""

from __future__ import annotations

import numpy as np

from scinterp.errors import ScinterpInputError
from scinterp.io._counts import COUNT_LAYER_NAMES, RAW, count_layer_candidates, counts_problem
from scinterp.io._h5ad import read_index, read_obs_column
from scinterp.io._util import _duplicates, _fmt_list

#: column indices read per block by `sparse_structure_problem`
INDEX_CHUNK = 1 << 24
#: stored values sampled by `value_sample` (as in `counts_problem`)
SAMPLE_VALUES = 1 << 20
#: contiguous blocks the sample is read in (spread over the whole matrix)
SAMPLE_BLOCKS = 16

_REWRITE = (
    "the file is damaged (an interrupted copy or a faulty writer): download or write it "
    "again (anndata: adata.write_h5ad), then rerun."
)


def sparse_format(elem) -> str | None:
    """``'csr'`` or ``'csc'`` for a sparse matrix element (current or legacy attrs),
    None for a dense one."""
    import h5py

    if isinstance(elem, h5py.Dataset):
        return None
    enc = elem.attrs.get("encoding-type", elem.attrs.get("h5sparse_format", ""))
    enc = enc.decode() if isinstance(enc, bytes) else str(enc)
    return enc[:3] if enc[:3] in ("csr", "csc") else None


def matrix_shape(elem) -> tuple[int, int]:
    """(rows, columns) of a matrix element, from its attrs."""
    if sparse_format(elem) is None:
        return tuple(int(n) for n in elem.shape)
    shape = elem.attrs.get("shape", elem.attrs.get("h5sparse_shape"))
    return int(shape[0]), int(shape[1])


def sparse_structure_problem(
    elem, chunk: int = INDEX_CHUNK, *, fmt: str | None = None, shape=None
) -> str | None:
    """Why a sparse matrix element is structurally broken (None when it is sound).

    ``indptr`` must have one entry per row (CSR; per column for CSC) plus one, start at
    0, never decrease and end at the number of stored values (``len(indices)`` and
    ``len(data)``); every index must lie in ``[0, n_columns)``. ``indices`` is read in
    blocks of ``chunk`` values. ``fmt`` and ``shape`` describe a group without anndata's
    attributes (a 10x .h5 ``matrix``: CSC, genes x cells).
    """
    fmt = fmt or sparse_format(elem)
    if fmt is None:
        return None
    for part in ("data", "indices", "indptr"):
        if part not in elem:
            return f"the sparse matrix has no '{part}' array"
    n_rows, n_cols = (int(shape[0]), int(shape[1])) if shape is not None else matrix_shape(elem)
    major, minor = (n_rows, n_cols) if fmt == "csr" else (n_cols, n_rows)
    indptr = elem["indptr"][()]
    indices = elem["indices"]
    nnz = indices.shape[0]
    if indptr.shape[0] != major + 1:
        return f"indptr has {indptr.shape[0]} entries for {major} {'rows' if fmt == 'csr' else 'columns'} (expected {major + 1})"
    if elem["data"].shape[0] != nnz:
        return f"data holds {elem['data'].shape[0]} values but indices {nnz}"
    if indptr[0] != 0 or indptr[-1] != nnz:
        return f"indptr runs from {int(indptr[0])} to {int(indptr[-1])}, not from 0 to {nnz}"
    steps = np.diff(indptr)
    if (steps < 0).any():
        at = int(np.flatnonzero(steps < 0)[0])
        return f"indptr decreases at position {at + 1} ({int(indptr[at])} -> {int(indptr[at + 1])})"
    for start in range(0, nnz, chunk):
        block = indices[start : min(start + chunk, nnz)]
        lo, hi = int(block.min()), int(block.max())
        if lo < 0 or hi >= minor:
            at = int(np.flatnonzero((block < 0) | (block >= minor))[0])
            return (
                f"an index is out of range ({int(block[at])} for {minor} "
                f"{'genes' if fmt == 'csr' else 'cells'}, at stored value {start + at})"
            )
    return None


def stored_values(elem) -> int:
    """Number of stored values: nonzeros of a sparse element, all values of a dense one."""
    if sparse_format(elem) is None:
        return int(np.prod(elem.shape))
    return int(elem["data"].shape[0])


def value_sample(elem, n: int = SAMPLE_VALUES, blocks: int = SAMPLE_BLOCKS) -> np.ndarray:
    """At most ``n`` stored values of a matrix element, read as ``blocks`` contiguous
    blocks spread evenly over it (all of them when there are at most ``n``); for a dense
    element, whole rows spread evenly over the cells."""
    if sparse_format(elem) is not None:
        data = elem["data"]
        total = data.shape[0]
        if total <= n:
            return np.asarray(data[()]).ravel()
        size = n // blocks
        starts = np.linspace(0, total - size, blocks).astype(np.int64)
        return np.concatenate([data[s : s + size] for s in starts])
    n_rows, n_cols = matrix_shape(elem)
    if n_rows * n_cols <= n:
        return np.asarray(elem[()]).ravel()
    k = max(1, min(n_rows, n // max(1, n_cols)))
    rows = np.unique(np.linspace(0, n_rows - 1, k).astype(np.int64))
    return np.asarray(elem[rows, :]).ravel()


def _raw_elements(root):
    """(.raw.X, .raw.var) of the current (``raw/``) or legacy (``raw.X``) layout."""
    if "raw" in root and "X" in root["raw"]:
        return root["raw"]["X"], root["raw"].get("var")
    if "raw.X" in root:
        return root["raw.X"], root.get("raw.var")
    return None, None


def counts_source(root, counts_layer: str | None):
    """Where `read_counts` will take the counts from: ``(where, element, var element)``
    for the first source whose sample holds raw counts (``.X``, then ``.raw.X``, then the
    layers named like counts; the one named by ``counts_layer`` when set), or, when
    none does, ``(None, problems)``: the problem of each source looked in."""
    layers = root["layers"] if "layers" in root else {}
    raw_x, raw_var = _raw_elements(root)
    if counts_layer == RAW and (raw_x is not None or RAW not in layers):
        return (".raw.X", raw_x, raw_var) if raw_x is not None else (None, [])
    if counts_layer is not None:
        if counts_layer not in layers:
            return None, []  # the names check reports the missing layer
        return f"layers['{counts_layer}']", layers[counts_layer], root["var"]
    sources = [(".X", root["X"], root["var"])]
    if raw_x is not None:
        sources.append((".raw.X", raw_x, raw_var))
    sources += [(f"layers['{k}']", layers[k], root["var"]) for k in count_layer_candidates(layers)]
    looked = []
    for where, elem, var in sources:
        problem = counts_problem(value_sample(elem)) if stored_values(elem) else None
        if problem is None:
            return where, elem, var
        looked.append((where, problem))
    return None, looked


def h5ad_input_problems(
    path,
    *,
    dataset: str,
    counts_layer: str | None = None,
    symbol_key: str | None = None,
    label_key: str | None = None,
    batch_key: str | None = None,
    modality: str | None = None,
) -> list[ScinterpInputError]:
    """Every problem of an .h5ad (or one modality of an .h5mu) that can be found before
    compute: a broken sparse matrix, no raw counts (non-integer, negative, NaN), an empty
    or all-zero matrix, duplicated cell or gene names, labels that are all missing,
    batches with missing values (see the module docstring). Obs columns and layers that
    are absent are left to the names check.

    Returns
    -------
    list of ScinterpInputError
        One per problem, each naming the dataset, the file and the fix; empty when the
        input is sound.
    """
    import h5py

    problems: list[ScinterpInputError] = []

    def add(problem: str, fix: str) -> None:
        problems.append(ScinterpInputError(problem, dataset=dataset, path=path, fix=fix))

    with h5py.File(path, "r") as f:
        root = f[f"mod/{modality}"] if modality else f
        if "X" not in root:
            add("the file has no matrix (.X).", "give an AnnData .h5ad with the counts in .X.")
            return problems
        n_obs, n_vars = matrix_shape(root["X"])
        if n_obs == 0 or n_vars == 0:
            add(
                f"the matrix is empty ({n_obs} cells x {n_vars} genes).",
                "give a cells x genes matrix with at least one cell and one gene.",
            )
            return problems
        broken = sparse_structure_problem(root["X"])
        if broken:
            add(f"the sparse matrix .X is broken: {broken}.", _REWRITE)
            return problems
        source = counts_source(root, counts_layer)
        if source[0] is None:
            looked = source[1]
            if looked:
                add(*_no_counts_message(looked, root))
        else:
            where, elem, var = source
            broken = where != ".X" and sparse_structure_problem(elem)
            if broken:
                add(f"the sparse matrix {where} is broken: {broken}.", _REWRITE)
            elif stored_values(elem) == 0 or not value_sample(elem).any():
                if stored_values(elem) <= SAMPLE_VALUES:
                    add(
                        f"the matrix holds no counts: every value of {where} is 0 "
                        f"({n_obs} cells x {n_vars} genes).",
                        "give the count matrix of the cells (check that the file is the "
                        "one meant, and counts_layer).",
                    )
            if symbol_key is None and var is not None:
                dups = _duplicates(read_index(var))
                if dups:
                    add(
                        f"{len(dups)} gene names (var_names) are duplicated, e.g. "
                        f"{_fmt_list(dups[:5])}.",
                        "make them unique with adata.var_names_make_unique() (or use gene "
                        "ids as var_names, or set symbol_key) and write the file again.",
                    )
        dups = _duplicates(read_index(root["obs"]))
        if dups:
            add(
                f"{len(dups)} cell names (obs_names) are duplicated, e.g. {_fmt_list(dups[:5])}.",
                "give every cell a unique name, e.g. adata.obs_names_make_unique() (or "
                "prefix the barcodes with their sample when concatenating) and write the "
                "file again.",
            )
        problems += _obs_problems(root["obs"], dataset, path, label_key, batch_key)
    return problems


def _no_counts_message(looked, root) -> tuple[str, str]:
    """The message when no source holds raw counts: negative counts named as such."""
    first_where, first = looked[0]
    text = "; ".join(f"{w} {p}" for w, p in looked)
    also = f" Looked in: {text}." if len(looked) > 1 else ""
    if "negative" in first:
        problem = (
            f"{first_where} {first}: counts are never negative, so the matrix looks "
            f"batch-corrected, scaled or centred, not raw counts.{also}"
        )
    elif "NaN" in first:
        problem = f"{first_where} {first} where raw counts are expected.{also}"
    else:
        problem = (
            f"no raw integer counts were found: the file looks log-normalized or scaled "
            f"throughout. Looked in: {text}."
        )
    layers = list(root["layers"].keys()) if "layers" in root else []
    return problem, (
        "give the raw integer UMI/read counts (e.g. Cell Ranger's "
        "filtered_feature_bc_matrix.h5, or the atlas download with counts in .raw), or set "
        "counts_layer to the layer holding them ('raw' for .raw.X); layers in the file: "
        f"{_fmt_list(layers)} (searched: {', '.join(COUNT_LAYER_NAMES)} and names with "
        "'count')."
    )


def _obs_problems(obs, dataset, path, label_key, batch_key) -> list[ScinterpInputError]:
    """Labels that are all missing; batches with missing values."""
    from scinterp.io._h5ad import frame_columns

    out = []
    columns = frame_columns(obs)
    if label_key is not None and label_key in columns:
        labels = read_obs_column(obs, label_key)
        named = labels.dropna().astype(str).str.strip()
        if (named.isin(["", "nan", "NaN", "None"])).all():
            out.append(
                ScinterpInputError(
                    f"label_key '{label_key}' holds no label: every one of its "
                    f"{len(labels)} values is missing.",
                    dataset=dataset,
                    path=path,
                    fix=f"set datasets.{dataset}.label_key to the obs column with the cell "
                    "types, or to null (Leiden clusters become the labels).",
                )
            )
    if batch_key is not None and batch_key in columns:
        n = int(read_obs_column(obs, batch_key).isna().sum())
        if n:
            out.append(
                ScinterpInputError(
                    f"batch_key '{batch_key}' is missing for {n} cells.",
                    dataset=dataset,
                    path=path,
                    fix="fill in the batch of every cell, or set batch_key to null.",
                )
            )
    return out


def check_h5ad_structure(path, *, dataset: str | None, modality: str | None = None) -> None:
    """Raise `ScinterpInputError` when a sparse matrix of the file (``.X``, ``.raw.X``, a
    layer) is structurally broken (`sparse_structure_problem`): run before anndata reads
    the file, so that a corrupted index never reaches native code."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError:
        return  # the reader names an unreadable file itself
    with f:
        root = f[f"mod/{modality}"] if modality and f"mod/{modality}" in f else f
        elems = [(".X", root["X"])] if "X" in root else []
        raw_x, _ = _raw_elements(root)
        if raw_x is not None:
            elems.append((".raw.X", raw_x))
        if "layers" in root:
            elems += [(f"layers['{k}']", v) for k, v in root["layers"].items()]
        for where, elem in elems:
            broken = sparse_structure_problem(elem)
            if broken:
                raise ScinterpInputError(
                    f"the sparse matrix {where} is broken: {broken}.",
                    dataset=dataset,
                    path=path,
                    fix=_REWRITE,
                )


def check_10x_structure(path, *, dataset: str | None) -> None:
    """Raise `ScinterpInputError` when the matrix of a Cell Ranger .h5 (v3 ``matrix``
    group, or v2's one group per genome) is structurally broken, before scanpy reads it."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError:
        return  # the reader names an unreadable file itself
    with f:
        groups = [f["matrix"]] if "matrix" in f else [g for g in f.values() if "indptr" in g]
        for g in groups:
            if "shape" not in g:
                continue
            broken = sparse_structure_problem(g, fmt="csc", shape=g["shape"][()])
            if broken:
                raise ScinterpInputError(
                    f"the 10x matrix '{g.name}' is broken: {broken}.",
                    dataset=dataset,
                    path=path,
                    fix="the file is damaged: copy it again from the Cell Ranger output.",
                )
