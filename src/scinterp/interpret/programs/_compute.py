"""The programs branch end to end: every table from normalized data and trained models."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from scinterp.errors import ScinterpInputError

from ._activity import (
    CapsuleTables,
    ModelActivity,
    decoder_scores,
    latent_directions,
    program_gene_rows,
)
from ._attribution import classifier_attribution
from ._enrichment import denovo_enrichment, denovo_matches
from ._loadings import program_loadings
from ._score import GeneMeans, GeneSetScorer, feed_chunks
from ._stats import ACTIVITY_COLUMNS, differential_scores

log = logging.getLogger(__name__)


def check_features(adata, features: Sequence[str], model_dir, dataset: str | None) -> np.ndarray:
    """Column positions of a model's features in ``adata`` (clear error when missing)."""
    pos = {str(g): i for i, g in enumerate(adata.var_names)}
    missing = [g for g in features if g not in pos]
    if missing:
        raise ScinterpInputError(
            f"{len(missing)} of the model's {len(features)} genes are not in normalized.h5ad "
            f"(e.g. {', '.join(missing[:5])}).",
            dataset=dataset,
            path=model_dir,
            fix="retrain the model on the current normalized.h5ad (delete the model folder).",
        )
    return np.asarray([pos[g] for g in features], dtype=np.int64)


def label_column(adata) -> str:
    """The obs column holding the cell labels (``uns["scinterp"]["label_key"]``)."""
    key = adata.uns.get("scinterp", {}).get("label_key") if hasattr(adata, "uns") else None
    for candidate in (key, "label"):
        if candidate is not None and candidate in adata.obs:
            return candidate
    raise ScinterpInputError(
        "normalized.h5ad names no label column (uns['scinterp']['label_key']) present in obs.",
        fix="re-run the normalize step, which records the label column.",
    )


def ensemble_rows(
    tables: Sequence[pd.DataFrame], aligned: Sequence[str], top: int = 5
) -> pd.DataFrame:
    """One method's activity table from an ensemble of the same model at several seeds.

    Parameters
    ----------
    tables
        One activity table per member (``program, cell_type, score, ...``), the first one
        the main model.
    aligned
        Programs that mean the same in every member (the gene-set units); others (de
        novo units) keep the first table's score and get no confidence.
    top
        A member "finds" a program for a cell type when the program is among the type's
        ``top`` highest scores of that member.

    Returns
    -------
    pandas.DataFrame
        The first table with ``score`` the members' mean (aligned programs) and
        ``confidence``: the share of members that find the program for the type (NaN for
        programs not aligned, and for every row with a single member).
    """
    out = tables[0].copy()
    out["confidence"] = np.nan
    if len(tables) < 2:
        return out
    aligned = set(aligned)
    key = ["program", "cell_type"]
    found = []
    scores = []
    for t in tables:
        t = t[t["program"].isin(aligned)]
        s = t.set_index(key)["score"]
        scores.append(s)
        ranks = t.groupby("cell_type")["score"].rank(ascending=False, method="first")
        found.append(pd.Series((ranks <= top).to_numpy(float), index=s.index))
    mean = pd.concat(scores, axis=1).mean(axis=1)
    conf = pd.concat(found, axis=1).fillna(0.0).mean(axis=1)
    idx = pd.MultiIndex.from_frame(out[key])
    hit = idx.isin(mean.index)
    out.loc[hit, "score"] = mean.reindex(idx[hit]).to_numpy()
    out.loc[hit, "confidence"] = conf.reindex(idx[hit]).to_numpy()
    return out


