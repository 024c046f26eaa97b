"""Train one named model from the workflow's files: read, prepare, fit, save.

This is what the ``train_model`` rule calls; it keeps the script to a few lines and is
usable from Python too (``train_from_files("program_vae", normalized=..., outdir=...)``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from scinterp.errors import ScinterpInputError

log = logging.getLogger(__name__)


def _fit_and_save(name, module, init, meta, train_ds, val_ds, outdir, settings) -> pd.DataFrame:
    from scinterp.models.registry import model_spec, save_model
    from scinterp.train.loop import AUTO_CELL_PASSES, auto_max_epochs, fit

    max_epochs = settings["max_epochs"]
    if max_epochs == "auto":
        passes = model_spec(name).auto_passes or AUTO_CELL_PASSES
        max_epochs = auto_max_epochs(len(train_ds), passes=passes)
        log.info("%s: max_epochs auto -> %d (%d training items)", name, max_epochs, len(train_ds))
    meta = {**meta, "max_epochs": int(max_epochs)}
    history = fit(
        module,
        train_ds,
        val_ds,
        outdir=outdir,
        max_epochs=max_epochs,
        batch_size=settings["batch_size"],
        lr=settings["learning_rate"],
        weight_decay=settings.get("weight_decay", 0.0),
        patience=settings["patience"],
        min_delta=settings.get("min_delta", 0.0),
        seed=settings["seed"],
        device=settings.get("device", "auto"),
    )
    save_model(module.cpu(), outdir, name, init, meta)
    return history


def train_from_rule(inp, par, outdir: str | Path, params: Mapping[str, Any]) -> pd.DataFrame:
    """`train_from_files` with a training rule's Snakemake input and params (rules
    train_model and train_members_<model>): the files and names the rules pass."""
    return train_from_files(
        par.model,
        normalized=inp.get("normalized"),
        outdir=outdir,
        params=params,
        gene_sets=inp.get("gene_sets"),
        tfs=inp.get("tfs"),
        batch_key=par.batch_key,
        atac=inp.get("atac"),
        genome=inp.get("genome"),
        dataset=par.dataset,
    )


def train_from_files(
    name: str,
    *,
    normalized: str | Path | None,
    outdir: str | Path,
    params: Mapping[str, Any],
    gene_sets: str | Path | None = None,
    tfs: str | Path | None = None,
    batch_key: str | None = None,
    atac: str | Path | None = None,
    genome: str | Path | None = None,
    dataset: str | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Train model ``name`` and write ``model.pt``, ``model.json`` and ``history.tsv``.

    Parameters
    ----------
    name
        Registry name (``attention_classifier``, ``mlp_classifier``, ``capsule_classifier``,
        ``program_vae``, ``ldvae``, ``grn_sem``, ``seq_cnn``, or any registered model).
    normalized
        The dataset's ``normalized.h5ad`` (labels are the column named in
        ``uns["scinterp"]["label_key"]``); not read by models that train on peaks
        (``seq_cnn`` reads ``atac`` only, so its training starts before QC ends: the motif
        branch reads the cells' labels from ``normalized.h5ad`` itself).
    outdir
        ``results/{dataset}/models/{name}``; a checkpoint there is resumed.
    params
        The config's ``train`` section (shared keys and ``train.<name>``, the model's
        settings; or :func:`scinterp.train.settings.train_params` of it), read by
        :func:`scinterp.train.settings.model_settings`.
    gene_sets, tfs
        GMT and TF list (read for the models whose spec needs or uses them).
    batch_key
        obs column of the batch, or None.
    atac, genome
        For models that need ``atac`` (``seq_cnn``): the cells x peaks h5ad and its
        genome FASTA.
    dataset
        Dataset name, for error messages.
    model_kwargs
        Extra init arguments of the model (e.g. a sweep's ``hidden``).

    Returns
    -------
    pandas.DataFrame
        The training history (also in ``outdir/history.tsv``).
    """
    from scinterp.models.registry import model_spec
    from scinterp.train.settings import model_settings

    spec = model_spec(name)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    settings = model_settings(name, params)
    if "atac" in spec.needs:
        return _train_on_peaks(
            name,
            outdir,
            settings,
            atac=atac,
            genome=genome,
            dataset=dataset,
            model_kwargs=model_kwargs,
        )
    if normalized is None:
        raise ScinterpInputError(
            f"{name} trains on the dataset's normalized.h5ad, and none was given.",
            dataset=dataset,
            fix="pass normalized= (results/<dataset>/normalized.h5ad).",
        )
    from scinterp.train.prepare import prepare

    adata, sets, tf_list, train_cells = _read_cells(
        spec, normalized, gene_sets, tfs, settings, dataset
    )
    own = {k: settings[k] for k in spec.settings}
    shared = {k: settings[k] for k in ("min_genes_per_set",) if k in settings}
    module, init, meta, train_ds, val_ds = prepare(
        adata,
        name,
        gene_sets=sets,
        tfs=tf_list,
        label_key=adata.uns.get("scinterp", {}).get("label_key"),
        batch_key=batch_key,
        val_fraction=settings["val_fraction"],
        seed=settings["seed"],
        model_kwargs=model_kwargs,
        dataset=dataset,
        **shared,
        **own,
    )
    # the sample's size and seed: the GRN peers read the same cells (training_cells)
    meta = {**meta, "train_cells": train_cells} if train_cells else meta
    return _fit_and_save(name, module, init, meta, train_ds, val_ds, outdir, settings)


