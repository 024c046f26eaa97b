"""Program activity against the planted truth (scinterp.evaluate.programs)."""

import numpy as np
import pandas as pd
import pytest

from scinterp.evaluate.programs import EVALUATION_COLUMNS, evaluate_activity, read_truth

TRUTH = pd.DataFrame(
    {
        "program": ["P1", "P1", "P2", "P2", "D1", "D1"],
        "cell_type": ["A", "B", "A", "B", "A", "B"],
        "active": [True, False, False, True, False, False],
        "decoy": [False, False, False, False, True, True],
    }
)


def _activity(method, scores, programs=("P1", "P1", "P2", "P2", "D1", "D1")):
    return pd.DataFrame(
        {
            "program": list(programs),
            "cell_type": ["A", "B", "A", "B", "A", "B"][: len(programs)],
            "score": scores,
            "method": method,
        }
    )


def test_read_truth_parses_flags_and_names_missing_columns(tmp_path):
    path = tmp_path / "programs.tsv"
    path.write_text("program\tcell_type\tactive\tdecoy\nP1\tA\ttrue\tFALSE\nP1\tB\t0\tyes\n")
    truth = read_truth(path)
    assert truth["active"].tolist() == [True, False]
    assert truth["decoy"].tolist() == [False, True]
    (tmp_path / "bad.tsv").write_text("program\tactive\nP1\ttrue\n")
    with pytest.raises(ValueError, match="cell_type"):
        read_truth(tmp_path / "bad.tsv")


def test_perfect_and_decoy_fooled_methods():
    activity = pd.concat(
        [
            _activity("perfect", [3.0, 0.0, 0.1, 2.0, -1.0, -1.0]),
            _activity("fooled", [1.0, 0.0, 0.0, 1.0, 5.0, 5.0]),  # decoys score highest
        ]
    )
    ev = evaluate_activity(activity, TRUTH).set_index("method")
    assert list(ev.reset_index().columns) == EVALUATION_COLUMNS
    assert ev.loc["perfect", "auroc"] == 1.0 and ev.loc["perfect", "auprc"] == 1.0
    assert ev.loc["perfect", "decoy_auroc"] == 1.0
    assert ev.loc["fooled", "decoy_auroc"] == 0.0
    assert ev.loc["fooled", "decoy_max_percentile"] == pytest.approx(1 - 0.5 / 6)  # tied top
    assert ev.loc["perfect", "n_pairs"] == 6 and ev.loc["perfect", "n_active"] == 2


def test_unscored_pairs_get_the_lowest_score_and_foreign_methods_no_row():
    skipped = _activity("skips_P2", [2.0, 1.0, 0.0, 0.5], programs=("P1", "P1", "D1", "D1"))
    units = _activity("ldvae", np.arange(6.0), programs=["unit_0"] * 6)
    ev = evaluate_activity(pd.concat([skipped, units]), TRUTH)
    assert ev["method"].tolist() == ["skips_P2"]
    # P2's pairs get the floor 0.0: the active P2/B ties D1/A and P2/A, loses to the rest
    assert ev.iloc[0]["auroc"] == (4 + 0.5 + 0.5) / 8
