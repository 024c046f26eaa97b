"""Cells x genes matrices -> minibatches of dense tensors, without densifying the matrix.

A :class:`CellDataset` wraps a CSR matrix (in memory), a dense array, or the ``X`` of an
AnnData opened with ``backed="r"``. Minibatches are built by one row slice per batch
(``__getitems__``), so memory is bounded by the batch size, never by the number of cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch.utils.data import Dataset, default_collate

__all__ = [
    "CellDataset",
    "collate_batch",
    "row_sums",
    "sample_cells",
    "split_indices",
    "take_rows",
    "training_cells",
]


def take_rows(matrix, rows: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """Dense float32 copy of some rows (and optionally columns) of a matrix.

    Parameters
    ----------
    matrix
        scipy sparse matrix (CSR preferred), numpy array, or a backed AnnData matrix
        (h5py dataset / anndata sparse dataset) that supports sorted integer row indexing.
    rows
        Row indices, any order, duplicates allowed.
    columns
        Column indices to keep, or None for all.

    Returns
    -------
    numpy.ndarray
        ``len(rows) x n_columns`` float32 array.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if sp.issparse(matrix) or isinstance(matrix, np.ndarray):
        block = matrix[rows]
    else:
        # Backed files want sorted unique indices: read those, then put rows back in order.
        uniq, inverse = np.unique(rows, return_inverse=True)
        block = matrix[uniq]
        block = block[inverse] if not sp.issparse(block) else sp.csr_matrix(block)[inverse]
    if columns is not None:
        block = block[:, columns]
    if sp.issparse(block):
        block = block.toarray()
    return np.ascontiguousarray(block, dtype=np.float32)


class CellDataset(Dataset):
    """Map-style dataset of cells, batched by row slicing.

    ``ds[i]`` returns one cell as a dict of tensors; ``ds.__getitems__(indices)`` (used by
    :class:`torch.utils.data.DataLoader` with automatic batching) returns the whole minibatch
    at once from one slice of each matrix.

    Parameters
    ----------
    X
        Cells x genes input features (e.g. log-normalized expression): CSR, dense or backed.
    counts
        Optional raw counts with the same rows (for count likelihoods), key ``counts``.
    y
        Optional integer class per cell, key ``y``.
    batch
        Optional integer batch index per cell, key ``batch``.
    library
        Optional total counts per cell, key ``library``; computed from ``counts`` if omitted
        and counts are given.
    columns
        Optional column indices applied to ``X`` and ``counts`` per minibatch (feature
        selection without copying the matrix).
    indices
        Optional subset of rows this dataset exposes (a view; the matrices are shared).
    """

    def __init__(
        self,
        X,
        counts=None,
        y: Sequence[int] | np.ndarray | None = None,
        batch: Sequence[int] | np.ndarray | None = None,
        library: np.ndarray | None = None,
        columns: np.ndarray | None = None,
        indices: np.ndarray | None = None,
    ):
        n = X.shape[0]
        if counts is not None and counts.shape[0] != n:
            raise ValueError(f"counts has {counts.shape[0]} rows but X has {n}")
        self.X = X
        self.counts = counts
        self.columns = None if columns is None else np.asarray(columns, dtype=np.int64)
        if self.columns is not None and np.array_equal(self.columns, np.arange(X.shape[1])):
            # every column in order (the training jobs read only their features): no
            # column indexing per minibatch, a tenth of the program VAE's demo training
            self.columns = None
        self.y = None if y is None else np.asarray(y, dtype=np.int64)
        self.batch = None if batch is None else np.asarray(batch, dtype=np.int64)
        for name, arr in (("y", self.y), ("batch", self.batch)):
            if arr is not None and arr.shape != (n,):
                raise ValueError(f"{name} must have one entry per cell ({n}), got {arr.shape}")
        if library is None and counts is not None:
            library = row_sums(counts)
        self.library = None if library is None else np.asarray(library, dtype=np.float32)
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)

    @property
    def n_features(self) -> int:
        """Number of input features per cell."""
        return len(self.columns) if self.columns is not None else self.X.shape[1]

    def __len__(self) -> int:
        return len(self.indices)

    def subset(self, indices: np.ndarray) -> CellDataset:
        """A view on some of this dataset's cells (positions relative to this dataset)."""
        return CellDataset(
            self.X,
            self.counts,
            y=self.y,
            batch=self.batch,
            library=self.library,
            columns=self.columns,
            indices=self.indices[np.asarray(indices, dtype=np.int64)],
        )

    def __getitems__(self, positions: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = self.indices[np.asarray(positions, dtype=np.int64)]
        out = {"x": torch.from_numpy(take_rows(self.X, rows, self.columns))}
        if self.counts is not None:
            out["counts"] = torch.from_numpy(take_rows(self.counts, rows, self.columns))
        if self.library is not None:
            out["library"] = torch.from_numpy(self.library[rows])
        if self.y is not None:
            out["y"] = torch.from_numpy(self.y[rows])
        if self.batch is not None:
            out["batch"] = torch.from_numpy(self.batch[rows])
        return out

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([position]).items()}


