"""Row ranges of a CSR matrix of about a given number of stored values: the unit in which
the atlas-sized paths (normalization in place, the batch scaling) work."""

from __future__ import annotations

import numpy as np

#: stored values a chunk holds (4M: 16-32 MB per temporary array)
CHUNK_NNZ = 1 << 22


def row_chunks(indptr: np.ndarray, chunk_nnz: int = CHUNK_NNZ):
    """(first row, end row, first value, end value) of row ranges of ~``chunk_nnz``
    values (a row longer than that is a range of its own)."""
    n = len(indptr) - 1
    r0 = 0
    while r0 < n:
        r1 = int(np.searchsorted(indptr, indptr[r0] + chunk_nnz, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        yield r0, r1, int(indptr[r0]), int(indptr[r1])
        r0 = r1
