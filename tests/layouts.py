"""Writers of the real-world input layouts the tests read, made from small AnnData objects.

- `write_cellxgene_h5ad`: Ensembl IDs as var names, symbols in ``var["feature_name"]``,
  log-normalized values in ``.X`` and the raw counts in ``.raw.X`` (CELLxGENE's layout).
- `write_arc_h5`: a Cell Ranger ARC ``filtered_feature_bc_matrix.h5`` (features of type
  ``Gene Expression`` and ``Peaks``), written with h5py in Cell Ranger's own layout.
- `write_h5mu`: a MuData file with ``rna`` and ``atac`` modalities (mudata).
"""

from __future__ import annotations

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import sparse


def ensembl_ids(n: int, prefix: str = "ENSG") -> list[str]:
    return [f"{prefix}{i:011d}" for i in range(1, n + 1)]


def write_cellxgene_h5ad(rna: ad.AnnData, path, *, duplicate: tuple[int, int] | None = None):
    """``rna`` (raw counts in .X, symbols as var names) in CELLxGENE's layout.

    ``duplicate=(i, j)``: gene ``j`` gets gene ``i``'s symbol (two IDs, one symbol).
    Returns the written AnnData.
    """
    counts = sparse.csr_matrix(rna.X, dtype=np.float32)
    symbols = np.asarray(rna.var_names, dtype=object).copy()
    if duplicate is not None:
        i, j = duplicate
        symbols[j] = symbols[i]
    var = pd.DataFrame(
        {
            "feature_name": pd.Categorical(symbols),
            "feature_reference": "NCBITaxon:9606",
            "feature_biotype": "gene",
        },
        index=pd.Index(ensembl_ids(rna.n_vars)),
    )
    raw = ad.AnnData(counts, obs=rna.obs.copy(), var=var.copy())
    logged = counts.copy()
    size = np.asarray(logged.sum(axis=1)).ravel()
    logged = sparse.diags(1e4 / np.maximum(size, 1)) @ logged
    logged.data = np.log1p(logged.data)
    out = ad.AnnData(sparse.csr_matrix(logged, dtype=np.float32), obs=rna.obs.copy(), var=var)
    out.raw = raw
    out.write_h5ad(path)
    return out


def write_arc_h5(path, rna: ad.AnnData | None, atac: ad.AnnData | None, genome="GRCh38"):
    """A Cell Ranger ARC feature-barcode matrix of the cells both hold (rna genes then
    peaks, as Cell Ranger orders them). Peak coordinates go in the ``interval`` field.

    Either part may be ``None`` (a gene-expression-only or a peaks-only file).
    """
    parts = [a for a in (rna, atac) if a is not None]
    cells = parts[0].obs_names
    for a in parts[1:]:
        cells = cells.intersection(a.obs_names, sort=False)
    ids, names, types, intervals, blocks = [], [], [], [], []
    if rna is not None:
        ids += [f"ENSG{i:011d}" for i in range(1, rna.n_vars + 1)]
        names += list(map(str, rna.var_names))
        types += ["Gene Expression"] * rna.n_vars
        intervals += [f"chr1:{1000 * i}-{1000 * i + 500}" for i in range(rna.n_vars)]
        blocks.append(sparse.csr_matrix(rna[cells].X))
    if atac is not None:
        peaks = [
            f"{c}:{s}-{e}"
            for c, s, e in zip(atac.var["chrom"], atac.var["start"], atac.var["end"], strict=True)
        ]
        ids += peaks
        names += peaks
        types += ["Peaks"] * atac.n_vars
        intervals += peaks
        blocks.append(sparse.csr_matrix(atac[cells].X))
    # Cell Ranger stores features x barcodes in CSC, i.e. barcodes x features in CSR
    m = sparse.csr_matrix(sparse.hstack(blocks), dtype=np.int32)
    m.sort_indices()
    enc = lambda xs: np.array([str(x).encode() for x in xs])  # noqa: E731 - byte strings
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        g.create_dataset("barcodes", data=enc(cells))
        g.create_dataset("data", data=m.data.astype(np.int32))
        g.create_dataset("indices", data=m.indices.astype(np.int64))
        g.create_dataset("indptr", data=m.indptr.astype(np.int64))
        g.create_dataset("shape", data=np.array([m.shape[1], m.shape[0]], dtype=np.int32))
        feats = g.create_group("features")
        feats.create_dataset("id", data=enc(ids))
        feats.create_dataset("name", data=enc(names))
        feats.create_dataset("feature_type", data=enc(types))
        feats.create_dataset("genome", data=enc([genome] * len(ids)))
        feats.create_dataset("interval", data=enc(intervals))
        feats.create_dataset("_all_tag_keys", data=enc(["genome", "interval"]))
    return path


def write_h5mu(path, rna: ad.AnnData, atac: ad.AnnData | None, *, rna_name="rna", atac_name="atac"):
    """A MuData file of the modalities given (mudata's own writer)."""
    import mudata

    mods = {rna_name: rna}
    if atac is not None:
        mods[atac_name] = atac
    with mudata.set_options(pull_on_update=False):  # mudata 0.4's behaviour, no warning
        mudata.MuData(mods).write_h5mu(path)
    return path