def row_sums(matrix, chunk: int = 65536) -> np.ndarray:
    """Per-row sums of a CSR, dense or backed matrix, read in chunks of rows."""
    if sp.issparse(matrix) or isinstance(matrix, np.ndarray):
        return np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    n = matrix.shape[0]
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        block = matrix[start : min(n, start + chunk)]
        out[start : start + block.shape[0]] = np.asarray(block.sum(axis=1)).ravel()
    return out


def collate_batch(samples):
    """Collate for the training loop: pass through batches that a dataset built itself
    (``__getitems__`` returns a dict), stack lists of per-item dicts otherwise."""
    if isinstance(samples, dict):
        return samples
    return default_collate(samples)


def split_indices(
    n: int,
    val_fraction: float,
    seed: int,
    stratify: Sequence | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of ``range(n)``.

    Parameters
    ----------
    n
        Number of items.
    val_fraction
        Fraction held out for validation, in ``(0, 1)``.
    seed
        Random seed; the split depends only on ``(n, val_fraction, seed, stratify)``.
    stratify
        Optional labels; each label is split separately so that every label with at least
        two items appears in both parts.

    Returns
    -------
    (train, val)
        Sorted integer index arrays.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if n < 2:
        raise ValueError(f"need at least 2 items to split into train and validation, got {n}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(stratify)
        if labels.shape[0] != n:
            raise ValueError(f"stratify has {labels.shape[0]} labels for {n} items")
        _, codes = np.unique(labels, return_inverse=True)
        groups = [np.flatnonzero(codes == c) for c in range(codes.max() + 1)]
    val = []
    for group in groups:
        perm = rng.permutation(group)
        k = int(round(val_fraction * len(perm)))
        if len(perm) >= 2:
            k = min(max(k, 1), len(perm) - 1)
        else:
            k = 0
        val.append(perm[:k])
    val = np.sort(np.concatenate(val)).astype(np.int64)
    train = np.setdiff1d(np.arange(n), val).astype(np.int64)
    return train, val


def sample_cells(labels, max_cells: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a stratified sample of at most ``max_cells`` cells.

    Every label keeps a share proportional to its size, and at least
    ``min(size, 10)`` cells, so that rare types are still attributed. Deterministic
    given ``seed``.
    """
    labels = pd.Series(np.asarray(labels, dtype=object))
    n = len(labels)
    if max_cells is None or max_cells >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    groups = {k: np.flatnonzero(labels.to_numpy() == k) for k in pd.unique(labels)}
    quota = {k: max(min(len(v), 10), int(round(max_cells * len(v) / n))) for k, v in groups.items()}
    # Trim the largest quotas until the total fits.
    while sum(quota.values()) > max_cells:
        k = max(quota, key=quota.get)
        if quota[k] <= 1:
            break
        quota[k] -= 1
    picked = [rng.choice(v, size=min(len(v), quota[k]), replace=False) for k, v in groups.items()]
    return np.sort(np.concatenate(picked))


def training_cells(obs: pd.DataFrame, uns, max_cells: int | None, seed: int = 0) -> np.ndarray:
    """The cells a model trains on under ``train.max_cells`` (``grn_max_cells`` for
    grn_sem): a :func:`sample_cells` sample stratified by the label column that
    ``normalized.h5ad`` names (``uns["scinterp"]["label_key"]``), or by nothing where it
    names none. The GRN peers call it with the model's stored ``max_cells`` and seed to
    read the same cells."""
    key = (uns or {}).get("scinterp", {}).get("label_key")
    labels = obs[key].astype(str).to_numpy() if key in obs else np.zeros(len(obs))
    return sample_cells(labels, max_cells, seed)
