"""Branch (i) against ground truth: precision@k, AUROC and average precision of the true
markers per cell type and method (rule ``evaluate_identity``)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["evaluate_identity", "plot_evaluation"]


def evaluate_identity(
    genes: pd.DataFrame, markers: pd.DataFrame, universe: Sequence[str], k: int = 10
) -> pd.DataFrame:
    """precision@k and AUROC of the true markers per cell type and method.

    Parameters
    ----------
    genes
        The ``identity/genes.tsv`` table.
    markers
        Truth, columns ``cell_type, gene``.
    universe
        All genes that could be ranked (unranked genes count as tied last).

    Returns
    -------
    pandas.DataFrame
        ``cell_type, method, precision_at_k, auroc, average_precision, n_true, k``.
    """
    from scinterp.evaluate.metrics import (
        auroc,
        average_precision,
        labels_and_scores,
        precision_at_k,
    )

    truth = markers.groupby("cell_type")["gene"].apply(set).to_dict()
    rows = []
    for (t, m), g in genes.groupby(["cell_type", "method"], sort=True):
        if t not in truth:
            continue
        g = g.sort_values("rank")
        true = truth[t] & set(universe)
        scores = dict(zip(g["gene"], g["score"].astype(float), strict=True))
        labels, values = labels_and_scores(scores, true, universe)
        rows.append(
            {
                "cell_type": t,
                "method": m,
                "precision_at_k": precision_at_k(*labels_and_scores(list(g["gene"]), true), k),
                "auroc": auroc(labels, values),
                "average_precision": average_precision(labels, values),
                "n_true": len(true),
                "k": k,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "cell_type",
            "method",
            "precision_at_k",
            "auroc",
            "average_precision",
            "n_true",
            "k",
        ],
    )


def plot_evaluation(evaluation: pd.DataFrame, path, k: int = 10) -> None:
    """Bar plot of mean precision@k and AUROC per method (PNG); an empty note without truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scinterp.io import write_figure_atomic

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    if len(evaluation):
        mean = evaluation.groupby("method")[["precision_at_k", "auroc"]].mean()
        mean = mean.sort_values("precision_at_k")
        axes[0].barh(mean.index, mean["precision_at_k"])
        axes[0].set_xlabel(f"precision@{k} of true markers (mean over types)")
        axes[1].barh(mean.index, mean["auroc"])
        axes[1].set_xlabel("AUROC of true markers (mean over types)")
        axes[1].set_xlim(0.5, 1.0)
    else:
        for ax in axes:
            ax.text(0.5, 0.5, "no ground truth configured", ha="center", va="center")
            ax.set_axis_off()
    write_figure_atomic(fig, path)
    plt.close(fig)
