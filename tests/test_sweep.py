"""Parameter sweeps (scinterp.sweep): table checks, point splitting, the summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scinterp.errors import ScinterpInputError
from scinterp.sweep import check_table, jaccard, plot_summary, read_table, split_point, summarize

TRAIN = {"learning_rate": 1e-3, "max_epochs": 60, "seed": 0, "batch_size": 128, "device": "auto"}
ATTR = {"n_steps": 32, "baseline": "mean", "methods": ["integrated_gradients"]}


def test_read_and_check_table(tmp_path):
    p = tmp_path / "s.tsv"
    p.write_text("learning_rate\tseed\tn_steps\thidden\n0.001\t0\t8\t256-32\n0.003\t1\t8\t256-32\n")
    df = read_table(p)
    check_table(df, TRAIN, ATTR, "mlp_classifier", path=p)
    with pytest.raises(ScinterpInputError, match="not a parameter.*rename the column"):
        check_table(df.rename(columns={"seed": "sead"}), TRAIN, ATTR, "mlp_classifier", path=p)
    with pytest.raises(ScinterpInputError, match="repeats points"):
        check_table(pd.concat([df, df.iloc[:1]]), TRAIN, ATTR, "mlp_classifier", path=p)
    with pytest.raises(ScinterpInputError, match="not a parameter"):
        check_table(df[["seed"]].assign(methods="x"), TRAIN, ATTR, "mlp_classifier")
    with pytest.raises(ScinterpInputError, match="does not exist"):
        read_table(tmp_path / "missing.tsv")


def test_split_point_routes_columns():
    point = {
        "learning_rate": np.float64(0.01),
        "seed": np.int64(2),
        "n_steps": 8,
        "hidden": "64-16",
    }
    t, a, m = split_point(point, TRAIN, ATTR)
    assert t["learning_rate"] == 0.01 and t["seed"] == 2 and type(t["seed"]) is int
    assert t["max_epochs"] == 60  # the rest of the section is kept
    assert a["n_steps"] == 8 and a["baseline"] == "mean"
    assert m == {"hidden": (64, 16)}
    assert TRAIN["learning_rate"] == 1e-3  # the config is not modified


def _genes(tops: dict[str, list[str]], method="integrated_gradients") -> pd.DataFrame:
    rows = [
        {"cell_type": t, "gene": g, "score": -r, "rank": r + 1, "method": method}
        for t, genes in tops.items()
        for r, g in enumerate(genes)
    ]
    return pd.DataFrame(rows)


def test_summarize_stability_and_precision():
    points = pd.DataFrame({"learning_rate": [0.001, 0.001, 0.01, 0.01], "seed": [0, 1, 0, 1]})
    genes = [
        _genes({"A": ["a1", "a2"], "B": ["b1", "b2"]}),
        _genes({"A": ["a1", "a2"], "B": ["b1", "b2"]}),  # same as its replicate: 1.0
        _genes({"A": ["a1", "x"], "B": ["b1", "b2"]}),
        _genes({"A": ["a1", "y"], "B": ["y", "z"]}),  # A: 1/3, B: 0 -> 1/6
    ]
    hist = [pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [0.9, 0.7]})] * 4
    markers = pd.DataFrame({"cell_type": ["A", "A", "B", "B"], "gene": ["a1", "a2", "b1", "b2"]})
    s = summarize(points, genes, hist, k=2, markers=markers)
    assert len(s) == 4 and list(s["seed"]) == [0, 1, 0, 1]
    assert s["stability_jaccard"].tolist() == pytest.approx([1.0, 1.0, 1 / 6, 1 / 6])
    assert s["precision_at_k"].tolist() == pytest.approx([1.0, 1.0, 0.75, 0.25])
    assert (s["n_seeds"] == 2).all() and (s["best_val_loss"] == 0.7).all()
    assert (s["epochs"] == 2).all()
    # No seed column: every point is alone, stability is NaN; no truth: no precision.
    s2 = summarize(points[["learning_rate"]].iloc[[0, 2]], genes[::2], hist[:2], k=2)
    assert s2["stability_jaccard"].isna().all() and "precision_at_k" not in s2


def test_jaccard():
    assert jaccard({1, 2}, {2, 3}) == pytest.approx(1 / 3)
    assert jaccard(set(), set()) == 1.0


def test_plot_summary(tmp_path):
    points = pd.DataFrame({"learning_rate": [0.001, 0.001], "seed": [0, 1]})
    genes = [_genes({"A": ["a1", "a2"]}), _genes({"A": ["a1", "a3"]})]
    hist = [pd.DataFrame({"epoch": [1], "train_loss": [1.0], "val_loss": [0.9]})] * 2
    s = summarize(points, genes, hist, k=2)
    plot_summary(s, tmp_path / "s.png")  # no consensus rows: the first method is shown
    assert (tmp_path / "s.png").stat().st_size > 1000
