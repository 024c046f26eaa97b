"""The ``rank_identity_genes`` rule end to end (:func:`run` from files,
:func:`rank_identity_genes` in named steps) and the per-method summary of its table
(:func:`method_summary`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scinterp.interpret.identity._attribution import (
    ablation_scores,
    aggregate_attributions,
    attention_scores,
)
from scinterp.interpret.identity._contrastive import contrastive_scores
from scinterp.interpret.identity._de import pairwise_auc_scores, wilcoxon_scores
from scinterp.interpret.identity._fusion import (
    consensus_scores,
    ensemble_confidence,
    ensemble_scores,
    long_table,
)
from scinterp.interpret.identity._options import DEFAULT_OPTIONS, IdentityOptions

log = logging.getLogger(__package__)


def _ensemble_name(name: str, n: int) -> str:
    return name if n == 1 else f"{name} x{n} seeds"


def _check_members(loaded, dirs) -> None:
    """Members of one ensemble must share classes and features (the same model and data)."""
    _, first = loaded[0]
    for (_, meta), d in zip(loaded[1:], dirs[1:], strict=True):
        if list(meta["classes"]) != list(first["classes"]) or list(meta["features"]) != list(
            first["features"]
        ):
            raise ValueError(
                f"ensemble member {d} was trained on other classes or features than "
                f"{dirs[0]}; members must be the same model on the same normalized.h5ad"
            )


def _share_confident(scores: pd.DataFrame, confidence: pd.DataFrame, top: int) -> float:
    vals = [confidence.loc[t, row.dropna().nlargest(top).index] for t, row in scores.iterrows()]
    vals = pd.concat(vals) if vals else pd.Series(dtype=float)
    return float((vals >= 0.8).mean()) if len(vals) else float("nan")


def method_summary(
    genes: pd.DataFrame, evaluation: pd.DataFrame | None, k: int = DEFAULT_OPTIONS.precision_k
) -> pd.DataFrame:
    """One row per method: agreement of its top-k with consensus and Wilcoxon (mean
    Jaccard over types) and, with an evaluation, mean precision@k and AUROC."""
    top = {
        (m, t): set(g.nsmallest(k, "rank")["gene"])
        for (m, t), g in genes.groupby(["method", "cell_type"])
    }
    rows = []
    for m in sorted(genes["method"].unique()):
        types = [t for (mm, t) in top if mm == m]

        def jac(other, m=m, types=types):
            vals = [
                len(top[m, t] & top[other, t]) / max(1, len(top[m, t] | top[other, t]))
                for t in types
                if (other, t) in top
            ]
            return float(np.mean(vals)) if vals else np.nan

        row = {
            "method": m,
            "n_cell_types": len(types),
            f"jaccard_top{k}_vs_consensus": jac("consensus"),
            f"jaccard_top{k}_vs_wilcoxon": jac("wilcoxon"),
        }
        if evaluation is not None and len(evaluation):
            e = evaluation[evaluation["method"] == m]
            row[f"precision_at_{k}"] = float(e["precision_at_k"].mean()) if len(e) else np.nan
            row["auroc"] = float(e["auroc"].mean()) if len(e) else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    if f"precision_at_{k}" in out:
        out = out.sort_values(f"precision_at_{k}", ascending=False, kind="stable")
    return out.reset_index(drop=True)


def run(inputs: Mapping, options: IdentityOptions = DEFAULT_OPTIONS) -> dict:
    """The identity branch from files: :func:`rank_identity_genes` with ``options``.

    Parameters
    ----------
    inputs
        ``normalized`` (``normalized.h5ad``), ``attributions`` (the identity model's
        attribution h5ads, method = file stem), ``model`` (the identity model's
        ``model.pt``; absent: no model-based sources), ``members`` (its further members'
        ``model.pt``), ``attention`` (the attention classifier's ``model.pt``, optional),
        ``markers`` (``model.pt`` of models of the ``markers`` role).
    options
        :class:`IdentityOptions` (``IdentityOptions.from_params(snakemake.params)`` in
        the workflow); ``device`` ``auto`` is CUDA when present.

    Returns
    -------
    dict
        ``genes`` (``identity/genes.tsv``), ``methods`` (:func:`method_summary`),
        ``sampling`` (:func:`sampling_table`), ``not_ranked`` (:func:`not_ranked_types`),
        and for the figures (:func:`plot_top_genes`) ``data``, the AnnData read, and its
        ``label_key``.
    """
    from pathlib import Path

    def folder(path):
        return None if path is None else Path(path).parent

    genes, data, label_key, sampling = rank_identity_genes(
        inputs["normalized"],
        {Path(p).stem: p for p in inputs.get("attributions", [])},
        model_dir=folder(inputs.get("model")),
        member_dirs=[folder(p) for p in inputs.get("members", [])],
        attention_dir=folder(inputs.get("attention")),
        marker_dirs=[folder(p) for p in inputs.get("markers", [])],
        options=options,
    )
    not_ranked = pd.DataFrame(genes.attrs.pop("not_ranked"))
    return {
        "genes": genes,
        "methods": method_summary(genes, None, options.precision_k),
        "sampling": sampling,
        "not_ranked": not_ranked,
        "data": data,
        "label_key": label_key,
    }


def rank_identity_genes(
    normalized,
    attributions: Mapping[str, str],
    *,
    model_dir=None,
    member_dirs: Sequence = (),
    attention_dir=None,
    marker_dirs: Sequence = (),
    options: IdentityOptions = DEFAULT_OPTIONS,
) -> tuple[pd.DataFrame, object, str, pd.DataFrame]:
    """The ``rank_identity_genes`` rule: every source, the consensus, one long table.

    Parameters
    ----------
    normalized
        ``normalized.h5ad``.
    attributions
        Method -> attribution h5ad of the identity model (``ablation`` files, which hold
        gene-set-group values, are skipped: gene-level ablation is computed here).
    model_dir
        The identity model's directory (for contrastive IG and in-silico ablation); None
        skips both.
    member_dirs
        Further members of the identity model's ensemble (the same model trained at other
        seeds): contrastive IG and ablation average over ``model_dir`` and these, and the
        table's ``confidence`` column gives, for the model-based methods and the
        consensus, the share of members whose own ranking puts the gene in the type's
        top ``confidence_top`` (:func:`ensemble_confidence`).
    attention_dir
        The attention classifier's directory; None skips the ``attention`` method.
    marker_dirs
        Directories of models whose parameters rank the genes (the ``markers`` role:
        ``logistic_classifier``): each gives the source its class names
        (``marker_source``, e.g. ``logistic_weights``) from ``marker_scores()``.
    options
        :class:`IdentityOptions` (``branches.identity``, ``train.seed``,
        ``train.device``).

    Returns
    -------
    (genes table, the normalized AnnData read (every cell up to ``max_cells_de``, else a
    stratified sample), label key, :func:`sampling_table`)
    """
    from scinterp.data.cells import sample_cells
    from scinterp.device import resolve_device

    dev = resolve_device(options.device)
    data, label_key, labels_file, sampled = _read_cells(normalized, options)
    sources: dict[str, pd.DataFrame] = {}
    models: dict[str, str] = {}
    _attribution_sources(attributions, label_key, options.aggregate, sources, models)
    labels_all = data.obs[label_key].astype(str).to_numpy()
    cells = sample_cells(labels_all, options.max_cells, options.seed)
    _statistic_sources(data, label_key, labels_all, cells, attention_dir, dev, sources, models)
    include = list(options.consensus)
    members, meta = _load_members(model_dir, member_dirs, dev)
    # cells without a label are no cell type, and a type the model did not learn has no
    # model-based evidence: neither is ranked (identity/not_ranked.tsv says why)
    not_ranked = not_ranked_types(labels_file, None if meta is None else list(meta["classes"]))
    sources = _without_types(sources, not_ranked["cell_type"])
    per_member: dict[str, list[pd.DataFrame]] = {}  # model-based method -> one per member
    X = None if meta is None else data[cells, list(meta["features"])].X
    if members:
        sources["contrastive_ig"], per_member["contrastive_ig"] = contrastive_scores(
            members,
            X,
            labels_all[cells],
            meta["classes"],
            meta["features"],
            device=dev,
            members_too=True,
            contrast=options.contrast,
        )
        models["contrastive_ig"] = _ensemble_name(meta["name"], len(members))
    for d in marker_dirs:
        sources.update(marker_sources(d, not_ranked["cell_type"], models))
    if members and options.ablation:
        candidates = _ablation_candidates(sources, include, options.n_candidates)
        per_member["ablation"] = [
            ablation_scores(
                member,
                X,
                labels_all[cells],
                meta["classes"],
                meta["features"],
                candidates,
                device=dev,
            )
            for member in members
        ]
        sources["ablation"] = ensemble_scores(per_member["ablation"])
        models["ablation"] = _ensemble_name(meta["name"], len(members))
    sources = _without_types(sources, not_ranked["cell_type"])
    sources["consensus"] = consensus_scores(sources, include)
    models["consensus"] = "+".join(m for m in include if m in sources)
    confidence = _member_confidence(sources, per_member, include, options.confidence_top)
    table = pd.concat(
        [long_table(s, m, models[m], confidence.get(m)) for m, s in sources.items()],
        ignore_index=True,
    )
    sampling = sampling_table(
        data, label_key, labels_file, sampled, options.precision_k, options.seed
    )
    # who was not ranked and why (not_ranked_types), as plain lists: pandas compares
    # attrs when it concatenates, which a DataFrame there would break
    table.attrs["not_ranked"] = not_ranked.to_dict("list")
    if len(not_ranked):
        log.warning(
            "identity: not ranked as cell types: %s",
            "; ".join(
                f"{r.cell_type} ({r.n_cells} cells): {r.reason}" for r in not_ranked.itertuples()
            ),
        )
    return table, data, label_key, sampling


def _read_cells(normalized, options: IdentityOptions):
    """The cells the branch reads: every cell up to ``max_cells_de``, else a sample
    stratified by the label column. Returns (AnnData, label key, every cell's label,
    whether it is a sample)."""
    from scinterp.data.cells import sample_cells
    from scinterp.io import read_meta, read_normalized

    info = read_meta(normalized, ("obs", "uns"))
    label_key = info["uns"].get("scinterp", {}).get("label_key") or "label"
    labels_file = info["obs"][label_key].astype(str).to_numpy()
    max_de = options.max_cells_de
    de_rows = None
    if max_de is not None and max_de < len(labels_file):
        de_rows = sample_cells(labels_file, max_de, options.seed)
        log.info(
            "identity: %d of %d cells read (a sample stratified by %s, max_cells_de)",
            len(de_rows),
            len(labels_file),
            label_key,
        )
    data = read_normalized(normalized, rows=de_rows)  # X without the counts layer
    return data, label_key, labels_file, de_rows is not None


def _attribution_sources(attributions: Mapping[str, str], label_key, how, sources, models):
    """Each attribution file's per-type aggregate (``ablation`` files skipped: they hold
    gene-set groups), into ``sources``; its model's name into ``models``."""
    import anndata as ad

    for method, path in attributions.items():
        if method == "ablation":
            continue
        a = ad.read_h5ad(path)
        sources[method] = aggregate_attributions(a.X, a.obs[label_key], a.var_names, how)
        models[method] = str(a.uns["attribution"]["model"])


