"""The programs branch end to end: every table from normalized data and trained models."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from scinterp.errors import ScinterpInputError
from scinterp.interpret.gene_scores import GeneMeans, GeneSetScorer, feed_chunks

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
from ._options import DEFAULT_OPTIONS, ProgramsOptions
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
    min_set_size: int = DEFAULT_OPTIONS.min_set_size,
    used_threshold: float = DEFAULT_OPTIONS.used_threshold,
    n_top_denovo: int = DEFAULT_OPTIONS.n_top_denovo,
    n_posterior_samples: int = DEFAULT_OPTIONS.n_posterior_samples,
    ctrl_size: int = DEFAULT_OPTIONS.score_genes_ctrl_size,
    seed: int = DEFAULT_OPTIONS.seed,
    device: str = "cpu",
    dataset: str | None = None,
    score_trim: float = DEFAULT_OPTIONS.score_trim,
    member_dirs: Mapping[str, Sequence[str]] | None = None,
    confidence_top: int = DEFAULT_OPTIONS.confidence_top,
    chunk_rows: int | None = DEFAULT_OPTIONS.chunk_rows,
) -> dict:
    """Every table of the programs branch from a normalized AnnData and trained models
    (:func:`run` is the same from a :class:`ProgramsOptions`, whose defaults these are).

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
        See :func:`program_loadings`, :func:`differential_scores`, :func:`scinterp.interpret.gene_scores.score_gene_sets`.
    score_trim
        Trim fraction of the VAEs' scores (:func:`decoder_scores`).
    device, dataset
        Torch device for the models; the dataset's name, for messages.
    member_dirs
        VAE name -> folders of further ensemble members (the same VAE trained at other
        seeds). A gene-set program's ``score`` is then the mean over the members, and its
        ``confidence`` the share of members whose own scores put it among the cell type's
        top ``confidence_top`` programs of that VAE (:func:`ensemble_rows`); de novo
        units, which do not correspond across seeds, keep the first model's score and an
        empty confidence, as do the methods without members. The other columns, the
        loadings and the per-cell activities are the first model's.
    chunk_rows
        Cells per chunk (default: about 4M stored values, a multiple of 512 cells).

    Returns
    -------
    dict
        ``activity``, ``loadings``, ``denovo_enrichment``, ``denovo_matches`` (DataFrames)
        and ``cell_activity`` (AnnData: cells x programs of the main method, labels in obs,
        ``X_umap`` carried, ``uns["method"]``).
    """
    source = adata
    adata, label_key, labels, sets = _read_inputs(adata, gene_sets_path, min_set_size, dataset)
    model_dirs = dict(model_dirs or {})
    member_dirs = {k: list(v) for k, v in (member_dirs or {}).items()}
    runs, capsule = _open_models(model_dirs, member_dirs, adata, labels, device, dataset)
    sg = _stream_scores(source, adata, sets, runs, capsule, ctrl_size, seed, chunk_rows)

    activities = [differential_scores(sg.to_numpy(), labels, list(sg.columns), "score_genes")]
    loadings = []
    main_activity = None
    vae_options = dict(
        n_posterior_samples=n_posterior_samples,
        seed=seed,
        n_top_denovo=n_top_denovo,
        score_trim=score_trim,
        confidence_top=confidence_top,
        used_threshold=used_threshold,
    )
    for name, members in runs.items():
        table, loading, first = _vae_tables(name, members, labels, **vae_options)
        activities.append(table)
        loadings.append(loading)
        main_activity = main_activity or first
    # no VAE trained: the baseline carries the figures
    mu, programs, cell_method = main_activity or (sg.to_numpy(), list(sg.columns), "score_genes")
    activities.append(classifier_attribution(mu, labels, programs, seed=seed))
    if capsule is not None:
        activities.append(_capsule_table(*capsule))

    activity = _activity_table(activities)
    loading, enrich, matches = _denovo_tables(loadings, sets, model_dirs, adata.var_names)
    return {
        "activity": activity,
        "loadings": loading,
        "denovo_enrichment": enrich,
        "denovo_matches": matches,
        "cell_activity": _cell_activity(adata, label_key, mu, programs, cell_method),
    }


def _read_inputs(adata, gene_sets_path, min_set_size, dataset):
    """The annotations (a path is read without ``X``, which is streamed later), the label
    column, the labels and the prior gene sets present in the data."""
    import os

    from scinterp.io import read_annotations
    from scinterp.priors import read_gmt

    if isinstance(adata, str | os.PathLike):
        # obs, var, uns and the UMAP; X is streamed from the path
        adata = read_annotations(adata, obsm_keys=("X_umap",))
    label_key = label_column(adata)
    labels = adata.obs[label_key].astype(str).to_numpy()
    sets = read_gmt(gene_sets_path, genes=adata.var_names, min_size=min_set_size, dataset=dataset)
    log.info("%d gene sets with >= %d genes in the data", len(sets), min_set_size)
    return adata, label_key, labels, sets


def _open_models(model_dirs, member_dirs, adata, labels, device, dataset):
    """Each VAE's members, ``{name: [(module, meta, ModelActivity), ...]}``, and the capsule
    classifier's ``(module, meta, CapsuleTables)`` or None: the consumers of pass 1."""
    from scinterp.models.registry import model_names

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
    return runs, capsule


