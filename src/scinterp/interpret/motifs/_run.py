"""The motifs branch from files to tables: one step per workflow rule and :func:`run`.

Each step reads files (``inputs``: name -> path) and returns objects; its ``write_*``
writes them (``outputs``: name -> path). The rules call one step each (a GPU step apart
from the CPU ones, each cached by Snakemake); :func:`run` chains them in a folder laid
out like ``results/{dataset}/motifs/`` (:data:`FILES`), so that a library user gets the
workflow's tables from an ATAC file, a genome and a trained sequence model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from ._options import DEFAULT_OPTIONS, MotifsOptions

#: output name -> file name in the branch's folder (``results/{dataset}/motifs/``)
FILES = {
    "peaks": "peaks.tsv",
    "sequences": "sequences.npz",
    "contributions": "contributions.npz",
    "filters": "filters.meme",
    "motifs": "motifs.tsv",
    "meme": "motifs.meme",
    "activity": "tf_activity.tsv",
    "cells": "cell_activity.h5ad",
}


def _model_dir(model) -> Path:
    """A sequence model's folder from the folder or its ``model.pt``/``model.json``."""
    path = Path(model)
    return path if path.is_dir() else path.parent


def peaks_step(
    inputs: Mapping, options: MotifsOptions = DEFAULT_OPTIONS, *, dataset: str | None = None
) -> dict:
    """Validated fixed-width peaks and their one-hot sequences (rule ``motif_peaks``).

    ``inputs``: ``atac`` (cells x peaks h5ad, read backed), ``genome`` (FASTA) and
    optionally ``tss`` (BED; else ``options.tss``). Returns ``peaks`` (DataFrame) and
    ``onehot`` (``(n, 4, width)`` uint8).
    """
    import anndata as ad

    from scinterp.data.sequences import prepare_peak_sequences

    peaks, onehot = prepare_peak_sequences(
        ad.read_h5ad(inputs["atac"], backed="r"),
        inputs["genome"],
        width=options.width,
        dataset=dataset,
        atac_path=inputs["atac"],
        max_n_fraction=options.max_n_fraction,
        tss_bed=inputs.get("tss") or options.tss,
    )
    return {"peaks": peaks, "onehot": onehot}


def write_peaks(result: Mapping, outputs: Mapping) -> None:
    """``peaks`` (TSV) and ``sequences`` (npz: ``onehot``, ``var_idx``)."""
    from scinterp.data.sequences import write_npz_atomic
    from scinterp.io import write_tsv_atomic

    peaks = result["peaks"]
    write_tsv_atomic(peaks, outputs["peaks"])
    write_npz_atomic(
        outputs["sequences"], onehot=result["onehot"], var_idx=peaks["var_idx"].to_numpy()
    )


def contributions_step(
    inputs: Mapping, options: MotifsOptions = DEFAULT_OPTIONS, *, dataset: str | None = None
) -> dict:
    """Hypothetical contributions of the type-specific peaks and the influential filters'
    PWMs (rule ``motif_contributions``).

    ``inputs``: ``model`` (the sequence model's folder or its ``model.pt``),
    ``sequences`` (:func:`write_peaks`'s npz), ``atac``, ``normalized`` (the cells'
    labels). Returns ``contributions`` (dict of arrays, :func:`attribute_type_peaks`) and
    ``filters`` (learned motifs; empty when ``options.filters`` is false).
    """
    import anndata as ad

    from scinterp.data.sequences import read_peak_sequences
    from scinterp.device import resolve_device
    from scinterp.train.loop import seed_everything

    from ._contributions import attribute_type_peaks
    from ._discovery import influential_filter_motifs
    from ._peaks import load_sequence_model

    device = resolve_device(options.device)
    seed_everything(options.seed)
    atac = ad.read_h5ad(inputs["atac"])
    onehot, acc = read_peak_sequences(inputs["sequences"], atac, dataset=dataset)
    model, labels = load_sequence_model(
        _model_dir(inputs["model"]),
        atac,
        normalized=inputs.get("normalized"),
        device=device,
        dataset=dataset,
    )
    contrib = attribute_type_peaks(
        model,
        onehot,
        acc,
        labels,
        n_per_type=options.n_per_type,
        min_rate=options.min_rate,
        method=options.attribution,
        n_refs=options.n_refs,
        n_steps=options.n_steps,
        device=device,
        seed=options.seed,
    )
    filters = []
    if options.filters:
        filters = influential_filter_motifs(
            model,
            onehot,
            contrib["peak_idx"],
            labels,
            min_influence=options.filter_min_influence,
            influence_z=options.filter_influence_z,
            activation_threshold=options.filter_activation,
            min_sites=options.filter_min_sites,
            min_ic=options.filter_min_ic,
            max_motifs=options.filter_max_motifs,
            device=device,
        )
    return {"contributions": contrib, "filters": filters}


