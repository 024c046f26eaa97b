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
    "n_top_genes": 2000,
    "n_pcs": 30,
    "n_neighbors": 15,
    "leiden_resolution": 1.0,
    "seed": 0,
}
# seurat_v3 fits a loess per batch; a batch smaller than this gives an unstable fit.
MIN_CELLS_HVG_BATCH = 30
LABEL_COLUMN = "label"


def select_hvgs(adata, n_top_genes: int, batch_key: str | None) -> None:
    """Flag HVGs (``var["highly_variable"]``) with seurat_v3 on ``layers["counts"]``.

    Uses the batches when every batch has at least `MIN_CELLS_HVG_BATCH` cells,
    caps ``n_top_genes`` at the number of genes, and falls back to the ``seurat``
    flavour on log data if the loess fit fails (tiny or degenerate data).
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            sc.pp.highly_variable_genes(
                adata, flavor="seurat_v3", layer="counts", n_top_genes=n_top, batch_key=use_batch
            )
    except Exception as e:  # noqa: BLE001 - skmisc's loess raises plain ValueErrors
        log.warning("HVGs: seurat_v3 failed (%s); using flavor='seurat' on log data.", e)
        sc.pp.highly_variable_genes(adata, flavor="seurat", n_top_genes=n_top, batch_key=use_batch)
    adata.var["highly_variable"] = adata.var["highly_variable"].astype(bool)
    log.info(
        "HVGs: %d of %d genes (seurat_v3 on counts, batch_key=%s)",
        int(adata.var["highly_variable"].sum()),
        adata.n_vars,
        use_batch,
    )


def run_normalize(
    adata,
    params: dict | None,
    batch_key: str | None,
    label_key: str | None,
    dataset: str | None,
    *,
    path=None,
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
        ``obs["label"]``.
    dataset, path
        For messages.

    Returns
    -------
    AnnData with ``layers["counts"]``, log-normalized ``.X``, ``var["highly_variable"]``,
    ``obsm["X_pca"]``, ``obsm["X_umap"]``, ``obs["leiden"]`` and
    ``uns["scinterp"]["label_key"]`` naming the label column.
    """
    import scanpy as sc
    from scipy import sparse

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
    if not sparse.issparse(adata.X):
        adata.X = sparse.csr_matrix(adata.X)
    adata.X = adata.X.astype(np.float32)
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=float(p["target_sum"]))
    sc.pp.log1p(adata)
    adata.uns.pop("log1p", None)  # its {'base': None} entry does not round-trip everywhere

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
    n_neighbors = int(min(p["n_neighbors"], adata.n_obs - 1))
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, n_pcs=n_comps, random_state=seed)
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
    log.info(
        "PCA %d comps, %d neighbours, Leiden (resolution %s): %d clusters",
        n_comps,
        n_neighbors,
        p["leiden_resolution"],
        adata.obs["leiden"].nunique(),
    )

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
    info = dict(adata.uns.get("scinterp", {}))
    info["label_key"] = used
    if batch_key is not None:
        info["batch_key"] = batch_key
    info["normalize"] = {k: v for k, v in p.items() if v is not None}
    adata.uns["scinterp"] = info
    log.info(
        "labels: obs['%s'] with %d classes",
        used,
        adata.obs[used].nunique(),
    )
    return adata


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
    fig = Figure(figsize=(5.5 * len(color), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(color)))
    for ax, c in zip(axes, color, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.pl.umap(adata, color=c, ax=ax, show=False, frameon=False, size=None)
    fig.tight_layout()
    write_figure_atomic(fig, outpath)
