"""The GRN peers (scinterp.interpret.grn.peers) on a network small enough to know the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

from scinterp.interpret.grn.peers import (
    PEERS,
    run_peer,
    spearman_network,
    within_type_spearman_network,
)


def chain(n_cells=600, seed=0):
    """Three TFs; t1 follows A, t2 follows B (inversely), t3 and C are noise; one gene
    is never expressed. Log-normal-like, with zeros, as log-normalized data are."""
    rng = np.random.default_rng(seed)
    tf = rng.normal(size=(n_cells, 3))
    noise = rng.normal(size=(n_cells, 3)) * 0.4
    targets = np.c_[2 * tf[:, 0], -tf[:, 1], np.zeros(n_cells)] + noise
    X = np.log1p(np.exp(np.c_[tf, targets]))
    X[X < 0.3] = 0.0
    X = np.c_[X, np.zeros(n_cells)]
    genes = ["A", "B", "C", "t1", "t2", "t3", "never"]
    return X.astype(np.float32), genes, ["A", "B", "C"]


def test_spearman_is_scipys_correlation_on_sparse_and_dense():
    X, genes, tfs = chain()
    dense = spearman_network(X, genes, tfs, chunk=2)
    sp = spearman_network(sparse.csr_matrix(X), genes, tfs)
    pd.testing.assert_frame_equal(dense, sp)
    score = dense.set_index(["tf", "target"])["score"]
    rho = stats.spearmanr(X[:, 1], X[:, 4])[0]
    assert score[("B", "t2")] == pytest.approx(abs(rho))
    assert score[("A", "never")] == 0.0  # a constant gene correlates with nothing
    assert list(dense.iloc[0][["tf", "target"]]) == ["A", "t1"]
    assert not (dense["tf"] == dense["target"]).any()
    assert len(dense) == 3 * 6 and dense["score"].is_monotonic_decreasing


def test_run_peer_labels_the_network_and_rejects_unknown_names():
    X, genes, tfs = chain()
    edges = run_peer("spearman", X, genes, tfs)
    assert set(edges["method"]) == {"spearman"} and set(edges["cell_type"]) == {"all"}
    with pytest.raises(ValueError, match="unknown GRN peer 'aracne'"):
        run_peer("aracne", X, genes, tfs)
    with pytest.raises(ValueError, match="TFs not among the genes: Z"):
        spearman_network(X, genes, ["A", "Z"])
    assert set(PEERS) == {"grnboost2", "regdiffusion", "spearman", "within_type_spearman"}


def test_regdiffusion_finds_the_strong_edges_reproducibly():
    X, genes, tfs = chain(n_cells=800)
    # 300 of the default 1,000 steps: the same top three edges at seeds 0-2 (1.2 CPU s a
    # run instead of 4.5); at 200 the second edge changed with the seed
    a = run_peer("regdiffusion", X, genes, tfs, seed=0, n_steps=300)
    b = run_peer("regdiffusion", X, genes, tfs, seed=0, n_steps=300)
    pd.testing.assert_frame_equal(a, b)  # seeded: the same network twice on CPU
    assert "never" not in set(a["target"])  # constant genes are left out, not fatal
    top = set(map(tuple, a.head(2)[["tf", "target"]].to_numpy()))
    assert ("A", "t1") in top


def confounded(n_per_type=120, seed=0):
    """Four cell types shift TF A and the unregulated gene 'shared' together; within each
    type 'target' follows A's deviation from its type's mean (the true edge) and 'shared'
    does not. One type has 10 cells."""
    rng = np.random.default_rng(seed)
    shifts = np.array([0.0, 2.0, 4.0, 6.0])
    sizes = [n_per_type] * 3 + [10]
    labels = np.repeat(["t0", "t1", "t2", "small"], sizes)
    shift = np.repeat(shifts, sizes)
    within = rng.normal(size=len(labels))
    a = shift + within
    target = 0.8 * within + rng.normal(size=len(labels)) * 0.6
    shared = shift + rng.normal(size=len(labels))
    X = np.c_[a, target, shared].astype(np.float32)
    return X, ["A", "target", "shared"], ["A"], labels


def test_within_type_spearman_ranks_the_within_type_edge_above_the_confounded_one():
    X, genes, tfs, labels = confounded()
    overall = spearman_network(X, genes, tfs).set_index("target")["score"]
    assert overall["shared"] > overall["target"]  # the type shifts win over all cells
    net = run_peer("within_type_spearman", X, genes, tfs, labels=labels)
    assert set(net["method"]) == {"within_type_spearman"} and set(net["cell_type"]) == {"all"}
    score = net.set_index("target")["score"]
    assert list(net["target"]) == ["target", "shared"]
    assert score["target"] > 0.6 > 0.3 > score["shared"]
    # the cell-weighted mean of the per-type rho (types under min_cells_per_type left out)
    rho = {
        g: [stats.spearmanr(X[labels == t, 0], X[labels == t, j])[0] for t in ("t0", "t1", "t2")]
        for j, g in ((1, "target"), (2, "shared"))
    }
    assert score["target"] == pytest.approx(abs(np.mean(rho["target"])))
    assert score["shared"] == pytest.approx(abs(np.mean(rho["shared"])))
    sp = within_type_spearman_network(sparse.csr_matrix(X), genes, tfs, labels=labels)
    pd.testing.assert_frame_equal(net.drop(columns=["method", "cell_type"]), sp)
    # combine="max": the best type's |rho|
    best = run_peer("within_type_spearman", X, genes, tfs, labels=labels, combine="max")
    best = best.set_index("target")["score"]
    assert best["target"] == pytest.approx(max(map(abs, rho["target"])))
    assert best["shared"] == pytest.approx(max(map(abs, rho["shared"])))
    assert best["shared"] > score["shared"]  # the max lifts a null pair: its noisiest type
    big = labels != "small"
    with_small = within_type_spearman_network(
        X, genes, tfs, labels=labels, min_cells_per_type=5, combine="max"
    )
    small = abs(stats.spearmanr(X[~big, 0], X[~big, 2])[0])
    assert with_small.set_index("target")["score"]["shared"] == pytest.approx(
        max(small, best["shared"])
    )
    with pytest.raises(ValueError, match="combine must be 'mean' or 'max'"):
        within_type_spearman_network(X, genes, tfs, labels=labels, combine="median")


def test_within_type_spearman_needs_labels_and_falls_back_without_a_large_type():
    X, genes, tfs, labels = confounded(n_per_type=20)
    with pytest.raises(ValueError, match="needs each cell's type"):
        within_type_spearman_network(X, genes, tfs)
    with pytest.raises(ValueError, match="labels: 3 values for"):
        within_type_spearman_network(X, genes, tfs, labels=labels[:3])
    pd.testing.assert_frame_equal(
        within_type_spearman_network(X, genes, tfs, labels=labels),  # no type of 30 cells
        spearman_network(X, genes, tfs),
    )
