"""Helpers of the readers: the counts as float32 CSR, duplicated names, short lists
for messages."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse


def _as_csr_float32(X):
    if isinstance(X, sparse.csr_matrix):
        pass  # as read: re-wrapping would turn the arrays into views of themselves
    elif sparse.issparse(X):
        X = sparse.csr_matrix(X)
    elif hasattr(X, "to_memory"):  # backed or lazy arrays
        X = sparse.csr_matrix(X.to_memory())
    else:
        X = sparse.csr_matrix(np.asarray(X))
    if X.dtype != np.float32:
        X = X.astype(np.float32)
    _common_index_dtype(X)
    X.eliminate_zeros()
    X.sort_indices()
    return X


def _common_index_dtype(X) -> None:
    """Give ``indices`` and ``indptr`` one integer type, in place (scipy needs it).

    Writers differ (an int64 ``indptr`` with int32 ``indices`` is common in large
    files): the small ``indptr`` is cast down when the counts allow it, so the large
    ``indices`` array is never copied to a wider type.
    """
    if X.indices.dtype == X.indptr.dtype:
        return
    nnz = int(X.indptr[-1]) if len(X.indptr) else 0
    if X.indices.dtype == np.int32 and nnz < np.iinfo(np.int32).max:
        X.indptr = X.indptr.astype(np.int32)
    else:
        X.indices = X.indices.astype(np.int64)
        X.indptr = X.indptr.astype(np.int64)


def _duplicates(index) -> list[str]:
    idx = pd.Index(index)
    return [str(x) for x in idx[idx.duplicated()].unique()]


def _fmt_list(items) -> str:
    items = [str(x) for x in items]
    if not items:
        return "(none)"
    shown = ", ".join(f"'{x}'" for x in items[:20])
    return shown + (f", ... ({len(items)} in all)" if len(items) > 20 else "")


def _examples(values, n: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f", ... ({len(values)} in all)" if len(values) > n else "")
