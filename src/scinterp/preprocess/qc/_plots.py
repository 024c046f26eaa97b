"""The QC figure: counts, genes and % mito per batch, kept vs removed cells."""

from __future__ import annotations

import numpy as np
import pandas as pd


def plot_qc(metrics: pd.DataFrame, outpath) -> None:
    """Strip plots of counts, genes and % mito per batch, kept vs removed cells.

    Saved atomically as an image at ``outpath`` (matplotlib, no display needed).
    """
    from matplotlib.figure import Figure

    from scinterp.io import write_figure_atomic

    batches = sorted(metrics["batch"].astype(str).unique())
    panels = [
        ("total_counts", "log10(1 + total counts)", True),
        ("n_genes", "log10(1 + genes detected)", True),
        ("pct_mito", "% mitochondrial", False),
    ]
    fig = Figure(figsize=(4 + 1.2 * len(batches) * len(panels), 4))
    axes = fig.subplots(1, len(panels))
    rng = np.random.default_rng(0)
    keep = metrics["keep"].to_numpy(dtype=bool)
    b = metrics["batch"].astype(str).to_numpy()
    for ax, (col, label, logy) in zip(axes, panels, strict=True):
        y = metrics[col].to_numpy(dtype=float)
        if logy:
            # KDE of the violins in log space; a log axis would distort them
            y = np.log10(1 + y)
        data = [y[b == x] for x in batches]
        parts = ax.violinplot(
            [d if len(d) > 1 else np.r_[d, d] for d in data], showextrema=False, widths=0.8
        )
        for body in parts["bodies"]:
            body.set_alpha(0.25)
        for i, x in enumerate(batches, start=1):
            sel = b == x
            jitter = rng.uniform(-0.25, 0.25, sel.sum())
            k = keep[sel]
            ax.scatter(i + jitter[k], y[sel][k], s=2, c="tab:blue", alpha=0.5, lw=0)
            ax.scatter(i + jitter[~k], y[sel][~k], s=3, c="tab:red", alpha=0.7, lw=0)
        ax.set_xticks(range(1, len(batches) + 1), batches, rotation=45, ha="right")
        ax.set_title(label)
        ax.set_xlabel("batch")
    axes[0].scatter([], [], c="tab:blue", s=10, label=f"kept ({keep.sum()})")
    axes[0].scatter([], [], c="tab:red", s=10, label=f"removed ({(~keep).sum()})")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    write_figure_atomic(fig, outpath)
