"""Reading count matrices and writing outputs atomically.

`read_counts` accepts an ``.h5ad`` file, a 10x ``.h5`` file or a Matrix Market
directory (detected by path) and returns an AnnData whose ``.X`` holds the raw
integer counts as float32 CSR. Bad input raises `ScinterpInputError` naming the
dataset, the file and the fix.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from scinterp.errors import ScinterpInputError

if TYPE_CHECKING:
    from anndata import AnnData

log = logging.getLogger(__name__)

# Checking every nonzero of a large matrix for integrality costs a full copy;
# a seeded random sample of this size finds log-normalized data with certainty.
_N_CHECK = 1_000_000
# Distance to the nearest integer still taken for a count (float noise, not data).
_INT_TOL = 1e-3

_MTX_NAMES = ("matrix.mtx.gz", "matrix.mtx")
_FEATURE_NAMES = ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv")
_BARCODE_NAMES = ("barcodes.tsv.gz", "barcodes.tsv")


def detect_format(path: str | os.PathLike) -> str:
    """Return ``'h5ad'``, ``'10x_h5'`` or ``'mtx'`` for a path, or ``'unknown'``.

    A directory is a Matrix Market directory; a file named ``*.mtx[.gz]`` stands for
    the directory that holds it.
    """
    p = Path(path)
    name = p.name.lower()
    if p.is_dir() or name.endswith((".mtx", ".mtx.gz")):
        return "mtx"
    if name.endswith(".h5ad"):
        return "h5ad"
    if name.endswith(".h5"):
        return "10x_h5"
    return "unknown"


def read_counts(
    path: str | os.PathLike, *, dataset: str | None, counts_layer: str | None = None
) -> AnnData:
    """Read raw counts into an AnnData, with ``.X`` as float32 CSR integer counts.

    Parameters
    ----------
    path
        ``.h5ad``, 10x ``.h5``, or a Matrix Market directory (``matrix.mtx[.gz]``,
        ``features.tsv[.gz]`` or ``genes.tsv[.gz]``, ``barcodes.tsv[.gz]``).
    dataset
        Dataset name from the config, used in error messages.
    counts_layer
        Layer holding the raw counts (h5ad only); ``None`` means ``.X``.

    Returns
    -------
    AnnData with unique cell and gene names and raw counts in ``.X``.

    Raises
    ------
    ScinterpInputError
        Missing file, unknown format, missing layer, negative or non-integer
        counts, duplicated cell or gene names, an empty matrix.
    """
    import anndata as ad

    p = Path(path)
    if not p.exists():
        raise ScinterpInputError(
            "the input file does not exist.",
            dataset=dataset,
            path=p,
            fix=f"check the 'rna' path of dataset '{dataset}' in your config "
            "(relative paths are relative to the directory snakemake runs in).",
        )
    fmt = detect_format(p)
    layers_present: list[str] = []
    if fmt == "h5ad":
        try:
            with warnings.catch_warnings():
                # duplicated names get our own error below, with the fix
                warnings.filterwarnings("ignore", message=".*names are not unique.*")
                adata = ad.read_h5ad(p)
        except Exception as e:  # noqa: BLE001 - any read failure means a bad file
            raise ScinterpInputError(
                f"could not be read as .h5ad ({type(e).__name__}: {e}).",
                dataset=dataset,
                path=p,
                fix="write the file with anndata's AnnData.write_h5ad.",
            ) from e
        layers_present = list(adata.layers.keys())
        if counts_layer is not None:
            if counts_layer not in adata.layers:
                raise ScinterpInputError(
                    f"counts_layer '{counts_layer}' is not a layer of the file; "
                    f"layers present: {_fmt_list(adata.layers.keys())}.",
                    dataset=dataset,
                    path=p,
                    fix="set counts_layer to one of the layers present, or to null to use .X.",
                )
            adata.X = adata.layers[counts_layer]
        # The counts live in .X from here on; other layers would only double the size.
        for key in list(adata.layers.keys()):
            del adata.layers[key]
    else:
        if counts_layer is not None:
            log.warning(
                "dataset '%s': counts_layer '%s' is ignored for a %s input, "
                "which holds a single counts matrix.",
                dataset,
                counts_layer,
                fmt,
            )
        if fmt == "10x_h5":
            adata = _read_10x_h5(p, dataset)
        elif fmt == "mtx":
            adata = _read_mtx_dir(p if p.is_dir() else p.parent, dataset)
        else:
            raise ScinterpInputError(
                "unknown input format.",
                dataset=dataset,
                path=p,
                fix="give an .h5ad file, a 10x .h5 file, or a Matrix Market directory "
                "holding matrix.mtx[.gz], features.tsv[.gz] (or genes.tsv) and barcodes.tsv[.gz].",
            )
        # 10x references carry a few duplicated gene symbols by design (the gene ids
        # are unique), and the user cannot edit these files: suffix them like scanpy.
        if not adata.var_names.is_unique:
            dups = _duplicates(adata.var_names)
            log.warning(
                "dataset '%s': %d duplicated gene symbols in %s (e.g. %s) made unique "
                "with var_names_make_unique ('-1', '-2' suffixes).",
                dataset,
                len(dups),
                p,
                _fmt_list(dups[:5]),
            )
            adata.var_names_make_unique()

    adata.X = _as_csr_float32(adata.X)
    check_counts(adata.X, dataset=dataset, path=p, counts_layer=counts_layer, layers=layers_present)
    _check_names(adata, dataset=dataset, path=p)
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ScinterpInputError(
            f"the matrix is empty ({adata.n_obs} cells x {adata.n_vars} genes).",
            dataset=dataset,
            path=p,
            fix="give a cells x genes matrix with at least one cell and one gene.",
        )
    return adata


def check_counts(
    X,
    *,
    dataset: str | None,
    path,
    counts_layer: str | None = None,
    layers: list[str] | None = None,
) -> None:
    """Raise if ``X`` holds negative or non-integer values.

    Values within 1e-3 of an integer count as counts carrying floating-point noise
    and are rounded in place (``X`` must then be a sparse matrix or an array).

    Integrality is checked on a seeded sample of at most a million stored values
    (log-normalized or scaled data fail it at once), negative values on all of them.
    """
    data = X.data if sparse.issparse(X) else np.asarray(X).ravel()
    if data.size == 0:
        return
    where = f"layers['{counts_layer}']" if counts_layer else ".X"
    layer_hint = (
        f" Layers in the file: {_fmt_list(layers)}." if layers else " The file has no layers."
    )
    if not np.isfinite(data).all():
        raise ScinterpInputError(
            f"{where} holds NaN or infinite values where raw counts are expected.",
            dataset=dataset,
            path=path,
            fix="give raw integer UMI/read counts (set counts_layer to the layer that holds "
            "them)." + layer_hint,
        )
    sample = data
    if data.size > _N_CHECK:
        rng = np.random.default_rng(0)
        sample = data[rng.integers(0, data.size, _N_CHECK)]
    dev = np.abs(sample - np.rint(sample))
    frac = dev > _INT_TOL
    if frac.any():
        example = float(sample[frac][0])
        raise ScinterpInputError(
            f"{where} holds non-integer values (e.g. {example:.4g}) where raw counts are "
            "expected; it looks log-normalized or scaled.",
            dataset=dataset,
            path=path,
            fix="set counts_layer to the layer holding the raw integer counts (e.g. 'counts'), "
            "or give the raw count matrix." + layer_hint,
        )
    if dev.any():
        # Counts that went through float arithmetic (e.g. expm1 of log data times a
        # size factor) carry ~1e-14 noise; they are counts, rounded in place.
        log.warning(
            "dataset '%s': %s holds counts with floating-point noise (|x - round(x)| <= %g); "
            "rounded to integers.",
            dataset,
            where,
            _INT_TOL,
        )
        np.rint(data, out=data)
    if data.min() < 0:
        raise ScinterpInputError(
            f"{where} holds negative values (min {float(data.min()):.3g}) where raw counts "
            "are expected; the data look scaled or corrected.",
            dataset=dataset,
            path=path,
            fix="give raw integer counts: set counts_layer to the layer that holds them."
            + layer_hint,
        )


def validate_obs_keys(
    adata,
    dataset: str | None,
    path,
    label_key: str | None = None,
    batch_key: str | None = None,
) -> None:
    """Raise if ``label_key`` or ``batch_key`` is not an obs column (lists those present)."""
    for what, key in (("label_key", label_key), ("batch_key", batch_key)):
        if key is None or key in adata.obs.columns:
            continue
        raise ScinterpInputError(
            f"{what} '{key}' is not a column of obs; columns present: "
            f"{_fmt_list(adata.obs.columns)}.",
            dataset=dataset,
            path=path,
            fix=f"set {what} of dataset '{dataset}' to one of the columns present, "
            f"or to null ({'Leiden clusters become the labels' if what == 'label_key' else 'one batch'}).",
        )
    if batch_key is not None and adata.obs[batch_key].isna().any():
        n = int(adata.obs[batch_key].isna().sum())
        raise ScinterpInputError(
            f"batch_key '{batch_key}' is missing for {n} cells.",
            dataset=dataset,
            path=path,
            fix="fill in the batch of every cell, or set batch_key to null.",
        )


# --- atomic writers: outputs appear complete or not at all ---------------------------


def _atomic(path: str | os.PathLike, suffix: str, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_h5ad_atomic(adata, path: str | os.PathLike) -> None:
    """Write an AnnData to a temporary file next to ``path``, then rename it into place."""
    _atomic(path, ".h5ad", lambda tmp: adata.write_h5ad(tmp))


def write_tsv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table tab-separated with a header and no index, atomically."""
    _atomic(path, ".tsv", lambda tmp: df.to_csv(tmp, sep="\t", index=False))


