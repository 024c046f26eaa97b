"""Gene symbols: symbols of a var column as the var names, the Ensembl-ID hint, and
the species check (human upper case, mouse capitalised)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.io._util import _fmt_list

log = logging.getLogger(__package__)


# var columns that usually hold gene symbols (named in the hint for Ensembl-ID var names)
SYMBOL_COLUMNS = ("feature_name", "gene_symbols", "gene_symbol", "gene_name", "symbol", "symbols")


_ENSEMBL_ID = r"^ENS[A-Z]*G\d{6,}(\.\d+)?$"


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
