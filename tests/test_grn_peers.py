"""The GRN peers (scinterp.grn_peers) on a network small enough to know the answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

from scinterp.grn_peers import PEERS, run_peer, spearman_network


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
    assert set(PEERS) == {"grnboost2", "regdiffusion", "spearman"}


def test_regdiffusion_finds_the_strong_edges_reproducibly():
    X, genes, tfs = chain(n_cells=800)
    a = run_peer("regdiffusion", X, genes, tfs, seed=0)
    b = run_peer("regdiffusion", X, genes, tfs, seed=0)
    pd.testing.assert_frame_equal(a, b)  # seeded: the same network twice on CPU
    assert "never" not in set(a["target"])  # constant genes are left out, not fatal
    top = set(map(tuple, a.head(2)[["tf", "target"]].to_numpy()))
    assert ("A", "t1") in top
