"""Tiny models and data for the training-loop tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from scinterp.data.cells import CellDataset, split_indices


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def vae_data():
    """(train_ds, val_ds, mask) with counts: enough to exercise dropout and sampling."""
    rng = np.random.default_rng(0)
    n, g = 160, 24
    y = np.arange(n) % 3
    rate = np.full((n, g), 1.0)
    for c in range(3):
        rate[y == c, c * 6 : (c + 1) * 6] = 6.0
    counts = rng.poisson(rate).astype(np.float32)
    x = np.log1p(counts)
    ds = CellDataset(sp.csr_matrix(x), counts=sp.csr_matrix(counts), y=y)
    tr, va = split_indices(n, 0.25, seed=0, stratify=y)
    mask = torch.zeros(g, 4, dtype=torch.bool)
    for k in range(4):
        mask[k * 6 : (k + 1) * 6, k] = True
    return ds.subset(tr), ds.subset(va), mask
