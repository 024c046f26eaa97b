"""Normalized AnnData + prior knowledge -> (model, init kwargs, metadata, train/val data).

``prepare(adata, "program_vae", gene_sets=..., n_latent_denovo=8)`` chooses the features a
model sees, checks the inputs (clear errors naming the fix), builds the model with the
registry (its spec's ``build(data, **settings)``, the model's settings over its spec's
defaults) and returns datasets that slice the (sparse or backed) matrices per minibatch.

Feature choice
--------------
- classifiers and gene-program VAEs: highly variable genes (``var["highly_variable"]``)
  united with the genes of the gene sets that keep at least ``min_genes_per_set`` genes in
  the data; when that union exceeds ``max_genes``, HVGs are kept first, then set genes by
  decreasing variance, and sets are re-checked against ``min_genes_per_set``.
- models that need TFs (``grn_sem``): all TFs present in the data, then HVG targets by
  decreasing variance, up to ``max_genes``.

What a model needs (labels, gene sets, TFs, counts, batches) comes from its
:class:`~scinterp.models.registry.ModelSpec`; its spec's ``build`` turns the chosen
features (:class:`CellData`) and the model's settings into its init kwargs.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from scinterp.data.cells import CellDataset, row_sums, split_indices, take_rows
from scinterp.errors import ScinterpInputError
from scinterp.models.registry import MODELS, build_model
from scinterp.train.settings import build_settings, resolve_settings

__all__ = ["CellData", "Prepared", "cell_models", "column_moments", "prepare"]

log = logging.getLogger(__name__)

# label values that mean "no label" (after normalize wrote the labels as text)
MISSING_LABELS = ("", "nan", "none", "na", "n/a", "unknown", "unassigned")


def cell_models() -> list[str]:
    """Registered models that :func:`prepare` builds: all but those trained on peaks."""
    return [name for name, spec in MODELS.items() if "atac" not in spec.needs]


@dataclass
class CellData:
    """What :func:`prepare` hands a model spec's ``build`` and ``finish``.

    Attributes
    ----------
    n_genes
        Input features (columns of ``X`` the model reads, in ``features`` order).
    gene_sets
        Gene-set name -> positions among the features (sets with enough genes there).
    classes
        Cell types (models that need labels), else empty.
    batches
        Batch names (models that use a batch), else empty.
    tfs
        Positions of the TFs among the features (models that need TFs), else empty.
    meta
        The model's metadata (``model.json``); a builder adds its own keys.
    features
        The columns of ``X`` the model reads.
    X, train_idx
        The expression matrix and the training rows (for ``finish``; set once the split
        is made).
    """

    n_genes: int
    gene_sets: dict[str, list[int]]
    classes: list[str]
    batches: list[str]
    tfs: list[int]
    meta: dict[str, Any]
    X: Any = None
    features: np.ndarray | None = None
    train_idx: np.ndarray | None = field(default=None, repr=False)

    def train_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and standard deviation over the training cells."""
        return column_moments(self.X, self.train_idx, self.features)

    def set_indices(self) -> list[torch.Tensor]:
        """Per gene set, its feature positions as a long tensor (tokens, capsule groups)."""
        return [torch.tensor(v, dtype=torch.long) for v in self.gene_sets.values()]

    def set_names(self, remainder: bool) -> list[str]:
        """The gene sets' names, plus ``remaining_genes`` when the model adds a unit for
        the genes in no set."""
        return list(self.meta["gene_sets"]) + (["remaining_genes"] if remainder else [])


class Prepared(NamedTuple):
    """What :func:`prepare` returns; unpacks as ``module, init, meta, train_ds, val_ds``."""

    module: nn.Module
    init: dict[str, Any]
    meta: dict[str, Any]
    train_ds: CellDataset
    val_ds: CellDataset


