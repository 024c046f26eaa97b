"""Parameter sweeps: one point = one row of the sweep table (a Snakemake ``Paramspace``).

A column of the table overrides, for that point, a key of the config's ``train``
section (``learning_rate``, ``max_epochs``, ``seed``, ...), else of its
``attribution`` section (``n_steps``, ``baseline``, ...), else is passed to the
model's constructor (the latent size: ``hidden`` as ``"256-64"`` for the MLP
classifier, ``d_model`` for the attention classifier, ``class_dim`` for the capsule
classifier; ``dropout``, ...). ``batch_size`` names the
training batch size.

Every point trains the sweep's model, attributes it and ranks cell-identity genes
with the library's own functions (`scinterp.train`, `scinterp.attribution`,
`scinterp.interpret.identity`); `summarize` compares the points on the identity
branch's metrics: stability across seeds (mean pairwise Jaccard of the top-k genes
per cell type between points that differ only in ``seed``) and, with ground truth,
precision@k.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError

log = logging.getLogger(__name__)

__all__ = [
    "check_table",
    "jaccard",
    "plot_summary",
    "read_table",
    "split_point",
    "summarize",
    "train_point",
]

# Keys of the sections a column may not override: they select what runs, not how.
_NOT_SWEEPABLE = {"models", "device", "methods"}


def read_table(path: str | Path) -> pd.DataFrame:
    """The sweep table: tab-separated, one column per parameter, one row per point."""
    p = Path(path)
    if not p.exists():
        raise ScinterpInputError(
            "the sweep table does not exist.",
            path=p,
            fix="set sweep.table to a TSV with one column per parameter (see config/sweeps/), "
            "or to null to switch sweeps off.",
        )
    df = pd.read_csv(p, sep="\t", comment="#")
    if df.empty or df.shape[1] == 0:
        raise ScinterpInputError(
            "the sweep table has no rows or no columns.",
            path=p,
            fix="give one column per parameter and one row per point.",
        )
    return df


def _model_params(model: str) -> set[str]:
    """Constructor arguments a sweep column may set: the model spec's ``sweep_kwargs``."""
    from scinterp.models.registry import model_spec

    return set(model_spec(model).sweep_kwargs)


def check_table(
    df: pd.DataFrame, train: Mapping, attribution: Mapping, model: str, *, path=None
) -> None:
    """Raise `ScinterpInputError` for a column that names no parameter, or a repeated point."""
    known_model = _model_params(model)
    for col in df.columns:
        if col in _NOT_SWEEPABLE or not col.isidentifier():
            bad = True
        else:
            bad = col not in train and col not in attribution and col not in known_model
        if bad:
            sweepable = sorted((set(train) | set(attribution) | known_model) - _NOT_SWEEPABLE)
            raise ScinterpInputError(
                f"sweep column '{col}' is not a parameter of train, attribution or {model}.",
                path=path,
                fix=f"rename the column to one of: {', '.join(sweepable)}.",
            )
    dups = df.duplicated()
    if dups.any():
        raise ScinterpInputError(
            f"the sweep table repeats points (rows {list(np.flatnonzero(dups) + 2)} of the file).",
            path=path,
            fix="remove the repeated rows: each point runs once.",
        )


