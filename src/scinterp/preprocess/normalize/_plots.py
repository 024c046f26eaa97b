"""The UMAP figure."""

from __future__ import annotations

import warnings

import numpy as np

from scinterp.preprocess.defaults import LABEL_COLUMN

# The UMAP figure draws at most this many cells (a random sample; the embedding keeps all).
PLOT_MAX_CELLS = 100_000


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
