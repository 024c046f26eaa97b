"""Input formats: detection by path, 10x ``.h5``, Matrix Market directories, and the
modalities of ``.h5mu`` files."""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path

import pandas as pd
from scipy import sparse

from scinterp.errors import ScinterpInputError
from scinterp.io._util import _fmt_list

_MTX_NAMES = ("matrix.mtx.gz", "matrix.mtx")


_FEATURE_NAMES = ("features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv")


_BARCODE_NAMES = ("barcodes.tsv.gz", "barcodes.tsv")


def detect_format(path: str | os.PathLike) -> str:
    """Return ``'h5ad'``, ``'h5mu'``, ``'10x_h5'`` or ``'mtx'`` for a path, or ``'unknown'``.

    A directory is a Matrix Market directory; a file named ``*.mtx[.gz]`` stands for
    the directory that holds it.
    """
    p = Path(path)
    name = p.name.lower()
    if p.is_dir() or name.endswith((".mtx", ".mtx.gz")):
        return "mtx"
    if name.endswith(".h5ad"):
        return "h5ad"
    if name.endswith(".h5mu"):
        return "h5mu"
    if name.endswith(".h5"):
        return "10x_h5"
    return "unknown"


def h5mu_modalities(path) -> list[str]:
    """Modality names of an ``.h5mu`` file (its ``/mod`` group), without reading data."""
    import h5py

    with h5py.File(path, "r") as f:
        return list(f["mod"].keys()) if "mod" in f else []


def h5_feature_types(path) -> list[str]:
    """Feature types of a Cell Ranger ``.h5`` matrix (``Gene Expression``, ``Peaks``...),
    without reading the matrix; ``[]`` for the legacy (v2) layout."""
    import h5py

    with h5py.File(path, "r") as f:
        if "matrix/features/feature_type" not in f:
            return []
        types = f["matrix/features/feature_type"][()]
    return list(dict.fromkeys(t.decode() if isinstance(t, bytes) else str(t) for t in types))


def require_h5mu_modality(path, modality: str, dataset, key: str) -> None:
    """Raise `ScinterpInputError` when the ``.h5mu`` file has no modality ``modality``;
    ``key`` names the config key that chose it (``rna_modality``, ``atac_modality``)."""
    present = h5mu_modalities(path)
    if modality not in present:
        extra = (
            ", or give the peaks as a separate cells x peaks .h5ad under atac"
            if key == "atac_modality"
            else ""
        )
        raise ScinterpInputError(
            f"the .h5mu file has no modality '{modality}'; modalities present: "
            f"{_fmt_list(present)}.",
            dataset=dataset,
            path=path,
            fix=f"set datasets.{dataset}.{key} to the modality holding that data{extra}.",
        )


def _read_h5mu_modality(p: Path, modality: str, dataset, key: str = "rna_modality"):
    import mudata

    require_h5mu_modality(p, modality, dataset, key)
    return mudata.read_h5ad(p, mod=modality)


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
