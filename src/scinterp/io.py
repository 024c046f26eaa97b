"""Reading count matrices and writing outputs atomically.

`read_counts` accepts an ``.h5ad`` file, a 10x ``.h5`` file (Cell Ranger, including
the multiome ARC matrix), a MuData ``.h5mu`` file or a Matrix Market directory
(detected by path) and returns an AnnData whose ``.X`` holds the raw integer counts as
float32 CSR. Where the counts are not in ``.X`` and the config names no source, they
are looked for in ``.raw.X`` and in layers named like ``counts``. With ``symbol_key``
the gene symbols of a var column become the var names (atlas files keep Ensembl IDs
there). `read_atac` takes the peaks of the same multiome file. Bad input raises
`ScinterpInputError` naming the dataset, the file and the fix.
"""

from __future__ import annotations

import gzip
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from scinterp.errors import ScinterpInputError

if TYPE_CHECKING:
    from collections.abc import Iterator

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

#: ``counts_layer`` value that names ``.raw.X`` (a layer of that name is used only
#: where the file has no ``.raw``).
RAW = "raw"
# Layers searched for counts when .X holds none and the config names no source, in this
# order; after them any other layer whose name holds "count" (sorted).
COUNT_LAYER_NAMES = ("counts", "raw_counts", "rawcounts", "count", "umi_counts", "umis", "raw")
# var columns that usually hold gene symbols (named in the hint for Ensembl-ID var names)
SYMBOL_COLUMNS = ("feature_name", "gene_symbols", "gene_symbol", "gene_name", "symbol", "symbols")
_ENSEMBL_ID = r"^ENS[A-Z]*G\d{6,}(\.\d+)?$"


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
    where = None
    if fmt in ("h5ad", "h5mu"):
        try:
            with warnings.catch_warnings():
                # duplicated names get our own error below, with the fix
                warnings.filterwarnings("ignore", message=".*names are not unique.*")
                adata = (
                    ad.read_h5ad(p) if fmt == "h5ad" else _read_h5mu_modality(p, modality, dataset)
                )
        except ScinterpInputError:
            raise
        except Exception as e:  # noqa: BLE001 - any read failure means a bad file
            raise ScinterpInputError(
                f"could not be read as .{fmt} ({type(e).__name__}: {e}).",
                dataset=dataset,
                path=p,
                fix="write the file with anndata's AnnData.write_h5ad (or mudata's "
                "MuData.write_h5mu).",
            ) from e
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


# --- where the counts are --------------------------------------------------------


def counts_problem(X) -> str | None:
    """Why ``X`` is not a raw count matrix (``None`` when it is one).

    The same test as `check_counts` (integer values within 1e-3, none negative, on a
    seeded sample of at most a million stored values), without changing ``X``.
    """
    if hasattr(X, "to_memory"):
        X = X.to_memory()
    data = X.data if sparse.issparse(X) else np.asarray(X).ravel()
    if data.size == 0:
        return None
    sample = data
    if data.size > _N_CHECK:
        rng = np.random.default_rng(0)
        sample = data[rng.integers(0, data.size, _N_CHECK)]
    if not np.isfinite(sample).all():
        return "holds NaN or infinite values"
    frac = np.abs(sample - np.rint(sample)) > _INT_TOL
    if frac.any():
        return f"holds non-integer values (e.g. {float(sample[frac][0]):.4g})"
    if sample.min() < 0:
        return f"holds negative values (min {float(sample.min()):.3g})"
    return None


def count_layer_candidates(layers) -> list[str]:
    """Layers searched for counts, in order: `COUNT_LAYER_NAMES` (case-insensitive),
    then any other layer whose name holds "count", sorted."""
    layers = [str(k) for k in layers]
    by_lower = {k.lower(): k for k in layers}
    first = [by_lower[n] for n in COUNT_LAYER_NAMES if n in by_lower]
    rest = sorted(k for k in layers if "count" in k.lower() and k not in first)
    return first + rest


