"""Figures: sequence logos of learned motifs beside their matches, TF activity heatmap."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from scinterp.interpret.motifs._motif import _normalize, information_content
from scinterp.interpret.motifs._options import DEFAULT_OPTIONS


def _ic_matrix(ppm: np.ndarray) -> pd.DataFrame:
    """(w x 4) letter heights in bits, for logomaker."""
    p = _normalize(ppm)
    return pd.DataFrame((p * information_content(p)[None, :]).T, columns=list("ACGT"))


def _oriented(ppm_db: np.ndarray, strand: str) -> np.ndarray:
    """The database motif on the learned motif's strand (Tomtom's ``-``: reverse complement)."""
    return ppm_db[::-1, ::-1] if strand == "-" else ppm_db


def plot_logos(
    table: pd.DataFrame,
    learned: Mapping[str, np.ndarray],
    database,
    n: int = DEFAULT_OPTIONS.n_logos,
):
    """Sequence logos of learned motifs (left) beside their best JASPAR match (right).

    ``table`` is ``motifs.tsv``; the matched motifs come first, then by seqlets.
    Returns the matplotlib figure.
    """
    import logomaker
    import matplotlib.pyplot as plt

    db = {d.id: d for d in database}
    t = table.copy()
    t["_m"] = t["matched"].astype(str).str.lower() == "true"
    t = t.sort_values(["_m", "n_seqlets"], ascending=[False, False]).head(n)
    rows = max(len(t), 1)
    fig, axes = plt.subplots(rows, 2, figsize=(9, 1.3 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for r, (_, row) in enumerate(t.iterrows()):
        ppm = learned.get(row["motif"])
        if ppm is None:
            continue
        ax = axes[r, 0]
        ax.set_axis_on()
        logomaker.Logo(_ic_matrix(ppm), ax=ax, color_scheme="classic")
        ax.set_ylim(0, 2)
        ax.set_title(f"{row['motif']} ({row['method']}, n={row['n_seqlets']})", fontsize=8)
        best = db.get(str(row.get("best_id", "")))
        if best is not None:
            ax = axes[r, 1]
            ax.set_axis_on()
            oriented = _oriented(best.ppm, str(row["match_strand"]))
            logomaker.Logo(_ic_matrix(oriented), ax=ax, color_scheme="classic")
            ax.set_ylim(0, 2)
            verdict = "" if row["_m"] else " (not significant)"
            ax.set_title(
                f"{best.name} {best.id}, q={float(row['qvalue']):.2g}{verdict}", fontsize=8
            )
    if len(t) == 0:
        axes[0, 0].text(0.5, 0.5, "no motifs learned", ha="center", va="center")
    fig.tight_layout()
    return fig


def plot_activity_heatmap(activity: pd.DataFrame, method: str = "insertion"):
    """Heatmap of TF activity (cell types x matched motifs) of one method."""
    import matplotlib.pyplot as plt

    a = activity[activity["method"] == method].copy()
    fig, ax = plt.subplots(
        figsize=(
            2 + 0.45 * max(a["motif"].nunique(), 1),
            1.5 + 0.35 * max(a["cell_type"].nunique(), 1),
        )
    )
    if a.empty:
        ax.text(0.5, 0.5, "no matched motifs", ha="center", va="center")
        ax.set_axis_off()
        return fig
    a["label"] = a["motif"] + np.where(
        a["tf"].fillna("") != "", " (" + a["tf"].fillna("") + ")", ""
    )
    mat = a.pivot_table(index="cell_type", columns="label", values="score", aggfunc="mean")
    lim = float(np.nanmax(np.abs(mat.to_numpy()))) or 1.0
    im = ax.imshow(mat.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(mat.shape[0]), mat.index, fontsize=8)
    fig.colorbar(im, ax=ax, label=f"{method} activity")
    ax.set_title(f"TF activity per cell type ({method})", fontsize=9)
    fig.tight_layout()
    return fig
