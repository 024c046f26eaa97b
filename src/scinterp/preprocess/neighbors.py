"""The kNN graph of the cells: scanpy's, with a pynndescent transformer from atlas size on
(normalize embeds on it, integrate's metrics and UMAPs too)."""

from __future__ import annotations

import numpy as np

# scanpy uses an exact kNN below this many cells and pynndescent from there on.
_EXACT_KNN_MAX = 8192


def _knn_transformer(n_obs: int, n_neighbors: int, seed: int):
    """scanpy's own default kNN for large data (pynndescent with UMAP's settings), made
    to return a ``csr_matrix``: pynndescent returns a ``csr_array``, on which scanpy
    1.11 calls ``getnnz``, gone from scipy's sparse arrays (scipy >= 1.14), so that
    neighbours failed for any dataset of 8192 cells or more. None below that size."""
    if n_obs < _EXACT_KNN_MAX:
        return None
    import scanpy as sc
    from pynndescent import PyNNDescentTransformer
    from scipy import sparse

    class CSRNNDescent(PyNNDescentTransformer):
        def fit_transform(self, X, y=None, **kwargs):
            return sparse.csr_matrix(super().fit_transform(X, y, **kwargs))

        def transform(self, X, y=None):
            return sparse.csr_matrix(super().transform(X, y))

    return CSRNNDescent(
        n_neighbors=n_neighbors,
        metric="euclidean",
        metric_kwds={},
        random_state=seed,
        n_jobs=sc.settings.n_jobs,
        n_trees=min(64, 5 + round(n_obs**0.5 / 20.0)),
        n_iters=max(5, round(np.log2(n_obs))),
    )


def knn_graph(adata, n_neighbors: int, seed: int, **kwargs) -> None:
    """scanpy's kNN graph, with :func:`_knn_transformer` from its size on."""
    import scanpy as sc

    knn = _knn_transformer(adata.n_obs, n_neighbors, seed)
    if knn is not None:
        kwargs["transformer"] = knn
    sc.pp.neighbors(adata, n_neighbors=n_neighbors, random_state=seed, **kwargs)
