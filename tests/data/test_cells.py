"""CellDataset: minibatches from CSR/backed rows, never densifying the whole matrix."""

from __future__ import annotations

import tracemalloc

import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader

from scinterp.data.cells import CellDataset, collate_batch, row_sums, split_indices, take_rows


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    dense = rng.poisson(0.5, size=(50, 12)).astype(np.float32)
    return dense, sp.csr_matrix(dense)


def test_batch_matches_dense_rows(small):
    dense, csr = small
    y = np.arange(50) % 3
    ds = CellDataset(np.log1p(csr), counts=csr, y=y, batch=np.arange(50) % 2, columns=[1, 5, 7])
    idx = [7, 3, 3, 42]
    b = ds.__getitems__(idx)
    np.testing.assert_allclose(b["x"].numpy(), np.log1p(dense[idx][:, [1, 5, 7]]), rtol=1e-6)
    np.testing.assert_array_equal(b["counts"].numpy(), dense[idx][:, [1, 5, 7]])
    # library is the total over all genes, not over the selected columns
    np.testing.assert_array_equal(b["library"].numpy(), dense[idx].sum(1))
    np.testing.assert_array_equal(b["y"].numpy(), y[idx])
    assert b["x"].dtype == torch.float32 and b["y"].dtype == torch.int64
    one = ds[3]
    assert one["x"].shape == (3,) and int(one["y"]) == y[3]
    assert ds.n_features == 3


def test_subset_is_a_view_and_loader_batches(small):
    dense, csr = small
    ds = CellDataset(csr, y=np.arange(50))
    sub = ds.subset(np.array([10, 20, 30, 40]))
    assert sub.X is ds.X and len(sub) == 4
    loader = DataLoader(sub, batch_size=3, sampler=[3, 0, 2, 1], collate_fn=collate_batch)
    batches = list(loader)
    assert [b["y"].tolist() for b in batches] == [[40, 10, 30], [20]]
    np.testing.assert_array_equal(batches[0]["x"].numpy(), dense[[40, 10, 30]])


def test_backed_h5ad_rows_in_any_order(small, tmp_path):
    dense, csr = small
    path = tmp_path / "x.h5ad"
    ad.AnnData(X=csr).write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    rows = np.array([9, 2, 9, 0])
    np.testing.assert_array_equal(
        take_rows(backed.X, rows, np.array([4, 0])), dense[rows][:, [4, 0]]
    )
    np.testing.assert_allclose(row_sums(backed.X, chunk=7), dense.sum(1))
    ds = CellDataset(backed.X)
    np.testing.assert_array_equal(ds.__getitems__([5, 1])["x"].numpy(), dense[[5, 1]])
    backed.file.close()


def test_split_indices_stratified_and_deterministic():
    labels = np.array(["a"] * 40 + ["b"] * 8 + ["c"] * 2)
    tr, va = split_indices(50, 0.25, seed=1, stratify=labels)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 50
    assert set(labels[va]) == {"a", "b", "c"} and set(labels[tr]) == {"a", "b", "c"}
    tr2, va2 = split_indices(50, 0.25, seed=1, stratify=labels)
    np.testing.assert_array_equal(va, va2)
    _, va3 = split_indices(50, 0.25, seed=2, stratify=labels)
    assert not np.array_equal(va, va3)
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(10, 1.5, 0)


def test_one_epoch_memory_is_bounded_by_batch_not_cells():
    n_cells, n_genes, batch_size = 200_000, 2000, 1024
    per_row = n_genes // 200  # 0.5% density, built directly (sp.random is slow at this size)
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(
        (
            rng.random(n_cells * per_row, dtype=np.float32),
            rng.integers(0, n_genes, n_cells * per_row),
            np.arange(0, n_cells * per_row + 1, per_row),
        ),
        shape=(n_cells, n_genes),
    )
    dense_bytes = n_cells * n_genes * 4  # 1.6 GB if anything densified the matrix
    ds = CellDataset(X, counts=X)  # two matrices per batch, as for the VAE
    loader = DataLoader(ds, batch_size=batch_size, sampler=range(len(ds)), collate_fn=collate_batch)
    tracemalloc.start()
    try:
        seen = 0
        for batch in loader:
            assert batch["x"].shape[1] == n_genes
            seen += batch["x"].shape[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == n_cells
    one_batch = batch_size * n_genes * 4
    assert peak < 8 * one_batch, f"peak {peak / 1e6:.0f} MB for batches of {one_batch / 1e6:.0f} MB"
    assert peak < dense_bytes / 20