def write_figure_atomic(fig, path: str | os.PathLike, **kwargs) -> None:
    """Save a matplotlib figure atomically (format from the extension of ``path``)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    kwargs.setdefault("dpi", 120)
    kwargs.setdefault("bbox_inches", "tight")
    _atomic(path, "." + fmt, lambda tmp: fig.savefig(tmp, format=fmt, **kwargs))


# --- readers -----------------------------------------------------------------------


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


def read_normalized(path: str | os.PathLike, layers=(), var_names=None):
    """``normalized.h5ad`` with only the ``layers`` asked for (``X``, obs, var, uns, obsm
    always): a model that needs no raw counts does not hold a second copy of the matrix.

    ``var_names``: keep only these genes (in the file's order). The matrices are then
    read in row chunks and cut to those columns chunk by chunk, so an atlas's full
    cells x genes matrix is never held (a model on 2,000 of 20,000 genes holds about a
    third of it).
    """
    import anndata as ad
    import h5py
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        parts = {k: read_elem(f[k]) for k in ("obs", "var", "uns", "obsm") if k in f}
        present = [k for k in layers if "layers" in f and k in f["layers"]]
        if var_names is None:
            parts["X"] = read_elem(f["X"])
            parts["layers"] = {k: read_elem(f["layers"][k]) for k in present}
        else:
            var = parts["var"]
            cols = np.unique(var.index.get_indexer(pd.Index(list(var_names))))
            if len(cols) and cols[0] < 0:
                missing = sorted(set(map(str, var_names)) - set(map(str, var.index)))
                raise KeyError(f"{path}: genes not in var: {missing[:5]}")
            parts["var"] = var.iloc[cols]
            parts["X"] = _read_columns(f["X"], cols)
            parts["layers"] = {k: _read_columns(f["layers"][k], cols) for k in present}
    return ad.AnnData(**parts)


def read_rows(path: str | os.PathLike, rows):
    """Rows ``rows`` of an .h5ad's ``X`` (in the order given, repeats allowed), reading
    only those rows.

    ``anndata.read_h5ad(backed="r")`` keeps only ``X`` on disk but loads every layer, so
    on an atlas it reads the counts layer whole; this reads what it is asked for.
    """
    import h5py
    from anndata.io import sparse_dataset

    # h5py and the backed matrix read distinct rows in increasing order
    wanted, back = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
    with h5py.File(path, "r") as f:
        elem = f["X"]
        if elem.attrs.get("encoding-type", "array") in ("csr_matrix", "csc_matrix"):
            X = sparse_dataset(elem)[wanted]
        else:
            X = elem[wanted] if len(wanted) else np.zeros((0, elem.shape[1]), elem.dtype)
    return X[back]


def _read_columns(elem, cols: np.ndarray, chunk_values: int = 1 << 25):
    """Columns ``cols`` (sorted) of an h5ad matrix element, read in row chunks."""
    from anndata.io import read_elem, sparse_dataset

    encoding = elem.attrs.get("encoding-type", "array")
    if encoding == "csr_matrix":
        backed = sparse_dataset(elem)
        n_rows = backed.shape[0]
        per_row = max(1.0, elem["data"].shape[0] / max(1, n_rows))
        step = max(1, int(chunk_values / per_row))
        blocks = [backed[r : r + step][:, cols] for r in range(0, n_rows, step)]
        if not blocks:
            return sparse.csr_matrix((0, len(cols)), dtype=elem["data"].dtype)
        out = sparse.vstack(blocks, format="csr")
        out.sort_indices()
        return out
    if encoding == "array":
        n_rows, n_cols = elem.shape
        step = max(1, chunk_values // max(1, n_cols))
        return np.concatenate(
            [elem[r : r + step][:, cols] for r in range(0, max(n_rows, 1), step)], axis=0
        )
    return read_elem(elem)[:, cols]  # CSC or other encodings: whole, then cut


def _read_10x_h5(p: Path, dataset):
    import scanpy as sc

    try:
        with warnings.catch_warnings():
            # duplicated symbols are handled (and logged) by the caller
            warnings.filterwarnings("ignore", message=".*names are not unique.*")
            return sc.read_10x_h5(p, gex_only=True)
    except Exception as e:  # noqa: BLE001
        raise ScinterpInputError(
            f"could not be read as a 10x .h5 file ({type(e).__name__}: {e}).",
            dataset=dataset,
            path=p,
            fix="give the filtered_feature_bc_matrix.h5 written by Cell Ranger, "
            "or convert the data to .h5ad.",
        ) from e


def _find(d: Path, names) -> Path | None:
    for n in names:
        if (d / n).exists():
            return d / n
    return None


def _open_text(p: Path):
    return gzip.open(p, "rt") if p.name.endswith(".gz") else open(p)


def _read_mtx_dir(d: Path, dataset):
    """Matrix Market directory: Cell Ranger v2 (genes.tsv) or v3 (features.tsv.gz) layout."""
    import anndata as ad
    from scipy.io import mmread

    mtx, feats, bcs = _find(d, _MTX_NAMES), _find(d, _FEATURE_NAMES), _find(d, _BARCODE_NAMES)
    missing = [
        what
        for what, f in (
            ("matrix.mtx[.gz]", mtx),
            ("features.tsv[.gz] or genes.tsv[.gz]", feats),
            ("barcodes.tsv[.gz]", bcs),
        )
        if f is None
    ]
    if missing:
        raise ScinterpInputError(
            f"the Matrix Market directory lacks {', '.join(missing)}.",
            dataset=dataset,
            path=d,
            fix="give a directory holding matrix.mtx[.gz], features.tsv[.gz] (or genes.tsv) "
            "and barcodes.tsv[.gz], as written by Cell Ranger.",
        )
    try:
        with _open_text(mtx) as fh:
            m = sparse.csr_matrix(mmread(fh))
        genes = pd.read_csv(feats, sep="\t", header=None, dtype=str)
        barcodes = pd.read_csv(bcs, sep="\t", header=None, dtype=str)[0]
    except Exception as e:  # noqa: BLE001
        raise ScinterpInputError(
            f"could not be read as a Matrix Market directory ({type(e).__name__}: {e}).",
            dataset=dataset,
            path=d,
            fix="check that matrix.mtx is a Matrix Market file and the .tsv files are tab-separated.",
        ) from e
    # Cell Ranger writes genes x cells.
    if m.shape == (len(genes), len(barcodes)):
        m = m.T.tocsr()
    elif m.shape != (len(barcodes), len(genes)):
        raise ScinterpInputError(
            f"matrix shape {m.shape} does not match {len(genes)} features and "
            f"{len(barcodes)} barcodes.",
            dataset=dataset,
            path=d,
            fix="give the matrix.mtx, features and barcodes files of the same run.",
        )
    var = pd.DataFrame(index=pd.Index(genes[0].values))
    if genes.shape[1] >= 2:
        var["gene_ids"] = genes[0].values
        var.index = pd.Index(genes[1].values)
    if genes.shape[1] >= 3:
        var["feature_types"] = genes[2].values
        gex = (var["feature_types"] == "Gene Expression").to_numpy()
        if gex.any():  # like scanpy's gex_only: drop antibody capture, CRISPR guides
            var, m = var[gex], m[:, gex]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*names are not unique.*")
        adata = ad.AnnData(X=m, obs=pd.DataFrame(index=pd.Index(barcodes.values)), var=var)
    adata.var.index.name = None
    return adata


# --- helpers -----------------------------------------------------------------------


def _as_csr_float32(X):
    if isinstance(X, sparse.csr_matrix):
        pass  # as read: re-wrapping would turn the arrays into views of themselves
    elif sparse.issparse(X):
        X = sparse.csr_matrix(X)
    elif hasattr(X, "to_memory"):  # backed or lazy arrays
        X = sparse.csr_matrix(X.to_memory())
    else:
        X = sparse.csr_matrix(np.asarray(X))
    if X.dtype != np.float32:
        X = X.astype(np.float32)
    _common_index_dtype(X)
    X.eliminate_zeros()
    X.sort_indices()
    return X


def _common_index_dtype(X) -> None:
    """Give ``indices`` and ``indptr`` one integer type, in place (scipy needs it).

    Writers differ (an int64 ``indptr`` with int32 ``indices`` is common in large
    files): the small ``indptr`` is cast down when the counts allow it, so the large
    ``indices`` array is never copied to a wider type.
    """
    if X.indices.dtype == X.indptr.dtype:
        return
    nnz = int(X.indptr[-1]) if len(X.indptr) else 0
    if X.indices.dtype == np.int32 and nnz < np.iinfo(np.int32).max:
        X.indptr = X.indptr.astype(np.int32)
    else:
        X.indices = X.indices.astype(np.int64)
        X.indptr = X.indptr.astype(np.int64)


def _duplicates(index) -> list[str]:
    idx = pd.Index(index)
    return [str(x) for x in idx[idx.duplicated()].unique()]


def _check_names(adata, *, dataset, path) -> None:
    if not adata.obs_names.is_unique:
        dups = _duplicates(adata.obs_names)
        raise ScinterpInputError(
            f"{len(dups)} cell names (obs_names) are duplicated, e.g. {_fmt_list(dups[:5])}.",
            dataset=dataset,
            path=path,
            fix="give every cell a unique name, e.g. adata.obs_names_make_unique() "
            "(or prefix the barcodes with their sample when concatenating) and write the file again.",
        )
    if not adata.var_names.is_unique:
        dups = _duplicates(adata.var_names)
        raise ScinterpInputError(
            f"{len(dups)} gene names (var_names) are duplicated, e.g. {_fmt_list(dups[:5])}.",
            dataset=dataset,
            path=path,
            fix="make them unique with adata.var_names_make_unique() (or use gene ids as "
            "var_names) and write the file again.",
        )


def _fmt_list(items) -> str:
    items = [str(x) for x in items]
    if not items:
        return "(none)"
    shown = ", ".join(f"'{x}'" for x in items[:20])
    return shown + (f", ... ({len(items)} in all)" if len(items) > 20 else "")
