"""Small plots shared by the rules (matplotlib, Agg backend, written atomically)."""

from __future__ import annotations

import pandas as pd


def plot_history(history: pd.DataFrame, path, title: str = "") -> None:
    """Loss curves (train and validation, plus accuracy when present) of one training run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scinterp.io import write_figure_atomic

    extra = [c for c in ("val_accuracy",) if c in history]
    fig, axes = plt.subplots(1, 1 + len(extra), figsize=(5 + 4 * len(extra), 3.5), squeeze=False)
    ax = axes[0, 0]
    ax.plot(history["epoch"], history["train_loss"], label="train")
    ax.plot(history["epoch"], history["val_loss"], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    ax.set_title(title)
    for ax, col in zip(axes[0, 1:], extra, strict=True):
        ax.plot(history["epoch"], history[col])
        ax.set_xlabel("epoch")
        ax.set_ylabel(col.replace("_", " "))
    write_figure_atomic(fig, path)
    plt.close(fig)