def write_contributions(result: Mapping, outputs: Mapping) -> None:
    """``contributions`` (npz) and ``filters`` (MEME)."""
    from scinterp.data.sequences import write_npz_atomic
    from scinterp.io import atomic_path

    from ._database import write_learned_meme

    write_npz_atomic(outputs["contributions"], **result["contributions"])
    with atomic_path(outputs["filters"]) as tmp:
        write_learned_meme(tmp, result["filters"])


def discovery_step(
    inputs: Mapping,
    options: MotifsOptions = DEFAULT_OPTIONS,
    *,
    dataset: str | None = None,
    n_jobs: int = 1,
) -> dict:
    """TF-MoDISco and filter motifs named by Tomtom (rule ``discover_motifs``).

    ``inputs``: ``contributions`` (npz) and ``filters`` (MEME) of
    :func:`write_contributions`, ``database`` (a JASPAR release name or a MEME file).
    Returns ``motifs`` (the motifs table) and ``learned`` (the motifs, in its order).
    """
    import numpy as np

    from ._database import learned_from_meme, load_motif_database
    from ._discovery import discover_and_match

    database = load_motif_database(
        inputs["database"],
        collection=options.jaspar_collection,
        tax_group=options.jaspar_tax_group,
        dataset=dataset,
    )
    with np.load(inputs["contributions"]) as c:
        table, learned = discover_and_match(
            c["onehot"],
            c["hypothetical"],
            c["cell_type"],
            learned_from_meme(inputs["filters"], "filters"),
            database,
            max_qvalue=options.max_qvalue,
            modisco=options.modisco(),
            seed=options.seed,
            n_jobs=n_jobs,
        )
    return {"motifs": table, "learned": learned}


def write_discovery(result: Mapping, outputs: Mapping) -> None:
    """``meme`` (the learned motifs, named by their match) and ``motifs`` (TSV)."""
    from scinterp.io import atomic_path, write_tsv_atomic

    from ._database import write_learned_meme

    table = result["motifs"]
    names = dict(zip(table["motif"], table["match_name"], strict=True))
    with atomic_path(outputs["meme"]) as tmp:
        write_learned_meme(tmp, result["learned"], names)
    write_tsv_atomic(table, outputs["motifs"])