def _select_counts(adata, counts_layer, *, dataset, path):
    """``adata`` with the raw counts in ``.X`` and where they came from (see read_counts)."""
    has_raw = adata.raw is not None
    layers = list(adata.layers.keys())
    if counts_layer == RAW and (has_raw or RAW not in layers):
        if not has_raw:
            raise ScinterpInputError(
                f"counts_layer '{RAW}' names .raw.X, but the file has no .raw and no layer "
                f"'{RAW}'; layers present: {_fmt_list(layers)}.",
                dataset=dataset,
                path=path,
                fix="set counts_layer to the layer holding the raw counts, or to null to "
                "let scinterp find them.",
            )
        return _from_raw(adata), ".raw.X"
    if counts_layer is not None:
        if counts_layer not in adata.layers:
            raise ScinterpInputError(
                f"counts_layer '{counts_layer}' is not a layer of the file; "
                f"layers present: {_fmt_list(layers)}"
                + ("; the file also has .raw (counts_layer: raw)." if has_raw else "."),
                dataset=dataset,
                path=path,
                fix="set counts_layer to one of the layers present, or to null to use .X "
                "(or the counts scinterp finds).",
            )
        adata.X = adata.layers[counts_layer]
        return adata, f"layers['{counts_layer}']"

    problem = counts_problem(adata.X)
    if problem is None:
        return adata, ".X"
    looked = [f".X {problem}"]
    candidates = count_layer_candidates(layers)
    sources = ([(".raw.X", None)] if has_raw else []) + [(f"layers['{k}']", k) for k in candidates]
    for where, key in sources:
        found = counts_problem(adata.raw.X if key is None else adata.layers[key])
        if found is None:
            log.info(
                "dataset '%s': .X of %s holds no raw counts (%s); the counts are taken from "
                "%s (set counts_layer to choose another source).",
                dataset,
                path,
                problem,
                where,
            )
            if key is None:
                return _from_raw(adata), where
            adata.X = adata.layers[key]
            return adata, where
        looked.append(f"{where} {found}")
    if not has_raw:
        looked.append(".raw is absent")
    if not candidates:
        looked.append(
            "no layer is named like counts ("
            + ", ".join(COUNT_LAYER_NAMES)
            + ", or any name holding 'count')"
        )
    others = [k for k in layers if k not in candidates]
    raise ScinterpInputError(
        "no raw integer counts were found: the file looks log-normalized or scaled "
        "throughout. Looked in: "
        + "; ".join(looked)
        + (f". Other layers (not searched): {_fmt_list(others)}." if others else "."),
        dataset=dataset,
        path=path,
        fix="give the raw integer UMI/read counts: the unnormalized file (e.g. Cell Ranger's "
        "filtered_feature_bc_matrix.h5, or the atlas download with counts in .raw), or set "
        "counts_layer to the layer holding them ('raw' for .raw.X).",
    )


def _from_raw(adata):
    """An AnnData of ``.raw``: its counts, its genes, the cells' obs and embeddings. var
    columns that only ``.var`` has are carried over for the genes both hold."""
    import anndata as ad

    raw = adata.raw
    var = raw.var.copy()
    if adata.var_names.is_unique and raw.var_names.is_unique:
        extra = adata.var.reindex(raw.var_names)
        for col in adata.var.columns:
            if col not in var.columns:
                var[col] = extra[col].to_numpy()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*names are not unique.*")
        return ad.AnnData(
            X=raw.X,
            obs=adata.obs,
            var=var,
            uns=dict(adata.uns),
            obsm=dict(adata.obsm),
            obsp=dict(adata.obsp),
        )


# --- gene symbols and species ---------------------------------------------------


