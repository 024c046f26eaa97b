"""Figures of the identity genes: dotplot and heatmap of the consensus top genes."""

from __future__ import annotations

import pandas as pd

from scinterp.interpret.identity._options import DEFAULT_OPTIONS


def plot_top_genes(
    adata,
    genes: pd.DataFrame,
    label_key: str,
    dotplot,
    heatmap,
    n_top: int = DEFAULT_OPTIONS.n_top_plot,
):
    """scanpy dotplot and heatmap of the consensus top genes of each cell type (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scanpy as sc

    from scinterp.io import write_figure_atomic

    top = genes[genes["method"] == "consensus"].sort_values(["cell_type", "rank"])
    var_names = {t: list(g["gene"][:n_top]) for t, g in top.groupby("cell_type")}
    shown = list(dict.fromkeys(g for genes in var_names.values() for g in genes))
    a = adata[:, shown].copy()  # the plotted genes only, not a copy of the whole matrix
    a.obs[label_key] = a.obs[label_key].astype(str).astype("category")
    # Type names may hold spaces: they only ever appear as labels, never in file names.
    dp = sc.pl.dotplot(a, var_names, groupby=label_key, show=False, return_fig=True)
    dp.make_figure()
    write_figure_atomic(dp.fig, dotplot)
    plt.close(dp.fig)
    axes = sc.pl.heatmap(a, var_names, groupby=label_key, show=False, standard_scale="var")
    fig = next(iter(axes.values())).figure
    write_figure_atomic(fig, heatmap)
    plt.close(fig)
