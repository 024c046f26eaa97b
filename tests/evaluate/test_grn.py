"""Edge-list metrics on hand-made networks."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from scinterp.errors import ScinterpInputError
from scinterp.evaluate.grn import (
    METRIC_COLUMNS,
    OUR_METHODS,
    edge_labels,
    evaluate_edges,
    grn_metrics,
    krumsiek11,
    plot_precision_recall,
    precision_recall,
    read_reference,
    restrict_reference,
)
from scinterp.io import check_counts
from scinterp.priors import read_tfs

TFS = ["T1", "T2", "T3"]
GENES = TFS + [f"G{i}" for i in range(7)]  # 3 TFs x 9 other genes = 27 candidates
REF = pd.DataFrame({"tf": ["T1", "T1", "T2", "T3", "T1"], "target": ["G0", "G1", "G2", "T1", "T2"]})


def universe():
    return [(t, g) for t in TFS for g in GENES if t != g]


def ranked(order):
    """Edge table whose scores follow ``order`` (first = best)."""
    return pd.DataFrame(
        {
            "tf": [e[0] for e in order],
            "target": [e[1] for e in order],
            "score": np.arange(len(order), 0, -1.0),
        }
    )


def true_first(reverse=False):
    truth = set(zip(REF.tf, REF.target, strict=True))
    pos = [e for e in universe() if e in truth]
    neg = [e for e in universe() if e not in truth]
    return neg + pos if reverse else pos + neg


def test_perfect_ranking_scores_one():
    m = evaluate_edges(ranked(true_first()), REF, TFS, GENES)
    assert m["n_candidates"] == 27 and m["n_edges_true"] == 5
    assert m["auprc"] == pytest.approx(1.0)
    assert m["auroc"] == pytest.approx(1.0)
    assert m["random_precision"] == pytest.approx(5 / 27)
    assert m["auprc_ratio"] == pytest.approx(27 / 5)
    assert m["epr"] == pytest.approx(27 / 5)  # all of the top 5 are true


def test_reversed_ranking_scores_low():
    m = evaluate_edges(ranked(true_first(reverse=True)), REF, TFS, GENES)
    assert m["auroc"] == pytest.approx(0.0)
    assert m["epr"] == 0.0
    assert m["auprc"] < m["random_precision"]
    # true edges at ranks 23..27: AP = mean of i / (22 + i)
    assert m["auprc"] == pytest.approx(np.mean([i / (22 + i) for i in range(1, 6)]))


def test_random_ranking_ratio_near_one():
    rng = np.random.default_rng(0)
    tfs = [f"T{i}" for i in range(20)]
    genes = tfs + [f"G{i}" for i in range(180)]
    pairs = [(t, g) for t in tfs for g in genes if t != g]
    pick = rng.choice(len(pairs), 400, replace=False)
    ref = pd.DataFrame([pairs[i] for i in pick], columns=["tf", "target"])
    ratios, aurocs = [], []
    for _ in range(5):
        order = [pairs[i] for i in rng.permutation(len(pairs))]
        m = evaluate_edges(ranked(order), ref, tfs, genes)
        ratios.append(m["auprc_ratio"])
        aurocs.append(m["auroc"])
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.1)
    assert np.mean(aurocs) == pytest.approx(0.5, abs=0.03)


def test_epr_counts_top_k_with_ties():
    # k = 5 true edges; top 5 holds 2 true ones -> early precision 2/5
    truth = true_first()
    true_set = set(zip(REF.tf, REF.target, strict=True))
    negatives = [e for e in universe() if e not in true_set]
    order = [truth[0], negatives[0], truth[1], negatives[1], negatives[2]]
    rest = [e for e in universe() if e not in order]
    m = evaluate_edges(ranked(order + rest), REF, TFS, GENES)
    assert m["early_precision"] == pytest.approx(2 / 5)
    assert m["epr"] == pytest.approx((2 / 5) / (5 / 27))
    # ties at the k-th score are all taken (BEELINE): 6 edges share the top score
    tied = ranked(order + [truth[2]])
    tied["score"] = 1.0
    m = evaluate_edges(tied, REF, TFS, GENES)
    assert m["n_edges_predicted"] == 6
    assert m["early_precision"] == pytest.approx(3 / 6)


def test_unlisted_edges_tie_at_the_bottom():
    # only two edges listed, both true: the other 3 true edges sit among 25 tied ones
    listed = ranked(true_first()[:2])
    scores, labels = edge_labels(listed, REF, TFS, GENES)
    assert labels.sum() == 5 and (scores < listed["score"].min()).sum() == 25
    m = evaluate_edges(listed, REF, TFS, GENES)
    assert m["n_edges_predicted"] == 2
    assert m["auprc"] == pytest.approx(2 / 5 * 1.0 + 3 / 5 * (5 / 27))
    assert m["early_precision"] == 1.0  # precision of the listed top edges


def test_precision_recall_curve_ends_at_density():
    curve = precision_recall(ranked(true_first()), REF, TFS, GENES)
    assert curve["recall"].iloc[-1] == 1.0
    assert curve["precision"].iloc[-1] == pytest.approx(5 / 27)
    assert curve["precision"].iloc[:5].eq(1.0).all()


def test_reference_outside_data_dropped_with_warning(tmp_path, caplog):
    ref = pd.concat(
        [
            REF,
            pd.DataFrame(
                {
                    "tf": ["NOPE", "NOPE", "T2", "T1", "t1"],
                    "target": ["G0", "G1", "ABSENT", "T1", "g0"],
                }
            ),
        ]
    )
    path = tmp_path / "ref.tsv"
    ref.to_csv(path, sep="\t", index=False)
    with caplog.at_level(logging.WARNING, logger="scinterp"):
        kept = read_reference(path, TFS, GENES, dataset="toy")
    # NOPE->* (2) and T2->ABSENT (1) dropped; T1->T1 is a self-loop; t1->g0 duplicates T1->G0
    assert set(zip(kept.tf, kept.target, strict=True)) == set(zip(REF.tf, REF.target, strict=True))
    message = caplog.text
    assert "dropped 3 of" in message and "2 whose TF" in message and "1 whose target" in message
    m = evaluate_edges(ranked(true_first()), kept, TFS, GENES)
    assert m["n_edges_true"] == 5 and m["auprc"] == pytest.approx(1.0)


def test_reference_without_overlap_is_a_clear_error():
    with pytest.raises(ScinterpInputError, match="none of the 2 reference edges"):
        restrict_reference(pd.DataFrame({"tf": ["X", "Y"], "target": ["G0", "G1"]}), TFS, GENES)


def test_reference_missing_column(tmp_path):
    path = tmp_path / "ref.tsv"
    pd.DataFrame({"regulator": ["T1"], "target": ["G0"]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(ScinterpInputError, match="lacks column"):
        read_reference(path, TFS, GENES)


def test_tf_list_without_overlap_is_a_clear_error(tmp_path):
    path = tmp_path / "tfs.txt"
    path.write_text("FOO\nBAR\n")
    with pytest.raises(ScinterpInputError, match="none of the 2 TFs is a gene of the data") as err:
        read_tfs(path, genes=GENES, dataset="toy")
    message = str(err.value)
    assert "dataset 'toy'" in message and str(path) in message  # which dataset, which file
    assert "Fix:" in message and "'tfs'" in message  # and what to do


def test_krumsiek11_reference_and_pseudo_counts():
    adata, network = krumsiek11(scale=100, seed=0)
    assert adata.shape == (640, 11) and adata.obs_names.is_unique
    assert set(adata.obs["cell_type"]) == {"progenitor", "Ery", "Mk", "Mo", "Neu"}
    counts = adata.X.toarray()
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts))
    check_counts(adata.X, dataset="krumsiek11", path="rna.h5ad")  # passes the count check
    level = adata.layers["level"].toarray()
    assert np.corrcoef(counts.ravel(), level.ravel())[0, 1] > 0.95
    # the coupling list of Krumsiek et al. (2011), self-couplings left out
    edges = set(zip(network.tf, network.target, strict=True))
    assert len(edges) == 26 and len(network) == 26
    assert {
        ("Gata1", "Fog1"),
        ("Fog1", "Gata2"),
        ("Pu.1", "Gata1"),
        ("EgrNab", "Gfi1"),
        ("Cebpa", "Pu.1"),
    } <= edges
    assert ("Pu.1", "Pu.1") not in edges and ("Fog1", "Gata1") not in edges  # one-way
    assert set(network.tf) <= set(adata.var_names) and set(network.target) <= set(adata.var_names)
    signs = network.set_index(["tf", "target"])["sign"]
    assert signs[("Pu.1", "Gata1")] == "repression" and signs[("Gata1", "Fog1")] == "activation"


def test_precision_recall_figure():
    fig = plot_precision_recall(
        pd.concat(
            [
                ranked(true_first()).assign(method="consensus"),
                ranked(true_first(reverse=True)).assign(method="grnboost2"),
            ]
        ),
        REF,
        TFS,
        GENES,
    )
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("consensus (AUPRC 1.000)") and labels[1].startswith("grnboost2")


def test_grn_metrics_per_network():
    good = ranked(true_first()).assign(method="good", cell_type="all")
    bad = ranked(true_first(reverse=True)).assign(method="bad", cell_type="all")
    typed = ranked(true_first()).assign(method="good", cell_type="B cell")
    table = grn_metrics(pd.concat([bad, typed, good]), REF, TFS, GENES)
    assert list(table.columns) == METRIC_COLUMNS
    assert table[["method", "cell_type"]].values.tolist() == [
        ["good", "all"],
        ["bad", "all"],
        ["good", "B cell"],
    ]


OURS = OUR_METHODS  # deepsem, integrated_gradients (and within type), consensus


def test_network_runtimes_from_benchmark_files(tmp_path):
    """Ours = training grn_sem + infer_grn, each peer its own job; metrics carry it."""
    from scinterp.evaluate.grn import network_runtimes
    from scinterp.interpret.grn.peers import PEERS

    def bench(name, seconds):
        path = tmp_path / f"{name}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("s\th:m:s\tmax_rss\n" + "".join(f"{s}\t0:00:01\t1.0\n" for s in seconds))
        return path

    files = [bench("grn_sem", [9.0, 7.5]), bench("infer_grn", [2.5]), bench("spearman", [0.4])]
    times = network_runtimes(files, PEERS)
    # each of our methods costs the training and inference (the last run of each job)
    assert times == {"spearman": 0.4, **dict.fromkeys(OURS, 10.0)}
    assert {"deepsem", "integrated_gradients", "consensus"} <= set(OURS)
    # grn_sem's further ensemble members (rule train_members_grn_sem, one job) count as ours
    files.append(bench("train_members/grn_sem", [6.0]))
    times = network_runtimes(files, PEERS)
    assert times["consensus"] == 16.0 and set(times) == {"spearman", *OURS}
    # another network model (not grn_sem): its training is ours all the same
    other = [bench("toy_grn", [3.0]), bench("infer_grn", [2.5]), bench("grnboost2", [5.0])]
    times = network_runtimes(other, PEERS)
    assert times == {"grnboost2": 5.0, **dict.fromkeys(OURS, 5.5)}