def column_moments(matrix, rows=None, columns=None, chunk_elems: int = 1 << 24):
    """Per-column mean and (population) standard deviation over some rows.

    Sparse in-memory matrices are reduced without densifying; dense or backed matrices
    are read in row chunks of at most ``chunk_elems`` values.
    """
    if sp.issparse(matrix):
        sub = matrix if rows is None else sp.csr_matrix(matrix)[np.asarray(rows)]
        if columns is not None:
            sub = sub[:, columns]
        mean = np.asarray(sub.mean(axis=0), dtype=np.float64).ravel()
        sq = np.asarray(sub.multiply(sub).mean(axis=0), dtype=np.float64).ravel()
    else:
        rows = np.arange(matrix.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
        n_cols = matrix.shape[1] if columns is None else len(columns)
        step = max(1, chunk_elems // max(1, n_cols))
        total = np.zeros(n_cols)
        total_sq = np.zeros(n_cols)
        for start in range(0, len(rows), step):
            block = take_rows(matrix, rows[start : start + step], columns).astype(np.float64)
            total += block.sum(axis=0)
            total_sq += (block * block).sum(axis=0)
        mean = total / max(1, len(rows))
        sq = total_sq / max(1, len(rows))
    return mean, np.sqrt(np.clip(sq - mean * mean, 0.0, None))


def _err(problem: str, fix: str, dataset: str | None) -> ScinterpInputError:
    return ScinterpInputError(problem, dataset=dataset, fix=fix)


def _labels(adata, label_key, min_cells_per_class, dataset):
    if label_key is None:
        raise _err(
            "a classifier needs cell labels but no label_key was given.",
            "set label_key in the dataset's config to an obs column with cell identities.",
            dataset,
        )
    if label_key not in adata.obs:
        raise _err(
            f"obs has no column '{label_key}' (label_key).",
            f"use one of the obs columns: {', '.join(map(str, adata.obs.columns[:20]))}.",
            dataset,
        )
    labels = adata.obs[label_key]
    text = labels.astype(str).str.strip()
    # atlases leave labels empty; normalize writes labels as text, so NaN reads "nan"
    missing = labels.isna().to_numpy() | text.str.lower().isin(MISSING_LABELS).to_numpy()
    if missing.any():
        log.warning(
            "%d of %d cells have no '%s' label and are left out of classifier training.",
            int(missing.sum()),
            len(labels),
            label_key,
        )
    counts = text[~missing].value_counts()
    small = counts[counts < min_cells_per_class]
    if len(small):
        log.warning(
            "cell types with fewer than %d cells in '%s' are too small to learn and are left "
            "out of classifier training: %s.",
            min_cells_per_class,
            label_key,
            ", ".join(f"{k} ({v})" for k, v in small.items()),
        )
    usable = ~missing & ~text.isin(small.index).to_numpy()
    classes = sorted(counts.index[counts >= min_cells_per_class])
    if len(classes) < 2:
        raise _err(
            f"'{label_key}' has {len(classes)} cell type(s) with at least {min_cells_per_class} "
            "labelled cells; a classifier needs at least 2.",
            "choose a label_key with several cell types, or disable the classifiers in train.models.",
            dataset,
        )
    pos = {c: i for i, c in enumerate(classes)}
    codes = np.full(len(labels), -1, dtype=np.int64)
    codes[usable] = [pos[c] for c in text[usable]]
    return codes, [str(c) for c in classes]


def _batches(adata, batch_key, dataset):
    if batch_key is None:
        return None, []
    if batch_key not in adata.obs:
        raise _err(
            f"obs has no column '{batch_key}' (batch_key).",
            "set batch_key to an existing obs column, or to null.",
            dataset,
        )
    codes, names = pd.factorize(adata.obs[batch_key].astype(str), sort=True)
    return codes.astype(np.int64), [str(b) for b in names]


def _hvg_mask(adata) -> np.ndarray:
    if "highly_variable" in adata.var:
        return adata.var["highly_variable"].to_numpy(dtype=bool)
    warnings.warn(
        "var has no 'highly_variable' column; every gene counts as highly variable",
        stacklevel=3,
    )
    return np.ones(adata.n_vars, dtype=bool)


def _present_sets(gene_sets, gene_pos, min_genes, dataset, where="the data", required=True):
    kept, dropped = {}, []
    for name, genes in gene_sets.items():
        idx = sorted({gene_pos[g] for g in genes if g in gene_pos})
        if len(idx) >= min_genes:
            kept[name] = idx
        else:
            dropped.append(f"{name} ({len(idx)})")
    if dropped:
        warnings.warn(
            f"{len(dropped)} gene set(s) have fewer than {min_genes} genes in {where} and "
            f"are skipped: {', '.join(dropped[:10])}{'...' if len(dropped) > 10 else ''}",
            stacklevel=3,
        )
    if not kept and required:
        raise _err(
            f"none of the {len(gene_sets)} gene sets has at least {min_genes} genes in {where}.",
            "check that the GMT uses the same gene identifiers as var_names (symbols vs "
            "Ensembl IDs, species, case), or lower train.min_genes_per_set.",
            dataset,
        )
    return kept


def _top_by(values: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """The k candidates with the largest values (stable order)."""
    if k <= 0:
        return candidates[:0]
    order = np.argsort(-values[candidates], kind="stable")
    return candidates[order[:k]]


def prepare(
    adata,
    model: str,
    *,
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    tfs: Sequence[str] | None = None,
    label_key: str | None = None,
    batch_key: str | None = None,
    counts_layer: str = "counts",
    val_fraction: float = 0.1,
    seed: int = 0,
    min_genes_per_set: int = 5,
    max_genes: int = 3000,
    min_cells_per_class: int = 3,
    model_kwargs: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    **settings: Any,
) -> Prepared:
    """Build a model and its train/validation data from a normalized AnnData.

    Parameters
    ----------
    adata
        Normalized AnnData: ``X`` log-normalized (CSR, dense or backed), raw counts in
        ``layers[counts_layer]`` (needed by the VAEs), ``var["highly_variable"]``.
    model
        A registered model that trains on cells (:func:`cell_models`): what it needs
        comes from its :class:`~scinterp.models.registry.ModelSpec`, its init kwargs
        from the spec's ``build``.
    gene_sets
        Gene-set name -> gene names (GMT order is kept); needed by the models whose spec
        needs ``gene_sets`` (``attention_classifier``, ``capsule_classifier``,
        ``program_vae``), used when given by those that use them (``mlp_classifier``,
        ``ldvae``: the same feature choice).
    tfs
        Transcription-factor names; needed by the models that need ``tfs`` (``grn_sem``).
    label_key, batch_key
        obs columns with cell identities (models that need ``labels``; also stratifies
        the split) and batches (models that use ``batch``: the VAEs' decoder covariate).
    counts_layer
        Layer with raw counts.
    val_fraction, seed
        Validation split (stratified by label when ``label_key`` is given) and the seed
        for the split and the model's initial weights.
    min_genes_per_set, max_genes, min_cells_per_class
        Gene sets with fewer genes among the features are skipped (with a warning); the
        cap on the number of input genes; a classifier leaves out smaller classes.
    model_kwargs
        Extra init kwargs for the model (e.g. ``d_model``, ``hidden``).
    dataset
        Dataset name, for error messages.
    **settings
        The model's settings (its spec's ``settings``, the config's ``train.<model>``:
        ``n_latent_denovo=8`` for the program VAE); those not given take the spec's
        defaults, a name that is no setting of the model raises. The spec's ``build``
        receives those that are not ``training`` ones.

    Returns
    -------
    Prepared
        ``(module, init, meta, train_ds, val_ds)``. ``init`` rebuilds the module with
        ``build_model(model, **init)``; ``meta`` holds ``features`` (gene names, input
        order) and, per model, ``classes``, ``token_names``, ``gene_sets`` (name -> genes
        used), ``programs``, ``n_prior``, ``tfs``, ``batches``, plus ``val_cells`` (obs names
        of the held-out cells).

    Raises
    ------
    ScinterpInputError
        (a ``ValueError``) for an unknown model or setting, missing label/batch columns,
        fewer than 2 classes, too small classes, no gene set overlapping the data, no TF
        in the data, or missing counts.
    """
    spec = _cell_spec(model, dataset)
    settings = resolve_settings(model, settings, dataset=dataset)
    labels = "labels" in spec.needs
    y, classes = _labels(adata, label_key, min_cells_per_class, dataset) if labels else (None, [])
    uses_batch = spec.reads("batch")
    batch, batches = _batches(adata, batch_key, dataset) if uses_batch else (None, [])
    meta: dict[str, Any] = {
        "model": model,
        "dataset": dataset,
        "label_key": label_key,
        "batch_key": batch_key if uses_batch else None,
        "seed": seed,
        "val_fraction": val_fraction,
    }
    data = _choose_features(
        adata, spec, gene_sets, tfs, max_genes, min_genes_per_set, classes, batches, meta, dataset
    )
    init = spec.build(data, **build_settings(model, settings))
    if "tfs" not in spec.needs:
        meta["classes"] = classes
    meta["features"] = [str(adata.var_names[g]) for g in data.features]
    init.update(model_kwargs or {})

    counts = _counts(adata, spec, counts_layer, dataset)
    train_idx, val_idx = _split(adata, y, label_key, val_fraction, seed, meta)
    full = CellDataset(
        adata.X,
        counts,
        y=y,
        batch=batch,
        library=row_sums(counts) if counts is not None else None,
        columns=np.asarray(data.features),
    )
    meta["n_cells"] = int(adata.n_obs)
    meta["n_train"] = int(len(train_idx))
    meta["val_cells"] = [str(adata.obs_names[i]) for i in val_idx]

    torch.manual_seed(seed)
    module = build_model(model, **init)
    if spec.finish is not None:
        data.X, data.train_idx = adata.X, train_idx
        spec.finish(module, data)
    n_genes, n_train, n_val = len(data.features), len(train_idx), len(val_idx)
    log.info("%s: %d genes, %d train / %d val cells", model, n_genes, n_train, n_val)
    return Prepared(module, init, meta, full.subset(train_idx), full.subset(val_idx))


def _cell_spec(model: str, dataset: str | None):
    """The spec of ``model``, a registered model that trains on cells."""
    spec = MODELS.get(model)
    if spec is None or "atac" in spec.needs:
        raise _err(
            f"prepare() does not build model '{model}'.",
            f"use one of {', '.join(cell_models())} (models trained on peaks, such as the "
            "sequence CNN, get their data from scinterp.data.sequences).",
            dataset,
        )
    return spec


def _choose_features(
    adata, spec, gene_sets, tfs, max_genes, min_genes_per_set, classes, batches, meta, dataset
) -> CellData:
    """The features the model reads (TFs and targets, or HVGs and gene-set genes), as the
    :class:`CellData` its spec's ``build`` receives; adds ``tfs`` or ``gene_sets`` to
    ``meta``."""
    if "gene_sets" in spec.needs and not gene_sets:
        raise _err(
            f"model '{spec.name}' needs gene sets but none were given.",
            "set gene_sets in the dataset's config (a GMT file) or use the default one.",
            dataset,
        )
    var_names = [str(g) for g in adata.var_names]
    if "tfs" in spec.needs:
        features, tf_cols = _tf_features(adata, spec.name, tfs, max_genes, dataset)
        meta["tfs"] = [var_names[g] for g in features[tf_cols]]
        data = CellData(len(features), {}, classes, batches, list(tf_cols), meta)
    else:
        sets = gene_sets if spec.reads("gene_sets") else None
        required = "gene_sets" in spec.needs
        features, sets_idx = _expression_features(
            adata, sets, max_genes, min_genes_per_set, required, dataset
        )
        if sets_idx:
            meta["gene_sets"] = {
                k: [var_names[features[i]] for i in v] for k, v in sets_idx.items()
            }
        data = CellData(len(features), sets_idx, classes, batches, [], meta)
    data.features = features
    return data


def _counts(adata, spec, counts_layer: str, dataset: str | None):
    """The raw counts of a model that needs them (the VAEs), else None."""
    if "counts" not in spec.needs:
        return None
    layers = getattr(adata, "layers", {})
    if counts_layer not in layers:
        raise _err(
            f"layers has no '{counts_layer}' with raw counts, needed by {spec.name}.",
            "run the normalize step, which keeps raw counts in layers['counts'].",
            dataset,
        )
    return layers[counts_layer]


def _split(adata, y, label_key, val_fraction, seed, meta) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows, stratified by ``label_key`` where it is a column;
    a classifier's unlabelled or too rare cells are in neither (``meta["n_unlabelled"]``)."""
    stratify = None
    if label_key is not None and label_key in adata.obs:
        stratify = adata.obs[label_key].astype(str).to_numpy()
    if y is not None and (y < 0).any():
        # classifiers learn from labelled cells of learnable types only (see _labels)
        usable = np.flatnonzero(y >= 0)
        tr, va = split_indices(len(usable), val_fraction, seed, stratify=stratify[usable])
        meta["n_unlabelled"] = int(len(y) - len(usable))
        return usable[tr], usable[va]
    return split_indices(adata.n_obs, val_fraction, seed, stratify=stratify)


def _tf_features(adata, model, tfs, max_genes, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Every TF in the data (the most variable half of ``max_genes`` at most), then HVG
    targets by decreasing variance: (sorted feature columns, positions of the TFs)."""
    var_names = [str(g) for g in adata.var_names]
    gene_pos = {g: i for i, g in enumerate(var_names)}
    if not tfs:
        raise _err(
            f"{model} needs a TF list but none was given.", "set tfs in the config.", dataset
        )
    tf_idx = list(dict.fromkeys(gene_pos[t] for t in tfs if t in gene_pos))
    if not tf_idx:
        raise _err(
            f"none of the {len(tfs)} TFs is among the {len(var_names)} genes of the data.",
            "check that the TF list uses the same gene identifiers as var_names "
            "(symbols vs Ensembl IDs, species, case).",
            dataset,
        )
    hvg = np.flatnonzero(_hvg_mask(adata))
    _, gene_sd = column_moments(adata.X)
    tf_idx = np.asarray(tf_idx)
    if len(tf_idx) > max_genes // 2:
        warnings.warn(
            f"{len(tf_idx)} TFs in the data; keeping the {max_genes // 2} most variable",
            stacklevel=3,
        )
        tf_idx = _top_by(gene_sd, tf_idx, max_genes // 2)
    targets = np.setdiff1d(hvg, tf_idx)
    targets = _top_by(gene_sd, targets, max_genes - len(tf_idx))
    features = np.sort(np.concatenate([tf_idx, targets]))
    feat_pos = {int(g): i for i, g in enumerate(features)}
    return features, np.asarray([feat_pos[int(g)] for g in tf_idx], dtype=np.int64)


def _expression_features(
    adata, gene_sets, max_genes, min_genes_per_set, required, dataset
) -> tuple[np.ndarray, dict[str, list[int]]]:
    """HVGs united with the genes of the gene sets (HVGs first, then set genes by variance,
    when over ``max_genes``): (sorted feature columns, set name -> feature positions)."""
    var_names = [str(g) for g in adata.var_names]
    gene_pos = {g: i for i, g in enumerate(var_names)}
    hvg = np.flatnonzero(_hvg_mask(adata))
    _, gene_sd = column_moments(adata.X)
    sets_idx = {}
    if gene_sets:
        sets_idx = _present_sets(gene_sets, gene_pos, min_genes_per_set, dataset, required=required)
    features = hvg
    if sets_idx:
        set_genes = np.unique(np.concatenate([np.asarray(v) for v in sets_idx.values()]))
        extra = np.setdiff1d(set_genes, hvg)
        if len(hvg) + len(extra) > max_genes:
            keep_hvg = _top_by(gene_sd, hvg, max_genes)
            extra = _top_by(gene_sd, extra, max_genes - len(keep_hvg))
            features = np.concatenate([keep_hvg, extra])
        else:
            features = np.concatenate([hvg, extra])
    elif len(features) > max_genes:
        features = _top_by(gene_sd, features, max_genes)
    features = np.sort(features)
    if len(features) == 0:
        raise _err(
            "no genes to train on (no highly variable genes and no gene sets).",
            "check the normalize step's HVG selection.",
            dataset,
        )
    if sets_idx:
        feat_names = [var_names[g] for g in features]
        feat_pos = {name: i for i, name in enumerate(feat_names)}
        names = {k: [var_names[g] for g in v] for k, v in sets_idx.items()}
        sets_idx = _present_sets(
            names,
            feat_pos,
            min_genes_per_set,
            dataset,
            where="the selected genes",
            required=required,
        )
    return features, sets_idx