def compute_programs(
    adata,
    gene_sets_path,
    model_dirs: Mapping[str, str] | None = None,
    *,
    min_set_size: int = 5,
    used_threshold: float = 0.1,
    n_top_denovo: int = 50,
    n_posterior_samples: int = 10,
    ctrl_size: int = 50,
    seed: int = 0,
    device: str = "cpu",
    dataset: str | None = None,
    score_trim: float = 0.2,
    member_dirs: Mapping[str, Sequence[str]] | None = None,
    confidence_top: int = 5,
    chunk_rows: int | None = None,
) -> dict:
    """Every table of the programs branch from a normalized AnnData and trained models.

    Parameters
    ----------
    adata
        ``normalized.h5ad`` (log-normalized ``X``, label column, ``obsm["X_umap"]``): the
        AnnData, or the file's path. From a path ``X`` is read in row chunks, twice: once
        for the genes' means (``score_genes`` bins), the models' activities and the
        capsule table, once for the ``score_genes`` scores; the cells x genes matrix is
        never held, only cells x programs.
    gene_sets_path
        GMT file of prior gene sets (genes absent from the data are dropped and counted in
        the log; sets with fewer than ``min_set_size`` genes are skipped with a warning;
        malformed lines or no overlap raise :class:`ScinterpInputError`).
    model_dirs
        Model name -> model folder, among the gene-program VAEs (models registered with
        ``program_vae=True``: ``program_vae``, ``ldvae``) and ``capsule_classifier``.
    min_set_size, used_threshold, n_top_denovo, n_posterior_samples, ctrl_size, seed
        See :func:`program_loadings`, :func:`differential_scores`, :func:`score_gene_sets`.
    score_trim
        Trim fraction of the VAEs' scores (:func:`decoder_scores`).
    device
        Torch device for the models.
    dataset
        Dataset name, for messages.
    member_dirs
        VAE name -> folders of further ensemble members (the same VAE trained at other
        seeds). A gene-set program's ``score`` is then the mean over the members, and its
        ``confidence`` the share of members whose own scores put it among the cell type's
        top ``confidence_top`` programs of that VAE (:func:`ensemble_rows`); de novo
        units, which do not correspond across seeds, keep the first model's score and an
        empty confidence, as do the methods without members. The other columns, the
        loadings and the per-cell activities are the first model's.
    confidence_top
        See ``member_dirs``.
    chunk_rows
        Cells per chunk (default: about 4M stored values, a multiple of 512 cells).

    Returns
    -------
    dict
        ``activity``, ``loadings``, ``denovo_enrichment``, ``denovo_matches`` (DataFrames)
        and ``cell_activity`` (AnnData: cells x programs of the main method, labels in obs,
        ``X_umap`` carried, ``uns["method"]``).
    """
    import os

    import anndata as ad

    from scinterp.io import read_annotations
    from scinterp.models.registry import model_names
    from scinterp.priors import read_gmt

    source = adata
    if isinstance(adata, str | os.PathLike):
        # obs, var, uns and the UMAP; X is streamed from `source`
        adata = read_annotations(adata, obsm_keys=("X_umap",))
    model_dirs = dict(model_dirs or {})
    member_dirs = {k: list(v) for k, v in (member_dirs or {}).items()}
    label_key = label_column(adata)
    labels = adata.obs[label_key].astype(str).to_numpy()
    sets = read_gmt(gene_sets_path, genes=adata.var_names, min_size=min_set_size, dataset=dataset)
    log.info("%d gene sets with >= %d genes in the data", len(sets), min_set_size)

    # pass 1: the genes' means and every model's activities (models read their features)
    means = GeneMeans(adata.n_vars)
    runs: dict[str, list] = {}  # VAE -> (module, meta, ModelActivity) of each member
    for name in model_names(program_vae=True):
        for d in [model_dirs[name], *member_dirs.get(name, [])] if name in model_dirs else []:
            module_i, meta_i, genes_i = _load_model(d, adata, device, dataset)
            act_i = ModelActivity(module_i, genes_i, adata.n_obs, device=device)
            runs.setdefault(name, []).append((module_i, meta_i, act_i))
    capsule = None
    if "capsule_classifier" in model_dirs:
        module, meta, genes = _load_model(model_dirs["capsule_classifier"], adata, device, dataset)
        capsule = (
            module,
            meta,
            CapsuleTables(module, genes, labels, meta["classes"], device=device),
        )
    consumers = (
        ([means] if sets else [])
        + [run[-1] for members in runs.values() for run in members]
        + ([capsule[-1]] if capsule else [])
    )
    feed_chunks(source, consumers, chunk_rows=chunk_rows, row_multiple=512)
    # pass 2: the score_genes baseline, on the sets' genes and their control genes
    if sets:
        scorer = GeneSetScorer(
            adata.var_names, means.result(), sets, ctrl_size=ctrl_size, seed=seed
        )
        feed_chunks(source, [scorer], chunk_rows=chunk_rows, row_multiple=512)
        sg = scorer.result(adata.obs_names)
    else:
        sg = pd.DataFrame(index=adata.obs_names)

    activities = []
    loadings = []
    cell_act, cell_method = None, None
    activities.append(differential_scores(sg.to_numpy(), labels, list(sg.columns), "score_genes"))

    main_activity = None
    for name, members in runs.items():
        member_tables = []
        for i, (module_i, meta_i, act_i) in enumerate(members):
            mu_i, sd_i = act_i.result()
            act_i.mu = act_i.sd = None  # released as the members are scored
            weights_i = module_i.decoder_weights().cpu().numpy()
            directions_i = latent_directions(weights_i)
            mu_i = mu_i * directions_i[None, :]
            programs_i = list(meta_i["programs"])
            table = differential_scores(
                mu_i, labels, programs_i, name, std=sd_i, n_samples=n_posterior_samples, seed=seed
            )
            oriented = weights_i * directions_i[None, :]
            genes_of = program_gene_rows(
                oriented,
                meta_i["features"],
                programs_i,
                int(meta_i.get("n_prior", 0)),
                meta_i.get("gene_sets"),
                n_top_denovo,
            )
            member_tables.append(
                decoder_scores(table, oriented, programs_i, genes_of, trim=score_trim)
            )
            if i == 0:  # the first model carries loadings and per-cell activities
                meta, mu, weights, directions = meta_i, mu_i, weights_i, directions_i
                programs, n_prior = programs_i, int(meta_i.get("n_prior", 0))
        activities.append(ensemble_rows(member_tables, programs[:n_prior], confidence_top))
        loadings.append(
            program_loadings(
                weights,
                meta["features"],
                programs,
                int(meta.get("n_prior", 0)),
                name,
                gene_sets=meta.get("gene_sets"),
                directions=directions,
                used_threshold=used_threshold,
                n_top_denovo=n_top_denovo,
            )
        )
        if main_activity is None:
            main_activity = (mu, programs, name)

    if main_activity is None:  # no VAE trained: the baseline carries the figures
        main_activity = (sg.to_numpy(), list(sg.columns), "score_genes")
    mu, programs, cell_method = main_activity
    activities.append(classifier_attribution(mu, labels, programs, seed=seed))

    if capsule is not None:
        module, meta, tables = capsule
        names = list(meta.get("capsule_names") or meta.get("gene_sets", {}))
        if len(names) < module.n_primary:
            names += ["remaining_genes"] * (module.n_primary - len(names))
        activities.append(tables.table(names))

    activity = pd.concat(activities, ignore_index=True)
    if "confidence" not in activity:
        activity["confidence"] = np.nan
    activity = activity[[c for c in ACTIVITY_COLUMNS if c in activity] + _extra(activity)]
    loading = (
        pd.concat(loadings, ignore_index=True)
        if loadings
        else pd.DataFrame(columns=["program", "gene", "weight", "kind", "used", "rank", "method"])
    )
    universe = loading["gene"].unique() if len(loading) else adata.var_names
    universe = sorted(set(universe) | {g for m in model_dirs.values() for g in _features(m)})
    enrich = denovo_enrichment(loading, sets, universe or list(adata.var_names))
    matches = denovo_matches(enrich, loading)

    cell_act = ad.AnnData(
        X=np.asarray(mu, dtype=np.float32),
        obs=pd.DataFrame(
            {label_key: adata.obs[label_key].astype(str).to_numpy()}, index=adata.obs_names
        ),
        var=pd.DataFrame(index=pd.Index(programs, dtype=str)),
    )
    if "X_umap" in adata.obsm:
        cell_act.obsm["X_umap"] = np.asarray(adata.obsm["X_umap"])
    cell_act.uns["method"] = cell_method
    cell_act.uns["label_key"] = label_key
    return {
        "activity": activity,
        "loadings": loading,
        "denovo_enrichment": enrich,
        "denovo_matches": matches,
        "cell_activity": cell_act,
    }


def _extra(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in ACTIVITY_COLUMNS]


def _features(model_dir) -> list[str]:
    import json
    from pathlib import Path

    meta = json.loads((Path(model_dir) / "model.json").read_text()).get("meta", {})
    return [str(g) for g in meta.get("features", [])]


def _load_model(model_dir, adata, device, dataset):
    """A trained model, its meta and its features (checked against ``adata``'s genes)."""
    from scinterp.models.registry import load_model

    module, meta = load_model(model_dir, device)
    features = [str(g) for g in meta["features"]]
    check_features(adata, features, model_dir, dataset)
    return module, meta, features


def _load(model_dir, adata, device, dataset):
    """A trained model, its meta and ``adata.X`` on its features (in memory)."""
    module, meta, features = _load_model(model_dir, adata, device, dataset)
    X = adata.X[:, check_features(adata, features, model_dir, dataset)]
    if sparse.issparse(X):
        X = sparse.csr_matrix(X)
    return module, meta, X
