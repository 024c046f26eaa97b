"""Figures of the programs branch: activity heatmaps and program UMAPs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._options import DEFAULT_OPTIONS


def plot_activity_heatmap(activity: pd.DataFrame, methods: Sequence[str] | None = None):
    """Program x cell type heatmaps of ``score``, one panel per method.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    methods = [
        m for m in (methods or activity["method"].unique()) if (activity["method"] == m).any()
    ]
    if not methods:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no program activity", ha="center", va="center")
        ax.axis("off")
        return fig
    tables = [
        activity[activity["method"] == m].pivot_table(
            index="program", columns="cell_type", values="score"
        )
        for m in methods
    ]
    height = max(3.0, 0.22 * max(t.shape[0] for t in tables) + 1.5)
    fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables) + 1, height), squeeze=False)
    for ax, m, tab in zip(axes[0], methods, tables, strict=True):
        lim = np.nanmax(np.abs(tab.to_numpy())) if tab.size else 1.0
        lim = lim if lim > 0 else 1.0
        cmap, vmin = ("RdBu_r", -lim) if (tab.to_numpy() < 0).any() else ("Reds", 0.0)
        im = ax.imshow(tab.to_numpy(), aspect="auto", cmap=cmap, vmin=vmin, vmax=lim)
        ax.set_xticks(range(tab.shape[1]), tab.columns, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(tab.shape[0]), tab.index, fontsize=6)
        ax.set_title(m, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.6)
    fig.tight_layout()
    return fig


def top_programs(
    activity: pd.DataFrame, method: str, n: int = DEFAULT_OPTIONS.n_top_umap
) -> list[str]:
    """The programs of ``method`` with the highest score in any cell type, best first."""
    sub = activity[activity["method"] == method]
    best = sub.groupby("program")["score"].max().sort_values(ascending=False, kind="stable")
    return best.index[:n].tolist()


def plot_program_umap(cell_activity, programs: Sequence[str], max_cells: int | None = None):
    """UMAP of the cells coloured by the activity of each given program.

    At most ``max_cells`` cells are drawn (default: the normalize rule's UMAP figure cap,
    :data:`scinterp.preprocess.normalize.PLOT_MAX_CELLS`), a random sample drawn as that figure
    draws it and named in the title; the points are rasterized. The colour range (1st to
    99th percentile) is that of the cells drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from scinterp.preprocess.normalize import PLOT_MAX_CELLS

    max_cells = PLOT_MAX_CELLS if max_cells is None else max_cells
    programs = [p for p in programs if p in cell_activity.var_names]
    if "X_umap" not in cell_activity.obsm or not programs:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no UMAP or no program to show", ha="center", va="center")
        ax.axis("off")
        return fig
    n_obs = cell_activity.n_obs
    title = f"program activity ({cell_activity.uns.get('method', '')})"
    keep = np.arange(n_obs)
    if n_obs > max_cells:  # an atlas: a random sample, as the normalize rule's figure
        keep = np.sort(np.random.default_rng(0).choice(n_obs, max_cells, replace=False))
        title += f"; {max_cells:,} of {n_obs:,} cells drawn at random"
    xy = np.asarray(cell_activity.obsm["X_umap"])[keep]
    ncol = min(3, len(programs))
    nrow = int(np.ceil(len(programs) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 3.0 * nrow), squeeze=False)
    order = np.random.default_rng(0).permutation(xy.shape[0])  # no type drawn on top of all
    X = cell_activity.X
    for ax, prog, col in zip(
        axes.ravel(), programs, cell_activity.var_names.get_indexer(programs), strict=False
    ):
        val = X[:, col]
        val = np.asarray(val.toarray() if hasattr(val, "toarray") else val).ravel()[keep]
        lo, hi = np.percentile(val, [1, 99])
        sc_ = ax.scatter(
            xy[order, 0],
            xy[order, 1],
            c=val[order],
            s=2,
            cmap="viridis",
            vmin=lo,
            vmax=hi,
            rasterized=True,
        )
        ax.set_title(prog, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(sc_, ax=ax, shrink=0.7)
    for ax in axes.ravel()[len(programs) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
