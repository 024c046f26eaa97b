"""Branch (ii): gene programs from an ensemble of VAEs."""

import numpy as np
import pandas as pd


def test_ensemble_rows_mean_score_and_confidence_of_gene_set_programs():
    from scinterp.interpret.programs import ensemble_rows

    def table(scores):
        rows = [(p, "T", s, "program_vae") for p, s in scores.items()]
        return pd.DataFrame(rows, columns=["program", "cell_type", "score", "method"])

    a = table({"SET_A": 3.0, "SET_B": 2.0, "SET_C": 0.5, "denovo_0": 9.0})
    b = table({"SET_A": 1.0, "SET_B": 2.5, "SET_C": 0.1, "denovo_0": -9.0})
    out = ensemble_rows([a, b], ["SET_A", "SET_B", "SET_C"], top=1).set_index("program")
    assert out.loc["SET_A", "score"] == 2.0 and out.loc["SET_B", "score"] == 2.25
    # top 1 of member a is SET_A, of member b SET_B; SET_C is nobody's
    assert out["confidence"].to_dict()["SET_A"] == 0.5
    assert out.loc["SET_B", "confidence"] == 0.5 and out.loc["SET_C", "confidence"] == 0.0
    # a de novo unit means something else in each member: first model's score, no confidence
    assert out.loc["denovo_0", "score"] == 9.0 and np.isnan(out.loc["denovo_0", "confidence"])
    single = ensemble_rows([a], ["SET_A"], top=1)
    assert single["confidence"].isna().all() and single["score"].tolist() == a["score"].tolist()