def _stream_scores(source, adata, sets, runs, capsule, ctrl_size, seed, chunk_rows):
    """Read ``X`` in row chunks: pass 1 feeds the genes' means and every model's
    activities (models read their features), pass 2 the ``score_genes`` baseline on the
    sets' genes and their control genes. Returns the baseline's cells x sets scores."""
    means = GeneMeans(adata.n_vars)
    consumers = (
        ([means] if sets else [])
        + [run[-1] for members in runs.values() for run in members]
        + ([capsule[-1]] if capsule else [])
    )
    feed_chunks(source, consumers, chunk_rows=chunk_rows, row_multiple=512)
    if not sets:
        return pd.DataFrame(index=adata.obs_names)
    scorer = GeneSetScorer(adata.var_names, means.result(), sets, ctrl_size=ctrl_size, seed=seed)
    feed_chunks(source, [scorer], chunk_rows=chunk_rows, row_multiple=512)
    return scorer.result(adata.obs_names)


def _vae_tables(
    name,
    members,
    labels,
    *,
    n_posterior_samples,
    seed,
    n_top_denovo,
    score_trim,
    confidence_top,
    used_threshold,
):
    """One VAE's activity rows (its members' ensemble, :func:`ensemble_rows`), its
    loadings and its first member's per-cell ``(activities, programs, name)``."""
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
        member_tables.append(decoder_scores(table, oriented, programs_i, genes_of, trim=score_trim))
        if i == 0:  # the first model carries loadings and per-cell activities
            meta, mu, weights, directions = meta_i, mu_i, weights_i, directions_i
            programs, n_prior = programs_i, int(meta_i.get("n_prior", 0))
    activity = ensemble_rows(member_tables, programs[:n_prior], confidence_top)
    loading = program_loadings(
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
    return activity, loading, (mu, programs, name)


def _capsule_table(module, meta, tables) -> pd.DataFrame:
    """The capsule classifier's capsule-to-cell-type rows, capsules named by gene set."""
    names = list(meta.get("capsule_names") or meta.get("gene_sets", {}))
    if len(names) < module.n_primary:
        names += ["remaining_genes"] * (module.n_primary - len(names))
    return tables.table(names)


def _activity_table(activities: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Every method's rows in one table, :data:`ACTIVITY_COLUMNS` first."""
    activity = pd.concat(activities, ignore_index=True)
    if "confidence" not in activity:
        activity["confidence"] = np.nan
    return activity[[c for c in ACTIVITY_COLUMNS if c in activity] + _extra(activity)]


def _denovo_tables(loadings, sets, model_dirs, var_names):
    """The loadings table, the de novo programs' enrichment in the prior sets (over the
    models' genes) and their best matches."""
    loading = (
        pd.concat(loadings, ignore_index=True)
        if loadings
        else pd.DataFrame(columns=["program", "gene", "weight", "kind", "used", "rank", "method"])
    )
    universe = loading["gene"].unique() if len(loading) else var_names
    universe = sorted(set(universe) | {g for m in model_dirs.values() for g in _features(m)})
    enrich = denovo_enrichment(loading, sets, universe or list(var_names))
    return loading, enrich, denovo_matches(enrich, loading)


def _cell_activity(adata, label_key, mu, programs, cell_method):
    """Cells x programs of the main method as an AnnData (labels, UMAP, method)."""
    import anndata as ad

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
    return cell_act


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


def model_inputs(inputs: Mapping) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The model folders of a :func:`run` input mapping: ``models`` (name -> folder) and
    ``members`` (VAE name -> folders of further ensemble members), or the workflow's
    input keys ``model_<name>`` (its ``model.pt``) and ``members_<name>`` (theirs)."""
    from pathlib import Path

    if "models" in inputs or "members" in inputs:
        models = {k: str(v) for k, v in dict(inputs.get("models") or {}).items()}
        members = {k: [str(p) for p in v] for k, v in dict(inputs.get("members") or {}).items()}
        return models, members
    models = {
        k[len("model_") :]: str(Path(v).parent) for k, v in inputs.items() if k.startswith("model_")
    }
    members = {
        k[len("members_") :]: [str(Path(p).parent) for p in v]
        for k, v in inputs.items()
        if k.startswith("members_")
    }
    return models, members


def run(
    inputs: Mapping, options: ProgramsOptions = DEFAULT_OPTIONS, *, dataset: str | None = None
) -> dict:
    """The programs branch from files: :func:`compute_programs` with ``options``.

    Parameters
    ----------
    inputs
        ``normalized`` (the path of ``normalized.h5ad``, whose ``X`` is streamed in row
        chunks, or an AnnData), ``gene_sets`` (a GMT file) and the trained models, as
        :func:`model_inputs` reads them (none: the ``score_genes`` baseline alone).
    options
        :class:`ProgramsOptions` (``ProgramsOptions.from_params(snakemake.params)`` in
        the workflow); ``device`` ``auto`` is CUDA when present.
    dataset
        The dataset's name, for messages.

    Returns
    -------
    dict
        ``activity``, ``loadings``, ``denovo_enrichment``, ``denovo_matches``,
        ``cell_activity`` (see :func:`compute_programs`).
    """
    from scinterp.device import resolve_device

    models, members = model_inputs(inputs)
    return compute_programs(
        inputs["normalized"],
        inputs["gene_sets"],
        models,
        min_set_size=options.min_set_size,
        used_threshold=options.used_threshold,
        n_top_denovo=options.n_top_denovo,
        n_posterior_samples=options.n_posterior_samples,
        ctrl_size=options.score_genes_ctrl_size,
        seed=options.seed,
        device=str(resolve_device(options.device)),
        dataset=dataset,
        score_trim=options.score_trim,
        member_dirs=members,
        confidence_top=options.confidence_top,
        chunk_rows=options.chunk_rows,
    )
