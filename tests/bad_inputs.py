"""Inputs of the bad-input battery (issue 34), made in the tests: a small count matrix
with cell types, and writers of broken or old files (a legacy anndata < 0.7 h5ad, a
truncated file, a corrupted index block)."""

from __future__ import annotations

import shutil
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp


def counts(n_cells=300, n_genes=200, n_types=3, seed=0, n_mito=5) -> ad.AnnData:
    """Raw counts with ``n_types`` cell types (each with its own marker genes), a
    ``cell_type`` and a ``batch`` column, and ``n_mito`` mitochondrial genes (MT-)."""
    rng = np.random.default_rng(seed)
    types = rng.integers(0, n_types, n_cells)
    mean = np.full((n_types, n_genes), 1.0)
    for t in range(n_types):
        mean[t, n_mito + 10 * t : n_mito + 10 * t + 10] = 8.0
    mean[:, :n_mito] = 2.0
    depth = rng.lognormal(0, 0.3, n_cells)[:, None]
    X = rng.poisson(mean[types] * depth).astype(np.float32)
    genes = [f"MT-{i}" for i in range(n_mito)] + [f"GENE{i}" for i in range(n_genes - n_mito)]
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical([f"type{t}" for t in types]),
            "batch": pd.Categorical(rng.choice(["b1", "b2"], n_cells)),
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    return ad.AnnData(sp.csr_matrix(X), obs=obs, var=pd.DataFrame(index=genes))


def _records(frame: pd.DataFrame, uns) -> np.ndarray:
    """A DataFrame as anndata < 0.7 wrote it: one compound dataset, the index first,
    categorical columns as int codes with their categories in uns/<col>_categories."""
    fields = [("index", f"S{max(1, frame.index.str.len().max())}")]
    values = [frame.index.astype(str).str.encode("utf-8").to_numpy()]
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            uns[f"{col}_categories"] = np.array([str(c).encode() for c in s.cat.categories])
            fields.append((col, "i1"))
            values.append(s.cat.codes.to_numpy())
        else:
            fields.append((col, s.to_numpy().dtype.str))
            values.append(s.to_numpy())
    out = np.zeros(len(frame), dtype=fields)
    for (name, _), v in zip(fields, values, strict=True):
        out[name] = v
    return out


def write_legacy_h5ad(adata: ad.AnnData, path) -> Path:
    """``adata`` in the h5ad layout of anndata < 0.7 (2019-2020 files such as the PBMC3k
    of the desc 2.1.1 wheel): ``obs`` and ``var`` as compound datasets, ``X`` as a CSR
    group tagged with ``h5sparse_format``/``h5sparse_shape``, no encoding attributes."""
    X = sp.csr_matrix(adata.X)
    with h5py.File(path, "w") as f:
        uns = f.create_group("uns")
        g = f.create_group("X")
        g.attrs["h5sparse_format"] = "csr"
        g.attrs["h5sparse_shape"] = np.array(X.shape)
        g["data"], g["indices"], g["indptr"] = X.data, X.indices, X.indptr
        f["obs"] = _records(adata.obs, uns)
        f["var"] = _records(adata.var, uns)
    return Path(path)


def truncate(src, dst, fraction=0.5) -> Path:
    """A copy of ``src`` cut to ``fraction`` of its bytes (an interrupted download)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def corrupt_indices(src, dst, start=100, stop=200, value=None) -> Path:
    """A copy of an h5ad whose ``X/indices`` hold ``value`` (default: the number of genes,
    one past the last column) in ``[start, stop)``: a corrupted index block."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        n_cols = int(f["X"].attrs["shape"][1])
        f["X/indices"][start:stop] = n_cols if value is None else value
    return Path(dst)