def _value(v: Any) -> Any:
    """numpy scalars -> Python; '256-64' -> (256, 64) for layer widths."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str) and "-" in v and all(p.isdigit() for p in v.split("-")):
        return tuple(int(p) for p in v.split("-"))
    return v


def split_point(
    point: Mapping[str, Any], train: Mapping, attribution: Mapping
) -> tuple[dict, dict, dict]:
    """One point -> (train section, attribution section, model kwargs) for that point."""
    t, a, m = dict(train), dict(attribution), {}
    for k, v in point.items():
        v = _value(v)
        if k in train:
            t[k] = v
        elif k in attribution:
            a[k] = v
        else:
            m[k] = v
    return t, a, m


def train_point(
    model: str,
    *,
    normalized,
    outdir,
    params: Mapping,
    model_kwargs: Mapping | None = None,
    gene_sets=None,
    batch_key: str | None = None,
    dataset: str | None = None,
) -> pd.DataFrame:
    """Train ``model`` at one point; like `scinterp.train.run.train_from_files`, plus
    constructor arguments (``model_kwargs``). Writes ``model.pt``, ``model.json``,
    ``history.tsv`` in ``outdir`` and returns the history."""
    from scinterp.train.run import train_from_files

    return train_from_files(
        model,
        normalized=normalized,
        outdir=outdir,
        params=params,
        gene_sets=gene_sets,
        batch_key=batch_key,
        dataset=dataset,
        model_kwargs=model_kwargs or None,
    )


def jaccard(a: set, b: set) -> float:
    """|a & b| / |a | b| (1.0 for two empty sets)."""
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def _top_k(genes: pd.DataFrame, k: int) -> dict[tuple[str, str], set]:
    return {
        (m, t): set(g.nsmallest(k, "rank")["gene"])
        for (m, t), g in genes.groupby(["method", "cell_type"])
    }


def summarize(
    points: pd.DataFrame,
    genes: Sequence[pd.DataFrame],
    histories: Sequence[pd.DataFrame],
    *,
    k: int = 20,
    markers: pd.DataFrame | None = None,
    seed_column: str = "seed",
) -> pd.DataFrame:
    """One row per point and identity method: the point's parameters, training figures,
    stability across seeds and (with ``markers``) precision@k.

    Parameters
    ----------
    points
        The sweep table (one row per point, in the order of ``genes`` and ``histories``).
    genes
        Each point's ``identity/genes.tsv`` (``cell_type, gene, score, rank, method``).
    histories
        Each point's ``history.tsv`` (``epoch, train_loss, val_loss, ...``).
    k
        Top genes per cell type compared.
    markers
        Ground truth, columns ``cell_type, gene``; None leaves precision@k out.
    seed_column
        The column whose values are replicates; points equal in every other column form
        a group whose stability is the mean pairwise Jaccard of their top-k genes
        (mean over cell types, then over pairs). Without that column, or for a point
        alone in its group, stability is NaN.

    Returns
    -------
    pandas.DataFrame
        ``point, <parameters>, method, epochs, final_val_loss, best_val_loss,
        stability_jaccard, n_seeds[, precision_at_k], k``.
    """
    from scinterp.evaluate.metrics import labels_and_scores, precision_at_k

    points = points.reset_index(drop=True)
    params = list(points.columns)
    others = [c for c in params if c != seed_column]
    tops = [_top_k(g, k) for g in genes]
    if seed_column in points and others:
        group_of = points.groupby(others, sort=False, dropna=False).ngroup().to_numpy()
    elif seed_column in points:
        group_of = np.zeros(len(points), dtype=int)
    else:
        group_of = np.arange(len(points))
    truth = None
    if markers is not None:
        truth = markers.groupby("cell_type")["gene"].apply(set).to_dict()

    rows = []
    # Records, not iterrows: a row Series would turn integer seeds into floats.
    for i, point in enumerate(points.to_dict("records")):
        h = histories[i]
        val = h["val_loss"] if "val_loss" in h else pd.Series(dtype=float)
        peers = [j for j in np.flatnonzero(group_of == group_of[i])]
        methods = sorted({m for m, _ in tops[i]})
        for m in methods:
            types = sorted(t for mm, t in tops[i] if mm == m)
            pair_vals = []
            for a, b in itertools.combinations(peers, 2):
                if i not in (a, b):
                    continue
                vals = [
                    jaccard(tops[a][m, t], tops[b][m, t])
                    for t in types
                    if (m, t) in tops[a] and (m, t) in tops[b]
                ]
                if vals:
                    pair_vals.append(float(np.mean(vals)))
            row = {
                "point": i,
                **{c: point[c] for c in params},
                "method": m,
                "epochs": int(len(h)),
                "final_val_loss": float(val.iloc[-1]) if len(val) else np.nan,
                "best_val_loss": float(val.min()) if len(val) else np.nan,
                "stability_jaccard": float(np.mean(pair_vals)) if pair_vals else np.nan,
                "n_seeds": len(peers),
            }
            if truth is not None:
                g = genes[i][genes[i]["method"] == m]
                prec = [
                    precision_at_k(
                        *labels_and_scores(list(gt.sort_values("rank")["gene"]), truth[t]), k
                    )
                    for t, gt in g.groupby("cell_type")
                    if t in truth
                ]
                row["precision_at_k"] = float(np.mean(prec)) if prec else np.nan
            row["k"] = k
            rows.append(row)
    return pd.DataFrame(rows)


def plot_summary(summary: pd.DataFrame, path, *, method: str = "consensus") -> None:
    """Stability (and precision@k) per point for one method (the first one if absent)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scinterp.io import write_figure_atomic

    if method not in set(summary["method"]):
        method = str(summary["method"].iloc[0])
    s = summary[summary["method"] == method].reset_index(drop=True)
    skip = {"point", "method", "epochs", "final_val_loss", "best_val_loss",
            "stability_jaccard", "n_seeds", "precision_at_k", "k"}  # fmt: skip
    params = [c for c in s.columns if c not in skip]
    labels = [", ".join(f"{c}={r[c]}" for c in params) for _, r in s.iterrows()]
    metrics = [c for c in ("stability_jaccard", "precision_at_k", "best_val_loss") if c in s]
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.2 * len(metrics) + 2, 0.35 * len(s) + 1.5), sharey=True
    )
    axes = np.atleast_1d(axes)
    y = np.arange(len(s))
    for ax, m in zip(axes, metrics, strict=True):
        ax.barh(y, s[m].fillna(0).to_numpy(), color="#4C72B0")
        ax.set_title(m.replace("_", " "))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(f"sweep, identity method '{method}' (top-{int(s['k'].iloc[0])} genes)", y=1.0)
    fig.tight_layout()
    write_figure_atomic(fig, path)
    plt.close(fig)
