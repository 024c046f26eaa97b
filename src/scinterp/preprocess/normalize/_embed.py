"""Neighbours, UMAP (on a sample for an atlas), Leiden clusters and the label column."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from scinterp.preprocess.defaults import LABEL_COLUMN, NORMALIZE_DEFAULTS
from scinterp.preprocess.neighbors import knn_graph

log = logging.getLogger(__name__)


def label_cells(adata, label_key: str | None):
    """After :func:`embed_and_cluster`: the label column (``label_key``, or the Leiden
    clusters as ``obs["label"]``) as a categorical, named in ``uns["scinterp"]``."""
    if label_key is None:
        if LABEL_COLUMN in adata.obs.columns:
            log.warning(
                "obs column '%s' is replaced by Leiden clusters (no label_key given).",
                LABEL_COLUMN,
            )
        adata.obs[LABEL_COLUMN] = pd.Categorical(adata.obs["leiden"].astype(str))
        used = LABEL_COLUMN
    else:
        used = label_key
        n_missing = int(adata.obs[label_key].isna().sum())
        if n_missing:
            log.warning("label_key '%s' is missing for %d cells.", label_key, n_missing)
        if not isinstance(adata.obs[label_key].dtype, pd.CategoricalDtype):
            adata.obs[label_key] = adata.obs[label_key].astype(str).astype("category")
    adata.uns["scinterp"] = {**adata.uns.get("scinterp", {}), "label_key": used}
    log.info(
        "labels: obs['%s'] with %d classes",
        used,
        adata.obs[used].nunique(),
    )
    return adata


def embedding_key(adata) -> str:
    """The representation neighbours, UMAP and Leiden run on: ``obsm["X_integrated"]``
    when the PCA was integrated over batches, else ``obsm["X_pca"]``."""
    from scinterp.preprocess.integrate import INTEGRATED_KEY

    return INTEGRATED_KEY if INTEGRATED_KEY in adata.obsm else "X_pca"


def embed_and_cluster(adata, params: dict | None = None) -> None:
    """kNN graph on ``obsm["X_integrated"]`` (with a batch) or ``obsm["X_pca"]``, UMAP and
    Leiden clusters (``obs["leiden"]``), in place.

    Above ``umap_max_cells`` cells (an atlas) the kNN graph and Leiden still cover every
    cell, but UMAP, whose optimisation dominates at that size, runs on a sample stratified
    by Leiden cluster (:func:`umap_on_sample`); ``uns["umap_sample"]`` records it.
    """
    import scanpy as sc

    p = {**NORMALIZE_DEFAULTS, **(params or {})}
    seed = int(p["seed"])
    use_rep = embedding_key(adata)
    n_comps = adata.obsm[use_rep].shape[1]
    n_neighbors = int(min(p["n_neighbors"], adata.n_obs - 1))
    knn_graph(adata, n_neighbors, seed, n_pcs=n_comps, use_rep=use_rep)
    max_umap = p.get("umap_max_cells")
    sampled = max_umap is not None and adata.n_obs > int(max_umap)
    if not sampled:
        sc.tl.umap(adata, random_state=seed)
    sc.tl.leiden(
        adata,
        resolution=float(p["leiden_resolution"]),
        flavor="igraph",
        n_iterations=2,
        directed=False,
        random_state=seed,
        key_added="leiden",
    )
    if sampled:
        umap_on_sample(adata, int(max_umap), n_neighbors, seed)
    log.info(
        "%s %d comps, %d neighbours, Leiden (resolution %s): %d clusters",
        use_rep,
        n_comps,
        n_neighbors,
        p["leiden_resolution"],
        adata.obs["leiden"].nunique(),
    )


def umap_on_sample(adata, max_cells: int, n_neighbors: int, seed: int) -> None:
    """UMAP of a Leiden-stratified sample of ``max_cells`` cells (its own kNN graph on
    ``X_pca``, or ``X_integrated`` with a batch); every other cell is placed at the connectivity-weighted mean of its
    sampled neighbours in the whole kNN graph (at its cluster's sampled centre when none
    of its neighbours is sampled). Time and memory grow with the sample for UMAP and
    linearly with the cells for the placement. Sets ``obsm["X_umap"]`` and
    ``uns["umap_sample"]``."""
    import anndata as ad
    import scanpy as sc

    from scinterp.data.cells import sample_cells

    clusters = adata.obs["leiden"].astype(str).to_numpy()
    rows = sample_cells(clusters, max_cells, seed)
    use_rep = embedding_key(adata)
    sub = ad.AnnData(obs=pd.DataFrame(index=adata.obs_names[rows]))
    sub.obsm[use_rep] = np.asarray(adata.obsm[use_rep][rows])
    knn_graph(sub, n_neighbors, seed, use_rep=use_rep)
    sc.tl.umap(sub, random_state=seed)
    coords = np.zeros((adata.n_obs, 2), dtype=np.float32)
    coords[rows] = sub.obsm["X_umap"]
    rest = np.setdiff1d(np.arange(adata.n_obs), rows)
    weights = adata.obsp["connectivities"][rest][:, rows].tocsr()
    total = np.asarray(weights.sum(axis=1)).ravel()
    placed = total > 0
    coords[rest[placed]] = (weights[placed] @ coords[rows]) / total[placed, None]
    lonely = rest[~placed]
    if len(lonely):
        centres = pd.DataFrame(coords[rows]).groupby(clusters[rows]).mean()
        coords[lonely] = centres.loc[clusters[lonely]].to_numpy()
    adata.obsm["X_umap"] = coords
    adata.uns["umap_sample"] = {
        "n_cells": len(rows),
        "n_placed": len(rest),
        "n_by_cluster_centre": len(lonely),
        "note": "UMAP of a Leiden-stratified sample; the other cells at the weighted mean "
        "of their sampled kNN neighbours",
    }
    log.info(
        "UMAP on %d of %d cells (Leiden-stratified); %d placed by their sampled neighbours, "
        "%d at their cluster's centre",
        len(rows),
        adata.n_obs,
        int(placed.sum()),
        len(lonely),
    )