def _statistic_sources(data, label_key, labels, cells, attention_dir, device, sources, models):
    """Wilcoxon over the cells read; the attention classifier's scores (with
    ``attention_dir``) and pairwise AUCs over the sample ``cells``."""
    from scinterp.models.registry import load_model

    sources["wilcoxon"] = wilcoxon_scores(data, label_key)
    models["wilcoxon"] = ""
    if attention_dir is not None:
        model, meta = load_model(attention_dir, device)
        X = data[cells, list(meta["features"])].X
        sources["attention"] = attention_scores(model, meta, X, labels[cells], device)
        models["attention"] = meta["name"]
    sources["pairwise_auc"] = pairwise_auc_scores(
        data[cells].X, labels[cells], list(data.var_names)
    )
    models["pairwise_auc"] = ""


def _load_members(model_dir, member_dirs: Sequence, device):
    """The identity model and its further members (checked alike), and its metadata;
    ``([], None)`` without a model."""
    from scinterp.models.registry import load_model

    if model_dir is None:
        return [], None
    dirs = [model_dir, *member_dirs]
    loaded = [load_model(d, device) for d in dirs]
    _check_members(loaded, dirs)
    return [m for m, _ in loaded], loaded[0][1]


def _ablation_candidates(sources, include: Sequence[str], n_candidates: int) -> dict:
    """Per type, the genes in-silico ablation tests: the top ``n_candidates`` of every
    consensus source run so far."""
    candidates: dict[str, list[str]] = {}
    for m in include:
        if m in sources:
            for t, row in sources[m].iterrows():
                candidates.setdefault(t, []).extend(row.dropna().nlargest(n_candidates).index)
    return candidates