def _read_cells(spec, normalized, gene_sets, tfs, settings, dataset):
    """The cells and genes model ``spec`` may train on, with its gene sets and TFs:
    ``(adata, gene sets or None, TFs or None, the max_cells sample's size and seed or {})``.

    Only the genes a model can be given are read: highly variable genes, the gene sets'
    genes and the TFs (prepare chooses its features among them); the VAEs also need raw
    counts, the other models read X only. On an atlas that is a fraction of the matrix.
    """
    from scinterp.io import read_normalized, read_var
    from scinterp.priors import read_tfs

    var = read_var(normalized)
    sets = _gene_sets(spec, gene_sets, var, settings, dataset)
    tf_list = read_tfs(tfs, genes=var.index, dataset=dataset) if "tfs" in spec.needs else None
    keep = None
    if "highly_variable" in var:
        keep = set(var.index[var["highly_variable"].to_numpy(dtype=bool)])
        keep.update(g for genes in (sets or {}).values() for g in genes)
        keep.update(tf_list or ())
    rows, train_cells = _training_rows(spec.name, normalized, settings)
    adata = read_normalized(
        normalized,
        layers=("counts",) if "counts" in spec.needs else (),
        var_names=None if keep is None else [g for g in var.index if g in keep],
        rows=rows,
    )
    return adata, sets, tf_list, train_cells


def _gene_sets(spec, gene_sets, var, settings, dataset):
    """The GMT's sets for a model that reads gene sets (None for the others, or when a
    model that only uses them finds none that fits the data)."""
    from scinterp.priors import read_gmt

    if gene_sets is None or not spec.reads("gene_sets"):
        return None
    try:
        return read_gmt(
            gene_sets, genes=var.index, min_size=settings["min_genes_per_set"], dataset=dataset
        )
    except ScinterpInputError as err:
        if "gene_sets" in spec.needs:
            raise
        # the sets only widen this model's features: it trains on the HVGs alone
        log.warning("%s trains without gene sets: %s", spec.name, err)
        return None


def _training_rows(name, normalized, settings):
    """The rows of the ``max_cells`` sample (None: every cell) and, for the model's
    metadata, the sample's size and seed ({} without a sample)."""
    if settings.get("max_cells") is None:
        return None, {}
    from scinterp.data.cells import training_cells
    from scinterp.io import read_meta

    info = read_meta(normalized, ("obs", "uns"))
    rows = training_cells(info["obs"], info["uns"], settings["max_cells"], settings["seed"])
    if len(rows) == len(info["obs"]):
        return None, {}
    log.info(
        "%s trains on a stratified sample of %d of %d cells (max_cells)",
        name,
        len(rows),
        len(info["obs"]),
    )
    return rows, {"max_cells": int(settings["max_cells"]), "seed": int(settings["seed"])}


@dataclass
class PeakData:
    """What :func:`train_from_files` hands the spec of a model trained on peaks (``build``
    and ``finish``): cells and sequence length, the training split, the metadata."""

    n_cells: int
    seq_len: int
    train_ds: Any
    meta: dict[str, Any] = field(default_factory=dict)


def _train_on_peaks(
    name, outdir, settings, *, atac, genome, dataset, model_kwargs=None
) -> pd.DataFrame:
    import anndata as ad

    from scinterp.data.sequences import PeakDataset, prepare_peak_sequences
    from scinterp.models.registry import build_model, model_spec
    from scinterp.train.settings import build_settings

    if atac is None or genome is None:
        raise ScinterpInputError(
            f"{name} needs an atac h5ad and its genome FASTA.",
            dataset=dataset,
            fix=f"add datasets.<name>.atac and .genome, or drop {name} from train.models.",
        )
    adata = ad.read_h5ad(atac)
    peaks, onehot = prepare_peak_sequences(
        adata, genome, width=settings["seq_width"], dataset=dataset, atac_path=atac
    )
    # Augmentation on the training peaks only (split() turns it off for validation):
    # random strand and small random shifts, as scBasset, and random base substitutions
    # (EvoAug), against memorising a few thousand peaks instead of learning their motifs.
    data = PeakDataset.from_anndata(
        adata,
        peaks,
        onehot,
        rc_augment=True,
        shift_augment=settings["shift"],
        mutate_augment=settings["mutate"],
        seed=settings["seed"],
    )
    train_ds, val_ds = data.split(settings["val_fraction"], seed=settings["seed"])
    spec = model_spec(name)
    built = PeakData(data.n_cells, data.seq_len, train_ds)
    own = build_settings(name, {k: settings[k] for k in spec.settings})
    init = {**spec.build(built, **own), **(model_kwargs or {})}
    import torch

    torch.manual_seed(settings["seed"])  # the initial weights too: same seed, same model
    module = build_model(name, **init)
    if spec.finish is not None:
        spec.finish(module, built)
    meta = {
        **built.meta,
        "cells": list(map(str, adata.obs_names)),
        "peaks_file": "peaks.tsv",
        "seq_width": settings["seq_width"],
        "dataset": dataset,
        "val_peaks": [int(i) for i in val_ds.indices],
    }
    peaks.to_csv(outdir / "peaks.tsv", sep="\t", index=False)
    return _fit_and_save(name, module, init, meta, train_ds, val_ds, outdir, settings)