def use_symbols(adata, symbol_key: str, *, dataset=None, path=None) -> None:
    """Make the gene symbols of ``var[symbol_key]`` the var names, in place.

    The original var names (e.g. Ensembl IDs) are kept in ``var["gene_ids"]`` (in
    ``var["var_names_original"]`` when the file already has a ``gene_ids`` column). A gene
    without a symbol keeps its original name. Of genes sharing a symbol, the one with
    the most counts in ``.X`` keeps the plain symbol (gene sets and TF lists name that
    one) and the others become ``SYMBOL_ID`` (``TBCE_ENSG00000284770``): the name says
    which gene it is, unlike a ``-1`` suffix. The log says how many of each.
    """
    if symbol_key not in adata.var.columns:
        raise ScinterpInputError(
            f"symbol_key '{symbol_key}' is not a column of var; columns present: "
            f"{_fmt_list(adata.var.columns)}.",
            dataset=dataset,
            path=path,
            fix=f"set symbol_key of dataset '{dataset}' to the var column holding gene symbols "
            "(CELLxGENE files: feature_name), or to null to keep the var names.",
        )
    ids = pd.Index(adata.var_names.astype(str))
    raw = adata.var[symbol_key]
    symbols = raw.astype(object).where(raw.notna(), None).to_numpy()
    symbols = np.array(
        [
            str(s).strip() if s is not None and str(s).strip() not in ("", "nan") else None
            for s in symbols
        ],
        dtype=object,
    )
    missing = np.array([s is None for s in symbols])
    names = np.where(missing, ids.to_numpy(dtype=object), symbols)
    totals = np.asarray(adata.X.sum(axis=0)).ravel() if adata.n_obs else np.zeros(len(ids))
    table = pd.DataFrame({"name": names, "total": -totals, "pos": np.arange(len(ids))})
    table = table.sort_values(["name", "total", "pos"], kind="stable")
    loser = table.duplicated("name", keep="first").reindex(np.arange(len(ids))).to_numpy()
    dup_symbols = sorted(set(names[loser]))
    names = np.where(loser, [f"{n}_{i}" for n, i in zip(names, ids, strict=True)], names)
    id_col = "gene_ids" if "gene_ids" not in adata.var.columns else "var_names_original"
    adata.var[id_col] = ids.to_numpy()
    adata.var_names = pd.Index(names.astype(str))
    if not adata.var_names.is_unique:  # SYMBOL_ID met an existing name: scanpy's suffixes
        adata.var_names_make_unique()
    log.info(
        "dataset '%s': var names are the symbols of var['%s'] (the original names are kept "
        "in var['%s']); %d gene(s) without a symbol keep their original name; %d symbol(s) "
        "shared by several genes (e.g. %s): the gene with the most counts keeps the symbol, "
        "the others are named SYMBOL_ID.",
        dataset,
        symbol_key,
        id_col,
        int(missing.sum()),
        len(dup_symbols),
        _fmt_list(dup_symbols[:5]),
    )


def _hint_symbol_key(adata, dataset) -> None:
    names = pd.Index(adata.var_names.astype(str))
    if len(names) == 0 or names.str.match(_ENSEMBL_ID).mean() < 0.5:
        return
    cols = [c for c in adata.var.columns if str(c).lower() in SYMBOL_COLUMNS]
    log.warning(
        "dataset '%s': the var names are Ensembl IDs (e.g. %s), which gene sets, TF lists "
        "and JASPAR names do not match; set symbol_key to the var column of gene symbols%s.",
        dataset,
        _fmt_list(names[:3]),
        f" ({_fmt_list(cols)} found)" if cols else "",
    )


# Symbol case styles: human (HGNC) symbols are upper case (GAPDH, MT-CO1), mouse (MGI)
# ones capitalised (Gapdh, mt-Co1). Names of neither style (IDs, 1700001C19Rik, C1orf112,
# AC012345.1) are not counted.
_HUMAN_STYLE = r"^[A-Z][A-Z0-9-]*[A-Z][A-Z0-9-]*$"
_MOUSE_STYLE = r"^(?:[A-Z]|mt-[A-Z])[a-z0-9-]*[a-z][a-z0-9-]*$"
_ORF = r"^C\w+orf\d+$"
#: fewer classified symbols than this (a panel, a toy network) are not judged
MIN_SYMBOLS_FOR_SPECIES = 50
#: each style above this fraction of the classified symbols: mixed species
MIXED_FRACTION = 0.2
SPECIES = ("human", "mouse")


def symbol_styles(genes) -> tuple[int, int]:
    """Numbers of human-style (upper case) and mouse-style (capitalised) symbols."""
    names = pd.Series(pd.Index(genes).astype(str))
    names = names[~names.str.match(_ENSEMBL_ID) & ~names.str.match(_ORF)]
    return int(names.str.match(_HUMAN_STYLE).sum()), int(names.str.match(_MOUSE_STYLE).sum())


