"""Where the raw counts are (``.X``, ``.raw.X``, a counts layer) and the checks of
what is read: integer counts, unique names, obs keys."""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy import sparse

from scinterp.errors import ScinterpInputError
from scinterp.io._util import _duplicates, _fmt_list

log = logging.getLogger(__package__)


# Checking every nonzero of a large matrix for integrality costs a full copy;
# a seeded random sample of this size finds log-normalized data with certainty.
_N_CHECK = 1_000_000


# Distance to the nearest integer still taken for a count (float noise, not data).
_INT_TOL = 1e-3


#: ``counts_layer`` value that names ``.raw.X`` (a layer of that name is used only
#: where the file has no ``.raw``).
RAW = "raw"


# Layers searched for counts when .X holds none and the config names no source, in this
# order; after them any other layer whose name holds "count" (sorted).
COUNT_LAYER_NAMES = ("counts", "raw_counts", "rawcounts", "count", "umi_counts", "umis", "raw")


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
    # negative integers are not log-normalized data: name them as what they are
    what = (
        f".X {problem}: counts are never negative, so the matrix looks batch-corrected, "
        "scaled or centred, not raw counts"
        if "negative" in problem
        else "the file looks log-normalized or scaled throughout"
    )
    raise ScinterpInputError(
        f"no raw integer counts were found: {what}. Looked in: "
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