def _member_confidence(sources, per_member, include: Sequence[str], top: int) -> dict:
    """Method -> types x genes share of ensemble members that put the gene in the type's
    top ``top`` (the consensus re-fused with each member's model-based sources); empty
    with one member."""
    confidence: dict[str, pd.DataFrame] = {}
    n_members = len(per_member.get("contrastive_ig", []))
    if n_members <= 1:
        return confidence
    for m, own in per_member.items():
        confidence[m] = ensemble_confidence(own, top)
    member_consensus = [
        consensus_scores({**sources, **{m: own[i] for m, own in per_member.items()}}, include)
        for i in range(n_members)
    ]
    confidence["consensus"] = ensemble_confidence(member_consensus, top)
    # a type the members did not rank has no ensemble evidence: no confidence above 0
    learned = per_member["contrastive_ig"][0].index
    for m in confidence:
        confidence[m] = confidence[m][confidence[m].index.isin(learned)]
    log.info(
        "identity ensemble of %d members; consensus rows with confidence >= 0.8 among "
        "the top %d per type: %.0f%%",
        n_members,
        top,
        100 * _share_confident(sources["consensus"], confidence["consensus"], top),
    )
    return confidence


#: cells per type below which a classifier does not learn the type (the default of
#: scinterp.train.prepare's ``min_cells_per_class``), for the reason text
MIN_CELLS_TRAINED = 3


