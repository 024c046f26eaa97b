"""Tiny synthetic single-cell data with known structure, shared by the model tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch


def make_programs(n_cells=240, n_genes=40, n_sets=4, set_size=8, n_classes=3, seed=0):
    """Counts where class c switches on gene set c; returns a dict of arrays.

    Gene set k covers genes [k * set_size, (k + 1) * set_size); the last set is never
    switched on by any class (so its unit should stay flat).
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n_cells) % n_classes
    rng.shuffle(y)
    base = rng.uniform(0.5, 2.0, n_genes)
    rate = np.tile(base, (n_cells, 1))
    for c in range(n_classes):
        genes = slice(c * set_size, (c + 1) * set_size)
        rate[y == c, genes] *= 8.0
    library_scale = rng.uniform(0.7, 1.3, (n_cells, 1))
    counts = rng.poisson(rate * library_scale).astype(np.float32)
    lib = counts.sum(1, keepdims=True)
    x = np.log1p(counts / lib * 1e2).astype(np.float32)
    gene_sets = {f"set{k}": list(range(k * set_size, (k + 1) * set_size)) for k in range(n_sets)}
    return {
        "x": x,
        "counts": counts,
        "X_csr": sp.csr_matrix(x),
        "counts_csr": sp.csr_matrix(counts),
        "y": y,
        "gene_sets": gene_sets,
        "n_classes": n_classes,
    }


def make_sem(n_cells=400, n_tfs=5, n_targets=20, seed=0):
    """Linear SEM: independent TFs, each target = sum of 1-2 TF parents + noise.

    Returns (x, tf_index, truth) with truth a bool n_tfs x n_genes matrix of true edges.
    """
    rng = np.random.default_rng(seed)
    n_genes = n_tfs + n_targets
    x = np.zeros((n_cells, n_genes), dtype=np.float64)
    x[:, :n_tfs] = rng.normal(size=(n_cells, n_tfs))
    truth = np.zeros((n_tfs, n_genes), dtype=bool)
    for j in range(n_tfs, n_genes):
        parents = rng.choice(n_tfs, size=rng.integers(1, 3), replace=False)
        w = rng.uniform(0.8, 1.2, len(parents)) * rng.choice([-1, 1], len(parents))
        x[:, j] = x[:, parents] @ w + rng.normal(scale=0.4, size=n_cells)
        truth[parents, j] = True
    return x.astype(np.float32) + 3.0, np.arange(n_tfs), truth


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests share 2 cores with other jobs: one thread is faster and reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def programs_data():
    return make_programs()


@pytest.fixture(scope="session")
def sem_data():
    return make_sem()