def activity_step(
    inputs: Mapping, options: MotifsOptions = DEFAULT_OPTIONS, *, dataset: str | None = None
) -> dict:
    """TF activity of the matched motifs per cell type and per cell (rule ``tf_activity``).

    ``inputs``: ``model``, ``atac``, ``normalized`` (the cells' labels), ``sequences`` and
    ``peaks`` (:func:`write_peaks`),
    ``motifs`` and ``meme`` (:func:`write_discovery`). Returns ``activity`` (long table
    per cell type, annotated with the matches) and ``cells`` (AnnData, cells x motifs).
    """
    import anndata as ad
    import pandas as pd

    from scinterp.data.sequences import read_peak_sequences
    from scinterp.device import resolve_device

    from ._activity import activity_anndata, annotate_activity, tf_activity
    from ._matching import matched_motifs
    from ._peaks import load_sequence_model

    device = resolve_device(options.device)
    atac = ad.read_h5ad(inputs["atac"])
    onehot, acc = read_peak_sequences(inputs["sequences"], atac, dataset=dataset)
    model, labels = load_sequence_model(
        _model_dir(inputs["model"]),
        atac,
        normalized=inputs.get("normalized"),
        device=device,
        dataset=dataset,
    )
    table = pd.read_csv(inputs["motifs"], sep="\t", keep_default_na=False)
    per_type, per_cell = tf_activity(
        model,
        onehot,
        acc,
        labels,
        atac.obs_names,
        matched_motifs(table, inputs["meme"]),
        n_background=options.n_background,
        insertion=options.insertion,
        device=device,
        seed=options.seed,
        chromvar=options.chromvar,
        chromvar_backgrounds=options.chromvar_backgrounds,
        gc=pd.read_csv(inputs["peaks"], sep="\t")["gc"].to_numpy(),
    )
    return {
        "activity": annotate_activity(per_type, table),
        "cells": activity_anndata(per_cell, labels, table),
    }


def write_activity(result: Mapping, outputs: Mapping) -> None:
    """``activity`` (TSV) and ``cells`` (h5ad)."""
    from scinterp.io import write_h5ad_atomic, write_tsv_atomic

    write_tsv_atomic(result["activity"], outputs["activity"])
    write_h5ad_atomic(result["cells"], outputs["cells"])


def run(
    inputs: Mapping,
    options: MotifsOptions = DEFAULT_OPTIONS,
    *,
    out=None,
    dataset: str | None = None,
    n_jobs: int = 1,
) -> dict:
    """The motifs branch from files to tables, the workflow's four steps in a row.

    Parameters
    ----------
    inputs
        ``atac`` (cells x peaks h5ad), ``genome`` (FASTA), ``model`` (the trained
        sequence model's folder or ``model.pt``), ``database`` (a JASPAR release name or
        a MEME file; default ``JASPAR2024``), ``normalized`` (the RNA ``normalized.h5ad``
        whose labels name the ATAC cells' types, :func:`atac_cell_labels`), optionally
        ``tss`` (BED).
    options
        :class:`MotifsOptions`.
    out
        Folder for every intermediate and output file (:data:`FILES`, the layout of
        ``results/{dataset}/motifs/``); None: a temporary folder, removed after.
    dataset
        The dataset's name, for messages.
    n_jobs
        Tomtom's parallel jobs.

    Returns
    -------
    dict
        ``peaks``, ``motifs``, ``tf_activity`` (DataFrames), ``cell_activity``
        (AnnData) and ``learned`` (the learned motifs, in the motifs table's order).
    """
    with tempfile.TemporaryDirectory(prefix="scinterp_motifs_") as tmp:
        folder = Path(out if out is not None else tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files = {k: str(folder / name) for k, name in FILES.items()}
        given = {k: inputs[k] for k in ("atac", "model", "normalized") if k in inputs}
        peaks = peaks_step(inputs, options, dataset=dataset)
        write_peaks(peaks, files)
        contrib = contributions_step({**given, **files}, options, dataset=dataset)
        write_contributions(contrib, files)
        found = discovery_step(
            {**files, "database": inputs.get("database") or "JASPAR2024"},
            options,
            dataset=dataset,
            n_jobs=n_jobs,
        )
        write_discovery(found, files)
        activity = activity_step({**given, **files}, options, dataset=dataset)
        write_activity(activity, files)
    return {
        "peaks": peaks["peaks"],
        "motifs": found["motifs"],
        "learned": found["learned"],
        "tf_activity": activity["activity"],
        "cell_activity": activity["cells"],
    }