def marker_sources(model_dir, not_ranked=(), models: dict | None = None) -> dict:
    """Source name -> cell types x genes, read off the parameters of a model of the
    ``markers`` role (:meth:`scinterp.models.logistic.LogisticClassifier.marker_scores`:
    each class's coefficients against the other classes'); ``models`` gets the source's
    model name. Types in ``not_ranked`` are left out."""
    from scinterp.models.registry import load_model

    model, meta = load_model(model_dir, "cpu")
    name = model.marker_source
    scores = pd.DataFrame(
        model.marker_scores(), index=list(meta["classes"]), columns=list(meta["features"])
    )
    if models is not None:
        models[name] = meta["name"]
    return _without_types({name: scores}, not_ranked)


def not_ranked_types(labels, classes=None) -> pd.DataFrame:
    """The labels of ``labels`` that are not ranked as cell types, with why: missing
    labels (NaN, empty, 'unknown', ... as training reads them) and, given the classes the
    identity model learned, the types it left out (too few cells to learn); without a
    model, the types of fewer than `MIN_CELLS_TRAINED` cells.

    Returns
    -------
    DataFrame
        ``cell_type, n_cells, reason``; the label as the table would have shown it.
    """
    from scinterp.train.prepare import MISSING_LABELS

    text = pd.Series(np.asarray(labels, dtype=object)).astype(str).str.strip()
    counts = text.value_counts()
    rows = []
    for label, n in counts.items():
        if label.lower() in MISSING_LABELS:
            rows.append((label, int(n), "no label: these cells are no cell type"))
        elif (label not in set(classes)) if classes is not None else n < MIN_CELLS_TRAINED:
            rows.append(
                (
                    label,
                    int(n),
                    f"too few cells for the classifier to learn it ({int(n)}; training "
                    f"leaves out types under {MIN_CELLS_TRAINED} labelled cells and "
                    "unlabelled cells)",
                )
            )
    return pd.DataFrame(rows, columns=["cell_type", "n_cells", "reason"])


def _without_types(sources: dict, types) -> dict:
    """Every source's types x genes table without the rows of ``types``."""
    types = set(types)
    return {m: s[~s.index.astype(str).isin(types)] for m, s in sources.items()}


def sampling_table(
    data,
    label_key: str,
    labels_all,
    sampled: bool,
    k: int = DEFAULT_OPTIONS.precision_k,
    seed: int = DEFAULT_OPTIONS.seed,
):
    """Per cell type: its cells in the data (``cells``), the cells the branch read
    (``cells_used``) and, where those are a sample, the sampling error of the Wilcoxon
    ranking: the share of a type's top ``k`` genes that two halves of the sample (split
    at random within each type) agree on (``split_half_overlap``; NaN without a sample)."""
    labels = data.obs[label_key].astype(str).to_numpy()
    total = pd.Series(labels_all).value_counts()
    used = pd.Series(labels).value_counts()
    types = sorted(used.index)
    overlap = pd.Series(np.nan, index=types)
    if sampled and len(types) > 1:
        rng = np.random.default_rng(seed)
        first = np.zeros(len(labels), dtype=bool)
        for t in types:
            cells = rng.permutation(np.flatnonzero(labels == t))
            first[cells[: len(cells) // 2]] = True
        a = wilcoxon_scores(data[first], label_key)
        b = wilcoxon_scores(data[~first], label_key)
        for t in types:
            if t in a.index and t in b.index:
                top_a = set(a.loc[t].dropna().nlargest(k).index)
                top_b = set(b.loc[t].dropna().nlargest(k).index)
                overlap[t] = len(top_a & top_b) / k
        log.info(
            "identity sample: Wilcoxon top %d per type shared by two halves of the sample: "
            "mean %.2f, lowest %.2f (%s)",
            k,
            overlap.mean(),
            overlap.min(),
            overlap.idxmin(),
        )
    return pd.DataFrame(
        {
            "cell_type": types,
            "cells": [int(total.get(t, 0)) for t in types],
            "cells_used": [int(used[t]) for t in types],
            "split_half_overlap": overlap.to_numpy(),
        }
    )
