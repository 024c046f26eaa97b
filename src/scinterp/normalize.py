"""Normalization, highly variable genes, embedding and clustering.

`run_normalize` is the entry point used by the ``normalize`` rule. All genes are
kept (HVGs are flagged in ``var["highly_variable"]``), raw counts stay in
``layers["counts"]``, and ``.X`` holds log1p(normalized counts) as sparse CSR.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError

log = logging.getLogger(__name__)

# Defaults of the schema's `normalize` section (workflow/schemas/config.schema.yaml).
NORMALIZE_DEFAULTS = {
    "target_sum": 10000,
    "normalize_total": True,
    "n_top_genes": 2000,
    "n_pcs": 30,
    "n_neighbors": 15,
    "leiden_resolution": 1.0,
    "umap_max_cells": 200_000,
    "integration": "scaled_harmony",
    "seed": 0,
}
# The UMAP figure draws at most this many cells (a random sample; the embedding keeps all).
PLOT_MAX_CELLS = 100_000
# seurat_v3 fits a loess per batch; a batch smaller than this gives an unstable fit.
MIN_CELLS_HVG_BATCH = 30
LABEL_COLUMN = "label"


# Matrices with at least this many stored values take the lean paths below (chunked,
# no copy of the matrix); smaller ones go through scanpy's functions, which copy.
LEAN_MIN_NNZ = 100_000_000
_CHUNK_NNZ = 1 << 22


def _lean(X) -> bool:
    from scipy import sparse

    return sparse.issparse(X) and X.format == "csr" and X.nnz >= LEAN_MIN_NNZ


def _chunks(indptr: np.ndarray):
    """(first row, end row, first value, end value) of row ranges of ~_CHUNK_NNZ values."""
    n = len(indptr) - 1
    r0 = 0
    while r0 < n:
        r1 = int(np.searchsorted(indptr, indptr[r0] + _CHUNK_NNZ, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        yield r0, r1, int(indptr[r0]), int(indptr[r1])
        r0 = r1


def normalize_log1p_inplace(X, target_sum: float | None) -> None:
    """``log1p(X / total * target_sum)`` per row of a CSR matrix, in place, chunk by chunk.

    The same values as scanpy's normalize_total + log1p, without their temporaries
    (scanpy repeats the per-cell factor over all stored values in float64). With
    ``target_sum=None`` the rows are not scaled: ``log1p(X)``.
    """
    if target_sum is None:
        np.log1p(X.data, out=X.data)
        return
    totals = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()
    factor = totals / target_sum
    factor[factor == 0] = 1.0
    for r0, r1, s, e in _chunks(X.indptr):
        X.data[s:e] /= np.repeat(factor[r0:r1], np.diff(X.indptr[r0 : r1 + 1]))
        np.log1p(X.data[s:e], out=X.data[s:e])


def hvgs_seurat_v3_csr(adata, n_top_genes: int, batch_key: str | None, span: float = 0.3):
    """scanpy's ``highly_variable_genes(flavor="seurat_v3", layer="counts")`` for a CSR
    counts layer, computed in chunks of rows (scanpy copies every batch's rows).

    Same statistics and columns in ``var`` (``highly_variable``, ``highly_variable_rank``,
    ``means``, ``variances``, ``variances_norm``, ``highly_variable_nbatches``): per
    batch, a loess fit of log variance on log mean, values clipped at mean + sqrt(n)
    regularized SDs, the normalized variance ranked; genes ordered by median rank
    over batches, then by the number of batches where they are among the top.
    """
    from skmisc.loess import loess

    X = adata.layers["counts"]
    n_genes = X.shape[1]
    if batch_key is None:
        codes = np.zeros(X.shape[0], dtype=np.int64)
        n_b = 1
    else:
        codes, _ = pd.factorize(adata.obs[batch_key], sort=True)
        n_b = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=n_b).astype(np.float64)

    def grid_sums(clip=None):
        s1 = np.zeros(n_b * n_genes)
        s2 = np.zeros(n_b * n_genes)
        for r0, r1, s, e in _chunks(X.indptr):
            key = np.repeat(codes[r0:r1], np.diff(X.indptr[r0 : r1 + 1])) * n_genes
            key += X.indices[s:e]
            v = X.data[s:e].astype(np.float64)
            if clip is not None:
                np.minimum(v, clip[key], out=v)
            s1 += np.bincount(key, weights=v, minlength=n_b * n_genes)
            s2 += np.bincount(key, weights=v * v, minlength=n_b * n_genes)
        return s1.reshape(n_b, n_genes), s2.reshape(n_b, n_genes)

    s1, s2 = grid_sums()
    n = sizes[:, None]
    mean = s1 / n
    var = (s2 / n - mean**2) * (n / np.maximum(n - 1, 1))
    np.maximum(var, 0, out=var)
    reg_std = np.zeros_like(var)
    for b in range(n_b):
        not_const = var[b] > 0
        model = loess(
            np.log10(mean[b, not_const]), np.log10(var[b, not_const]), span=span, degree=2
        )
        model.fit()
        est = np.zeros(n_genes)
        est[not_const] = model.outputs.fitted_values
        reg_std[b] = np.sqrt(10**est)
    clip = (reg_std * np.sqrt(n) + mean).ravel()
    c1, c2 = grid_sums(clip)
    norm_var = (1 / ((n - 1) * reg_std**2)) * (n * mean**2 + c2 - 2 * c1 * mean)

    ranked = np.argsort(np.argsort(-norm_var, axis=1), axis=1).astype(np.float32)
    n_batches_hv = np.sum(ranked < n_top_genes, axis=0)
    ranked[ranked >= n_top_genes] = np.nan
    median_rank = np.ma.median(np.ma.masked_invalid(ranked), axis=0).filled(np.nan)
    total_n = sizes.sum()
    all_mean = s1.sum(axis=0) / total_n
    all_var = (s2.sum(axis=0) / total_n - all_mean**2) * (total_n / max(total_n - 1, 1))
    df = pd.DataFrame({"rank": median_rank, "nbatches": n_batches_hv}, index=pd.RangeIndex(n_genes))
    order = df.sort_values(["rank", "nbatches"], ascending=[True, False], na_position="last")
    hv = np.zeros(n_genes, dtype=bool)
    hv[order.index[: int(n_top_genes)]] = True
    adata.uns["hvg"] = {"flavor": "seurat_v3"}
    adata.var["highly_variable"] = hv
    adata.var["highly_variable_rank"] = median_rank
    adata.var["means"] = all_mean
    adata.var["variances"] = all_var
    adata.var["variances_norm"] = np.mean(norm_var, axis=0)
    if batch_key is not None:
        adata.var["highly_variable_nbatches"] = n_batches_hv


def select_hvgs(adata, n_top_genes: int, batch_key: str | None, *, fallback: bool = True) -> bool:
    """Flag HVGs (``var["highly_variable"]``) with seurat_v3 on ``layers["counts"]``.

    Uses the batches when every batch has at least `MIN_CELLS_HVG_BATCH` cells,
    caps ``n_top_genes`` at the number of genes, and falls back to the ``seurat``
    flavour on log data in ``.X`` if the loess fit fails (tiny or degenerate data).
    With ``fallback=False`` it returns False instead of falling back (``.X`` does not
    hold log data yet). Returns True when HVGs were flagged.
    """
    import scanpy as sc

    n_top = int(min(n_top_genes, adata.n_vars))
    use_batch = batch_key
    if batch_key is not None:
        sizes = adata.obs[batch_key].value_counts()
        if len(sizes) < 2:
            use_batch = None
        elif sizes.min() < MIN_CELLS_HVG_BATCH:
            log.warning(
                "HVGs: batch '%s' has %d cells (< %d); HVGs are selected on all cells together.",
                sizes.idxmin(),
                sizes.min(),
                MIN_CELLS_HVG_BATCH,
            )
            use_batch = None
    try:
        counts = adata.layers["counts"]
        if _lean(counts):
            hvgs_seurat_v3_csr(adata, n_top, use_batch)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                sc.pp.highly_variable_genes(
                    adata,
                    flavor="seurat_v3",
                    layer="counts",
                    n_top_genes=n_top,
                    batch_key=use_batch,
                )
    except Exception as e:  # noqa: BLE001 - skmisc's loess raises plain ValueErrors
        if not fallback:
            log.info("HVGs: seurat_v3 failed (%s); retried on log data.", e)
            return False
        log.warning("HVGs: seurat_v3 failed (%s); using flavor='seurat' on log data.", e)
        sc.pp.highly_variable_genes(adata, flavor="seurat", n_top_genes=n_top, batch_key=use_batch)
    adata.var["highly_variable"] = adata.var["highly_variable"].astype(bool)
    log.info(
        "HVGs: %d of %d genes (seurat_v3 on counts, batch_key=%s)",
        int(adata.var["highly_variable"].sum()),
        adata.n_vars,
        use_batch,
    )
    return True


def run_normalize(
    adata,
    params: dict | None,
    batch_key: str | None,
    label_key: str | None,
    dataset: str | None,
    *,
    path=None,
    embed: bool = True,
    condition_key: str | None = None,
):
    """Normalize, flag HVGs, embed and cluster (in place; also returned).

    Parameters
    ----------
    adata
        QC-filtered AnnData with raw counts in ``.X``.
    params
        The config's ``normalize`` section; missing keys take the schema defaults.
    batch_key, label_key
        obs columns or None. Without ``label_key``, Leiden clusters become
        ``obs["label"]``. With ``batch_key``, the PCA is integrated over it
        (``normalize.integration``, :func:`scinterp.integrate.integrate`) into
        ``obsm["X_integrated"]``, which neighbours, UMAP and Leiden then use.
    condition_key
        obs column or None; only checked for confounding with the batch.
    dataset, path
        For messages.
    embed
        Run `embed_and_cluster` (neighbours, UMAP, Leiden) and :func:`label_cells` after
        the PCA; False stops at the PCA (:func:`normalize_to_file` embeds afterwards, on
        the PCA alone).

    Returns
    -------
    AnnData with ``layers["counts"]``, log-normalized ``.X``, ``var["highly_variable"]``,
    ``obsm["X_pca"]``, ``obsm["X_umap"]``, ``obs["leiden"]`` and
    ``uns["scinterp"]["label_key"]`` naming the label column.
    """
    import scanpy as sc
    from scipy import sparse

    from scinterp.integrate import integrate
    from scinterp.io import validate_obs_keys

    p = {**NORMALIZE_DEFAULTS, **(params or {})}
    validate_obs_keys(adata, dataset, path, label_key=label_key, batch_key=batch_key)
    if adata.n_obs < 3:
        raise ScinterpInputError(
            f"only {adata.n_obs} cells; normalization needs at least 3 to build a neighbour graph.",
            dataset=dataset,
            path=path,
            fix="relax the qc thresholds or give more cells.",
        )
    seed = int(p["seed"])
    counts = adata.X
    if not (sparse.issparse(counts) and counts.format == "csr"):
        counts = sparse.csr_matrix(counts)
    if counts.dtype != np.float32:  # astype copies even to the same type
        counts = counts.astype(np.float32)
    counts.eliminate_zeros()
    counts.sort_indices()
    adata.X = counts
    adata.layers["counts"] = counts
    # HVGs first, while the counts are the only matrix: seurat_v3 copies each batch's
    # rows, and an atlas should not hold that copy next to the log-normalized one.
    hvgs = select_hvgs(adata, int(p["n_top_genes"]), batch_key, fallback=False)
    # The log-normalized values get their own data array but share the index arrays
    # with the counts (the same cells x genes are non-zero): 4 bytes less per value.
    adata.X = sparse.csr_matrix(
        (counts.data.copy(), counts.indices, counts.indptr), shape=counts.shape, copy=False
    )
    # normalize_total false: log1p of the counts themselves, for data without library-size
    # differences (a simulation of expression levels); over a few genes dividing by the
    # total would couple them (one gene's rise lowers all the others)
    target_sum = float(p["target_sum"]) if p["normalize_total"] else None
    if _lean(adata.X):
        normalize_log1p_inplace(adata.X, target_sum)
    else:
        if target_sum is not None:
            sc.pp.normalize_total(adata, target_sum=target_sum)
        sc.pp.log1p(adata)
    adata.uns.pop("log1p", None)  # its {'base': None} entry does not round-trip everywhere
    if not hvgs:
        select_hvgs(adata, int(p["n_top_genes"]), batch_key)
    n_hvg = int(adata.var["highly_variable"].sum())
    n_comps = int(min(p["n_pcs"], adata.n_obs - 1, n_hvg - 1))
    if n_comps < 2:
        raise ScinterpInputError(
            f"too few cells ({adata.n_obs}) or HVGs ({n_hvg}) for a PCA.",
            dataset=dataset,
            path=path,
            fix="relax the qc thresholds or raise normalize.n_top_genes.",
        )
    sc.pp.pca(adata, n_comps=n_comps, mask_var="highly_variable", random_state=seed)
    info = dict(adata.uns.get("scinterp", {}))
    if batch_key is not None:
        info["batch_key"] = batch_key
    info["normalize"] = {k: v for k, v in p.items() if v is not None}
    adata.uns["scinterp"] = info
    integrate(
        adata,
        batch_key,
        str(p["integration"]),
        seed=seed,
        label_key=label_key,
        condition_key=condition_key,
        dataset=dataset,
        n_jobs=sc.settings.n_jobs if sc.settings.n_jobs and sc.settings.n_jobs > 0 else None,
    )
    if not embed:
        return adata if label_key is None else label_cells(adata, label_key)
    embed_and_cluster(adata, p)
    return label_cells(adata, label_key)


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


# scanpy uses an exact kNN below this many cells and pynndescent from there on.
_EXACT_KNN_MAX = 8192


def _knn_transformer(n_obs: int, n_neighbors: int, seed: int):
    """scanpy's own default kNN for large data (pynndescent with UMAP's settings), made
    to return a ``csr_matrix``: pynndescent returns a ``csr_array``, on which scanpy
    1.11 calls ``getnnz``, gone from scipy's sparse arrays (scipy >= 1.14), so that
    neighbours failed for any dataset of 8192 cells or more. None below that size."""
    if n_obs < _EXACT_KNN_MAX:
        return None
    import scanpy as sc
    from pynndescent import PyNNDescentTransformer
    from scipy import sparse

    class CSRNNDescent(PyNNDescentTransformer):
        def fit_transform(self, X, y=None, **kwargs):
            return sparse.csr_matrix(super().fit_transform(X, y, **kwargs))

        def transform(self, X, y=None):
            return sparse.csr_matrix(super().transform(X, y))

    return CSRNNDescent(
        n_neighbors=n_neighbors,
        metric="euclidean",
        metric_kwds={},
        random_state=seed,
        n_jobs=sc.settings.n_jobs,
        n_trees=min(64, 5 + round(n_obs**0.5 / 20.0)),
        n_iters=max(5, round(np.log2(n_obs))),
    )


def _neighbors(adata, n_neighbors: int, seed: int, **kwargs) -> None:
    """scanpy's kNN graph, with :func:`_knn_transformer` from its size on."""
    import scanpy as sc

    knn = _knn_transformer(adata.n_obs, n_neighbors, seed)
    if knn is not None:
        kwargs["transformer"] = knn
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, random_state=seed, **kwargs)


