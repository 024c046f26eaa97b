"""Identity genes against the true markers: precision@k, AUROC, average precision."""

import pandas as pd

from scinterp.evaluate.identity import evaluate_identity, plot_evaluation


def _table(order, method):
    return pd.DataFrame(
        {
            "cell_type": "T",
            "gene": order,
            "score": [float(len(order) - i) for i in range(len(order))],
            "rank": list(range(1, len(order) + 1)),
            "method": method,
        }
    )


def test_perfect_and_reversed_rankings(tmp_path):
    genes = ["m1", "m2", "g1", "g2", "g3", "g4"]
    markers = pd.DataFrame({"cell_type": ["T", "T", "B"], "gene": ["m1", "m2", "x"]})
    table = pd.concat([_table(genes, "good"), _table(genes[::-1], "bad")])
    ev = evaluate_identity(table, markers, genes, k=2).set_index("method")
    assert ev.loc["good", "precision_at_k"] == 1.0 and ev.loc["good", "auroc"] == 1.0
    assert ev.loc["bad", "precision_at_k"] == 0.0 and ev.loc["bad", "auroc"] == 0.0
    assert ev.loc["good", "average_precision"] > ev.loc["bad", "average_precision"]
    assert set(ev["n_true"]) == {2}  # type B is not in the table: not scored
    plot_evaluation(ev.reset_index(), tmp_path / "ev.png", k=2)
    assert (tmp_path / "ev.png").stat().st_size > 0
