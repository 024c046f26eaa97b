"""Per sample x cell type sums over the count matrix, streamed in row chunks (CSR)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

SEP = "|"


def _matrix(adata, layer):
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        from scinterp.errors import ScinterpInputError

        raise ScinterpInputError(
            f"layer '{layer}' (raw integer counts) is missing (layers: "
            f"{', '.join(adata.layers.keys()) or 'none'}).",
            fix="run the normalize step, which keeps the raw counts in layers['counts'].",
        )
    return adata.layers[layer]


def groups_of(
    obs: pd.DataFrame, label_key: str, sample_key: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Group code per cell (-1: no sample or label) and the groups' meta (index
    ``sample|type``; columns sample, cell_type, n_cells), in sample then type order."""
    s = obs[sample_key].astype(object).where(obs[sample_key].notna())
    t = obs[label_key].astype(object).where(obs[label_key].notna())
    ok = s.notna().to_numpy() & t.notna().to_numpy()
    key = pd.Series(np.where(ok, s.astype(str) + SEP + t.astype(str), None), index=obs.index)
    pairs = (
        pd.DataFrame({"sample": s.astype(str), "cell_type": t.astype(str)})[ok]
        .value_counts()
        .rename("n_cells")
        .reset_index()
        .sort_values(["sample", "cell_type"], kind="stable")
    )
    pairs.index = pd.Index(pairs["sample"] + SEP + pairs["cell_type"], name="group")
    codes = pd.Categorical(key, categories=pairs.index).codes.astype(np.int64)
    return codes, pairs[["sample", "cell_type", "n_cells"]]


def stream_group_sums(
    matrix, codes: np.ndarray, n_groups: int, chunk_rows: int = 10000, features=None
):
    """Sum rows of ``matrix`` (cells x genes; CSR, backed or dense) per group code, one
    row chunk at a time. ``features``: a function of a CSR chunk returning a dict of CSR
    matrices (same shape) whose group sums are returned too. Returns a dict of dense
    (groups x genes) arrays: ``sum`` and each feature's name."""
    n, g = matrix.shape
    out: dict[str, np.ndarray] = {}
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        block = matrix[start:stop]
        block = sparse.csr_matrix(block) if not sparse.issparse(block) else block.tocsr()
        c = codes[start:stop]
        keep = np.flatnonzero(c >= 0)
        if keep.size == 0:
            continue
        ind = sparse.csr_matrix(
            (np.ones(keep.size), (c[keep], keep)), shape=(n_groups, stop - start)
        )
        parts = {"sum": block}
        if features is not None:
            parts.update(features(block))
        for name, m in parts.items():
            s = np.asarray((ind @ m).todense()) if sparse.issparse(m) else ind @ m
            out[name] = s if name not in out else out[name] + s
    for name in list(out) or ["sum"]:
        out.setdefault(name, np.zeros((n_groups, g)))
    return out


def pseudobulk(
    adata, label_key: str, sample_key: str, layer: str | None = "counts", chunk_rows: int = 10000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Count sums per sample x cell type.

    Returns ``counts`` (rows ``sample|type``, columns genes, int64) and ``meta`` (same
    rows; ``sample``, ``cell_type``, ``n_cells``). The sums are streamed over row chunks
    of ``adata.layers[layer]`` (``layer=None``: ``.X``); the whole matrix is never dense.
    Cells without a sample or a label are left out.
    """
    codes, meta = groups_of(adata.obs, label_key, sample_key)
    sums = stream_group_sums(_matrix(adata, layer), codes, len(meta), chunk_rows)["sum"]
    counts = pd.DataFrame(
        np.rint(sums).astype(np.int64), index=meta.index, columns=adata.var_names.astype(str)
    )
    return counts, meta
