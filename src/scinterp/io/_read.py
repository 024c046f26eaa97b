"""The readers of the ``qc`` rule: `read_counts` (raw RNA counts of any supported
format) and `read_atac` (the peaks of a multiome file)."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from scipy import sparse

from scinterp.errors import ScinterpInputError
from scinterp.io._counts import _check_names, _select_counts, check_counts
from scinterp.io._formats import (
    _read_10x_h5,
    _read_h5mu_modality,
    _read_mtx_dir,
    detect_format,
    h5_feature_types,
)
from scinterp.io._peaks import read_peaks
from scinterp.io._symbols import _hint_symbol_key, check_species, use_symbols
from scinterp.io._util import _as_csr_float32, _duplicates, _fmt_list

if TYPE_CHECKING:
    from anndata import AnnData

log = logging.getLogger(__package__)


def read_counts(
    path: str | os.PathLike,
    *,
    dataset: str | None,
    counts_layer: str | None = None,
    symbol_key: str | None = None,
    modality: str = "rna",
    species: str | None = None,
) -> AnnData:
    """Read raw counts into an AnnData, with ``.X`` as float32 CSR integer counts.

    Parameters
    ----------
    path
        ``.h5ad``, ``.h5mu`` (the ``modality`` is read), 10x ``.h5`` (gene expression
        only; a multiome ARC matrix's peaks are left to `read_atac`), or a Matrix Market
        directory (``matrix.mtx[.gz]``, ``features.tsv[.gz]`` or ``genes.tsv[.gz]``,
        ``barcodes.tsv[.gz]``).
    dataset
        Dataset name from the config, used in error messages.
    counts_layer
        Layer holding the raw counts (h5ad/h5mu only); ``'raw'`` names ``.raw.X``.
        ``None``: ``.X`` when it holds counts, else the first of ``.raw.X`` and the
        layers named like counts (`COUNT_LAYER_NAMES`) that does (logged).
    symbol_key
        var column holding gene symbols (e.g. CELLxGENE's ``feature_name``); they become
        the var names, the original names are kept in ``var["gene_ids"]`` (see
        `use_symbols`).
    modality
        Modality of an ``.h5mu`` file holding the RNA.
    species
        ``'human'``, ``'mouse'`` or ``None``; the symbols are checked against it
        (`check_species`).

    Returns
    -------
    AnnData with unique cell and gene names and raw counts in ``.X``.

    Raises
    ------
    ScinterpInputError
        Missing file, unknown format, missing layer or modality, no raw counts anywhere,
        negative or non-integer counts, duplicated cell names, an empty matrix, symbols
        of another species.
    """
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
    where = None
    if fmt in ("h5ad", "h5mu"):
        adata = _read_anndata(p, fmt, modality, dataset)
        layers_present = list(adata.layers.keys())
        adata, where = _select_counts(adata, counts_layer, dataset=dataset, path=p)
        # The counts live in .X from here on; other layers would only double the size.
        for key in list(adata.layers.keys()):
            del adata.layers[key]
        if symbol_key is not None:
            adata.X = _as_csr_float32(adata.X)
            use_symbols(adata, symbol_key, dataset=dataset, path=p)
        else:
            _hint_symbol_key(adata, dataset)
    else:
        adata = _read_single_matrix(
            p, fmt, dataset, counts_layer=counts_layer, symbol_key=symbol_key
        )
    _check_matrix_format(adata.X, dataset, p)
    adata.X = _as_csr_float32(adata.X)
    check_counts(
        adata.X,
        dataset=dataset,
        path=p,
        counts_layer=counts_layer,
        layers=layers_present,
        where=where,
    )
    _check_names(adata, dataset=dataset, path=p)
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ScinterpInputError(
            f"the matrix is empty ({adata.n_obs} cells x {adata.n_vars} genes).",
            dataset=dataset,
            path=p,
            fix="give a cells x genes matrix with at least one cell and one gene.",
        )
    check_species(adata.var_names, species, dataset=dataset, path=p)
    return adata


def _read_anndata(p: Path, fmt: str, modality: str, dataset) -> AnnData:
    """An ``.h5ad`` file, or the ``modality`` of an ``.h5mu``, checked before it is read."""
    import anndata as ad

    from scinterp.io._check import check_h5ad_structure

    check_h5ad_structure(p, dataset=dataset, modality=modality if fmt == "h5mu" else None)
    try:
        with warnings.catch_warnings():
            # duplicated names get our own error below, with the fix
            warnings.filterwarnings("ignore", message=".*names are not unique.*")
            return ad.read_h5ad(p) if fmt == "h5ad" else _read_h5mu_modality(p, modality, dataset)
    except ScinterpInputError:
        raise
    except Exception as e:  # noqa: BLE001 - any read failure means a bad file
        raise ScinterpInputError(
            f"could not be read as .{fmt} ({type(e).__name__}: {e}).",
            dataset=dataset,
            path=p,
            fix="write the file with anndata's AnnData.write_h5ad (or mudata's MuData.write_h5mu).",
        ) from e


def _read_single_matrix(p: Path, fmt: str, dataset, *, counts_layer, symbol_key) -> AnnData:
    """A 10x ``.h5`` or a Matrix Market directory: one counts matrix whose var names are
    the gene symbols (duplicated ones made unique)."""
    for key, value in (("counts_layer", counts_layer), ("symbol_key", symbol_key)):
        if value is not None:
            log.warning(
                "dataset '%s': %s '%s' is ignored for a %s input, whose var names "
                "are the gene symbols of a single counts matrix.",
                dataset,
                key,
                value,
                fmt,
            )
    if fmt == "10x_h5":
        from scinterp.io._check import check_10x_structure

        check_10x_structure(p, dataset=dataset)
        adata = _read_10x_h5(p, dataset)
    elif fmt == "mtx":
        adata = _read_mtx_dir(p if p.is_dir() else p.parent, dataset)
    else:
        raise ScinterpInputError(
            "unknown input format.",
            dataset=dataset,
            path=p,
            fix="give an .h5ad file, an .h5mu file, a 10x .h5 file, or a Matrix Market "
            "directory holding matrix.mtx[.gz], features.tsv[.gz] (or genes.tsv) and "
            "barcodes.tsv[.gz].",
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
    return adata


def _check_matrix_format(X, dataset, p: Path) -> None:
    """Indices in range, indptr monotone: a broken matrix must not reach native code."""
    try:
        if sparse.issparse(X) and hasattr(X, "check_format"):
            X.check_format(full_check=True)
    except ValueError as err:
        raise ScinterpInputError(
            f"the count matrix is broken ({err}).",
            dataset=dataset,
            path=p,
            fix="the file is damaged (an interrupted copy or a faulty writer): download or "
            "write it again, then rerun.",
        ) from err


def read_atac(path: str | os.PathLike, *, dataset: str | None, modality: str = "atac") -> AnnData:
    """The cells x peaks counts of a multiome file, with ``var`` columns ``chrom, start, end``.

    Parameters
    ----------
    path
        A Cell Ranger ARC ``filtered_feature_bc_matrix.h5`` (features of type ``Peaks``;
        coordinates from the ``interval`` feature field, else from names like
        ``chr1:100-600``) or an ``.h5mu`` file (the ``modality``; coordinates from var
        columns ``chrom, start, end`` or the names).
    dataset
        Dataset name, for error messages.
    modality
        Modality of an ``.h5mu`` file holding the peaks.

    Returns
    -------
    AnnData the motif branch reads as its ``atac`` input (var ``chrom, start, end`` as
    :func:`read_peaks` gives them).
    """
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "h5mu":
        atac = _read_h5mu_modality(p, modality, dataset, "atac_modality")
    elif fmt == "10x_h5":
        types = h5_feature_types(p)
        if "Peaks" not in types:
            raise ScinterpInputError(
                "the 10x .h5 holds no peaks (feature types present: "
                f"{_fmt_list(types)}), so atac cannot be taken from it.",
                dataset=dataset,
                path=p,
                fix="give the Cell Ranger ARC filtered_feature_bc_matrix.h5 of a multiome run, "
                f"or set datasets.{dataset}.atac to a separate cells x peaks .h5ad.",
            )
        import scanpy as sc

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*names are not unique.*")
            full = sc.read_10x_h5(p, gex_only=False)
        atac = full[:, (full.var["feature_types"] == "Peaks").to_numpy()].copy()
        if "interval" in atac.var.columns:
            # the interval field is the peak's coordinates; the name may be anything
            coords = atac.copy()
            coords.var_names = pd.Index(atac.var["interval"].astype(str))
            table = read_peaks(coords, dataset=dataset, path=p)
            for col in ("chrom", "start", "end"):
                atac.var[col] = table[col].to_numpy()
    else:
        raise ScinterpInputError(
            "atac can be taken from the rna file only when it is a 10x multiome .h5 or an "
            ".h5mu file.",
            dataset=dataset,
            path=p,
            fix=f"set datasets.{dataset}.atac to a cells x peaks .h5ad instead of from_rna.",
        )
    table = read_peaks(atac, dataset=dataset, path=p)  # coordinates or a clear error
    for col in ("chrom", "start", "end"):
        atac.var[col] = table[col].to_numpy()
    atac.X = _as_csr_float32(atac.X)
    if atac.n_vars == 0:
        raise ScinterpInputError(
            "the peaks matrix is empty.",
            dataset=dataset,
            path=p,
            fix="give a multiome file whose atac part holds peaks.",
        )
    return atac