def embedding_key(adata) -> str:
    """The representation neighbours, UMAP and Leiden run on: ``obsm["X_integrated"]``
    when the PCA was integrated over batches, else ``obsm["X_pca"]``."""
    from scinterp.integrate import INTEGRATED_KEY

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
    _neighbors(adata, n_neighbors, seed, n_pcs=n_comps, use_rep=use_rep)
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
    _neighbors(sub, n_neighbors, seed, use_rep=use_rep)
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


def plot_umap(adata, outpath, color=None) -> None:
    """UMAP coloured by the label column and the batch (or ``color``), saved atomically."""
    import scanpy as sc
    from matplotlib.figure import Figure

    from scinterp.io import write_figure_atomic

    if color is None:
        info = adata.uns.get("scinterp", {})
        color = [info.get("label_key", LABEL_COLUMN), info.get("batch_key")]
    color = [c for c in dict.fromkeys(color) if c is not None and c in adata.obs.columns]
    if not color:
        color = ["leiden"]
    notes = []
    sample = adata.uns.get("umap_sample")
    if sample:
        notes.append(
            f"UMAP fitted on {sample['n_cells']:,} Leiden-stratified cells; "
            f"{sample['n_placed']:,} placed by their sampled neighbours"
        )
    if adata.n_obs > PLOT_MAX_CELLS:  # an atlas: a random sample of the cells is drawn
        notes.append(f"{PLOT_MAX_CELLS:,} of {adata.n_obs:,} cells drawn at random")
        keep = np.sort(np.random.default_rng(0).choice(adata.n_obs, PLOT_MAX_CELLS, replace=False))
        adata = adata[keep]
    fig = Figure(figsize=(5.5 * len(color), 4.5))
    if notes:
        fig.suptitle("; ".join(notes), fontsize=8)
    axes = np.atleast_1d(fig.subplots(1, len(color)))
    for ax, c in zip(axes, color, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.pl.umap(adata, color=c, ax=ax, show=False, frameon=False, size=None)
    fig.tight_layout()
    write_figure_atomic(fig, outpath)


def normalize_to_file(
    path, out, params: dict | None, batch_key, label_key, dataset, condition_key=None
):
    """The normalize rule: :func:`run_normalize` of the filtered counts at ``path``,
    written to ``out``, with the neighbour graph, UMAP, Leiden and labels computed after
    the matrices are on disk, on an AnnData of the PCA alone: an atlas does not hold its
    counts and normalized matrices (17 GB at 1M cells) and the kNN graph and UMAP
    (16 GB) at once. The file is complete or absent (``atomic_path``).

    Returns the embedded AnnData without matrices (obs, obsm, obsp, uns), for figures.
    """
    import gc

    import anndata as ad
    import h5py
    from anndata.io import write_elem

    from scinterp.io import atomic_path

    adata = run_normalize(
        ad.read_h5ad(path),
        params,
        batch_key,
        label_key,
        dataset,
        path=path,
        embed=False,
        condition_key=condition_key,
    )
    small = ad.AnnData(obs=adata.obs.copy(), obsm=dict(adata.obsm), uns=dict(adata.uns))
    small.obs_names = adata.obs_names
    with atomic_path(out) as tmp:
        adata.write_h5ad(tmp)
        del adata
        gc.collect()
        embed_and_cluster(small, params)
        if label_key is None:  # the given labels were set by run_normalize
            label_cells(small, None)
        with h5py.File(tmp, "r+") as f:
            for key in ("obs", "obsm", "obsp", "uns"):
                if key in f:
                    del f[key]
                elem = getattr(small, key)
                write_elem(f, key, elem if key == "obs" else dict(elem))
    return small
