"""The conditions branch against planted truth: recall, precision, false calls and AUPRC
counted by hand on tables small enough to check."""

import numpy as np
import pandas as pd
import pytest

from scinterp.evaluate.conditions import COLUMNS, evaluate_abundance, evaluate_genes


def _genes(rows):
    return pd.DataFrame(
        rows, columns=["method", "contrast", "cell_type", "gene", "p_value", "adj_p_value"]
    )


TRUTH = pd.DataFrame(
    [
        ("T", "g1", "stim_vs_ctrl", "DE"),
        ("T", "g2", "stim_vs_ctrl", "DE"),
        ("T", "g3", "stim_vs_ctrl", "DP"),
        ("B", "g1", "stim_vs_ctrl", "DE"),  # B is not tested below: it does not count
        ("T", "g1", "other_vs_ctrl", "DE"),  # another contrast
    ],
    columns=["cell_type", "gene", "contrast", "kind"],
)


def test_genes_recall_precision_false_calls_and_auprc():
    genes = _genes(
        [
            ("m", "stim_vs_ctrl", "T", "g1", 1e-6, 1e-4),  # planted DE, called
            ("m", "stim_vs_ctrl", "T", "g2", 0.2, 0.5),  # planted DE, missed
            ("m", "stim_vs_ctrl", "T", "g3", 1e-4, 0.01),  # planted DP, called
            ("m", "stim_vs_ctrl", "T", "g4", 1e-3, 0.03),  # not planted, called
            ("m", "stim_vs_ctrl", "T", "g5", 0.9, 0.9),  # not planted, not called
        ]
    )
    out = evaluate_genes(genes, TRUTH).set_index("kind")
    assert list(evaluate_genes(genes, TRUTH).columns) == COLUMNS
    assert set(out.index) == {"all", "DE", "DP"}
    every = out.loc["all"]
    assert (every.n_true, every.n_called, every.n_true_called) == (3, 3, 2)
    assert every.recall == pytest.approx(2 / 3) and every.precision == pytest.approx(2 / 3)
    assert every.false_calls == 1
    de = out.loc["DE"]
    assert (de.n_true, de.n_true_called, de.recall) == (2, 1, 0.5)
    # DE's AP ranks its 2 genes against the 2 unplanted pairs (DP's g3 left out):
    # by -log p: g1 (DE), g4, g2 (DE), g5 -> precisions 1 and 2/3 at the hits
    assert de.auprc == pytest.approx((1 + 2 / 3) / 2)
    assert out.loc["DP"].auprc == pytest.approx(1.0)  # g3 above both unplanted pairs


def test_genes_nothing_called_and_nothing_planted():
    genes = _genes(
        [
            ("m", "stim_vs_ctrl", "T", "g1", 0.5, 0.9),
            ("m", "stim_vs_ctrl", "NK", "g9", 0.5, 0.9),
        ]
    )
    out = evaluate_genes(genes, TRUTH[TRUTH["kind"] == "DP"].iloc[:0])
    assert len(out) == 1 and out["kind"].tolist() == ["all"]
    row = out.iloc[0]
    assert row.n_true == 0 and row.n_called == 0 and row.false_calls == 0
    assert np.isnan(row.recall) and np.isnan(row.precision) and np.isnan(row.auprc)


def test_abundance_counts_only_the_right_sign():
    truth = pd.DataFrame(
        {"cell_type": ["T", "B"], "contrast": ["stim_vs_ctrl"] * 2, "direction": ["up", "down"]}
    )
    ab = pd.DataFrame(
        {
            "method": "m",
            "contrast": "stim_vs_ctrl",
            "cell_type": ["T", "B", "NK", "DC"],
            "log_fc": [1.2, 0.8, -0.5, 2.0],  # B changes the wrong way
            "adj_p_value": [0.001, 0.01, 0.02, 0.5],
        }
    )
    row = evaluate_abundance(ab, truth).iloc[0]
    assert row.method == "abundance:m" and row.kind == "abundance"
    assert (row.n_true, row.n_called, row.n_true_called, row.false_calls) == (2, 3, 1, 1)
    assert row.recall == 0.5 and row.precision == pytest.approx(1 / 3)
