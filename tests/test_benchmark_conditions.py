"""benchmarks/conditions.py (issue 30): its simulator plants what its truth says and its
metrics count false calls; its ``--quick`` case runs end to end in
tests/test_benchmarks_smoke.py (``test_smoke[conditions]``)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def cond():
    from benchmarks import conditions

    return conditions


def _mean_per_sample(a, t, gene):
    b = a[a.obs["cell_type"] == t]
    x = np.asarray(b[:, gene].layers["counts"].todense()).ravel()
    lib = np.asarray(b.layers["counts"].sum(1)).ravel()
    df = b.obs[["sample", "condition"]].astype(str).assign(x=x / lib * 1e4)
    return df.groupby(["sample", "condition"])["x"].mean().reset_index()


def test_simulator_plants_its_truth(cond):
    d = cond.Design("synthetic", 3, False, 0, n_genes=300, cells_per_sample=300)
    a, truth, gene_sets, info = cond.simulate(d)
    assert a.layers["counts"].dtype == np.float32
    assert np.array_equal(a.layers["counts"].data, np.rint(a.layers["counts"].data))
    assert set(a.obs["condition"]) == {cond.TEST, cond.REF}
    assert a.obs.groupby("sample", observed=True)["condition"].nunique().max() == 1
    assert set(truth["kind"]) == {"DE", "DP", "DM", "program", "trap"}
    assert truth.loc[truth["cell_type"] == "C", "kind"].eq("trap").all()  # C does not respond
    # strong DE genes move by about their planted fold change (sample effects blur each one)
    ratios = []
    for row in truth[(truth["kind"] == "DE") & (truth["a"].abs() > 1.2)].itertuples():
        per = _mean_per_sample(a, row.cell_type, row.gene).groupby("condition")["x"].mean()
        ratios.append(np.log2(per[cond.TEST] / per[cond.REF]) / row.a)
    assert len(ratios) >= 5 and 0.6 < np.median(ratios) < 1.4
    # DM genes keep their mean but spread out in the test cells
    dm = truth[truth["kind"] == "DM"].iloc[0]
    b = a[(a.obs["cell_type"] == dm["cell_type"])]
    x = np.asarray(b[:, dm["gene"]].layers["counts"].todense()).ravel()
    t = (b.obs["condition"] == cond.TEST).to_numpy()
    assert x[t].var() / x[t].mean() > 1.5 * x[~t].var() / x[~t].mean()
    # a trap gene moves in one test sample only
    tr = truth[truth["kind"] == "trap"].iloc[0]
    per = _mean_per_sample(a, tr["cell_type"], tr["gene"]).sort_values("x")
    assert per["x"].iloc[-1] > 3 * per["x"].iloc[:-1].max()
    assert per["condition"].iloc[-1] == cond.TEST
    # the abundance change: B's share is higher in the test samples
    share = a.obs.groupby("sample", observed=True)["cell_type"].apply(lambda s: (s == "B").mean())
    cnd = a.obs.groupby("sample", observed=True)["condition"].first().astype(str)
    assert share[cnd == cond.TEST].mean() > 1.3 * share[cnd == cond.REF].mean()
    assert len(gene_sets) == cond.N_PROGRAMS


def test_null_has_no_truth(cond):
    a, truth, _, _ = cond.simulate(cond.Design("synthetic", 3, True, 1, n_genes=200))
    assert truth.empty
    assert (a.obs.groupby("condition", observed=True)["sample"].nunique() == 3).all()


def test_metrics_count_false_calls(cond):
    import pandas as pd

    truth = pd.DataFrame(
        [("A", "g1", "DE", 1.0, 0.0), ("A", "g2", "trap", 3.0, 0.0)],
        columns=["cell_type", "gene", "kind", "a", "b"],
    )
    res = pd.DataFrame(
        {
            "cell_type": ["A", "A", "A"],
            "gene": ["g1", "g2", "g3"],
            "p_value": [1e-6, 1e-4, 0.5],
            "adj_p_value": [1e-5, 1e-3, 0.9],
        }
    )
    m = cond.gene_metrics(res, truth, ["g1", "g2", "g3"], null=False)
    assert m["n_called"] == 2 and m["fdp"] == 0.5 and m["trap_called"] == 1.0
    assert m["auprc_de"] == 1.0