def check_species(genes, species: str | None, *, dataset=None, path=None) -> None:
    """Raise when the gene symbols mix human and mouse styles, or are not of ``species``.

    Human symbols are upper case, mouse ones capitalised. With at least
    `MIN_SYMBOLS_FOR_SPECIES` symbols of either style: more than `MIXED_FRACTION` of each
    is a mixture (a barnyard reference, a merge of two species' files); for a stated
    species, a majority of the other style is the wrong species. ``species=None`` only
    checks the mixture (and logs a hint when the symbols look mouse).
    """
    n_human, n_mouse = symbol_styles(genes)
    n = n_human + n_mouse
    if n < MIN_SYMBOLS_FOR_SPECIES:
        return
    f_human, f_mouse = n_human / n, n_mouse / n
    described = (
        f"{n_human} of {n} symbols are human-style upper case (GAPDH) and {n_mouse} "
        f"mouse-style capitalised (Gapdh)"
    )
    if min(f_human, f_mouse) > MIXED_FRACTION:
        raise ScinterpInputError(
            f"the gene symbols mix species: {described}.",
            dataset=dataset,
            path=path,
            fix="give the genes of one species (for a barnyard or merged file, keep the "
            "cells and genes of one genome) and set species to it.",
        )
    other = {"human": ("mouse", f_mouse), "mouse": ("human", f_human)}.get(species or "")
    if other is not None and other[1] > 0.5:
        raise ScinterpInputError(
            f"species is '{species}' but the gene symbols look {other[0]}: {described}.",
            dataset=dataset,
            path=path,
            fix=f"set species of dataset '{dataset}' to '{other[0]}', or give the {species} data.",
        )
    if species is None and f_mouse > 0.5:
        log.info(
            "dataset '%s': the gene symbols look mouse (%s); set species: mouse for the "
            "mouse gene sets.",
            dataset,
            described,
        )


# --- multimodal files -------------------------------------------------------------


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
    AnnData the motif branch reads as its ``atac`` input (as `scinterp.data.peaks`).
    """
    from scinterp.data.peaks import read_peaks

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


def check_counts(
    X,
    *,
    dataset: str | None,
    path,
    counts_layer: str | None = None,
    layers: list[str] | None = None,
    where: str | None = None,
) -> None:
    """Raise if ``X`` holds negative or non-integer values (``where`` names it).

    Values within 1e-3 of an integer count as counts carrying floating-point noise
    and are rounded in place (``X`` must then be a sparse matrix or an array).

    Integrality is checked on a seeded sample of at most a million stored values
    (log-normalized or scaled data fail it at once), negative values on all of them.
    """
    data = X.data if sparse.issparse(X) else np.asarray(X).ravel()
    if data.size == 0:
        return
    if where is None:
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


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed onto ``path`` when the block ends and
    removed when it raises: an output appears complete or not at all (a job killed while
    writing leaves the previous file, or none).

    Parameters
    ----------
    path
        The file to write; its folder is created.
    suffix
        Extension of the temporary file, for writers that take the format from it
        (default: the extension of ``path``).

    Examples
    --------
    >>> with atomic_path("results/table.tsv") as tmp:  # doctest: +SKIP
    ...     df.to_csv(tmp, sep="\\t", index=False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp{suffix}")
    # created as open() creates files (mode 0666 less the umask), unlike mkstemp's 0600
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_h5ad_atomic(adata, path: str | os.PathLike) -> None:
    """Write an AnnData to a temporary file next to ``path``, then rename it into place."""
    with atomic_path(path, ".h5ad") as tmp:
        adata.write_h5ad(tmp)


def write_tsv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table tab-separated with a header and no index, atomically."""
    with atomic_path(path, ".tsv") as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def write_figure_atomic(fig, path: str | os.PathLike, **kwargs) -> None:
    """Save a matplotlib figure atomically (format from the extension of ``path``)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    kwargs.setdefault("dpi", 120)
    kwargs.setdefault("bbox_inches", "tight")
    with atomic_path(path, "." + fmt) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)


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
