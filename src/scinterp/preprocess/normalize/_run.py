"""The normalize stage: counts -> log-normalized, HVGs, PCA (integrated over batches),
then embedding and clusters; to a file with the graph built after the matrices are written."""

from __future__ import annotations

import logging

import numpy as np

from scinterp.errors import ScinterpInputError
from scinterp.preprocess.defaults import NORMALIZE_DEFAULTS
from scinterp.preprocess.normalize._embed import embed_and_cluster, label_cells
from scinterp.preprocess.normalize._hvg import select_hvgs
from scinterp.preprocess.normalize._lean import _lean, normalize_log1p_inplace

log = logging.getLogger(__name__)


def run_normalize(
    adata,
    params: dict | None,
    batch_key: str | None,
    label_key: str | None,
    dataset: str | None,
    *,
    path=None,
    embed: bool = True,
    condition_key: str | None = None,
    counts_sink=None,
):
    """Normalize, flag HVGs, embed and cluster (in place; also returned).

    Parameters
    ----------
    adata
        QC-filtered AnnData with raw counts in ``.X``.
    params
        The config's ``normalize`` section; missing keys take the schema defaults.
    batch_key, label_key
        obs columns or None. Without ``label_key``, Leiden clusters become
        ``obs["label"]``. With ``batch_key``, the PCA is integrated over it
        (``normalize.integration``, :func:`scinterp.preprocess.integrate.integrate`) into
        ``obsm["X_integrated"]``, which neighbours, UMAP and Leiden then use.
    condition_key
        obs column or None; only checked for confounding with the batch.
    dataset, path
        For messages.
    embed
        Run `embed_and_cluster` (neighbours, UMAP, Leiden) and :func:`label_cells` after
        the PCA; False stops at the PCA (:func:`normalize_to_file` embeds afterwards, on
        the PCA alone).
    counts_sink
        None, or a callable that receives the AnnData with the raw counts in
        ``layers["counts"]`` (after the HVGs are chosen) and stores them (the rule writes
        them to its file): on an atlas-sized matrix (`_lean`) the counts are then
        log-normalized in their own arrays and ``layers["counts"]`` is dropped, so that
        the counts and the normalized values are never in memory together (8 bytes per
        stored value less: 13 GB at 1M cells x 1,580 genes each). Not with
        ``integration: vae``, which trains on the counts.

    Returns
    -------
    AnnData with ``layers["counts"]``, log-normalized ``.X``, ``var["highly_variable"]``,
    ``obsm["X_pca"]``, ``obsm["X_umap"]``, ``obs["leiden"]`` and
    ``uns["scinterp"]["label_key"]`` naming the label column.
    """
    import scanpy as sc
    from scipy import sparse

    from scinterp.io import validate_obs_keys
    from scinterp.preprocess.integrate import integrate

    p = {**NORMALIZE_DEFAULTS, **(params or {})}
    validate_obs_keys(adata, dataset, path, label_key=label_key, batch_key=batch_key)
    if adata.n_obs < 3:
        raise ScinterpInputError(
            f"only {adata.n_obs} cells; normalization needs at least 3 to build a neighbour graph.",
            dataset=dataset,
            path=path,
            fix="relax the qc thresholds or give more cells.",
        )
    seed = int(p["seed"])
    counts = adata.X
    if not (sparse.issparse(counts) and counts.format == "csr"):
        counts = sparse.csr_matrix(counts)
    if counts.dtype != np.float32:  # astype copies even to the same type
        counts = counts.astype(np.float32)
    counts.eliminate_zeros()
    counts.sort_indices()
    adata.X = counts
    adata.layers["counts"] = counts
    # HVGs first, while the counts are the only matrix: seurat_v3 copies each batch's
    # rows, and an atlas should not hold that copy next to the log-normalized one.
    hvgs = select_hvgs(adata, int(p["n_top_genes"]), batch_key, fallback=False)
    # normalize_total false: log1p of the counts themselves, for data without library-size
    # differences (a simulation of expression levels); over a few genes dividing by the
    # total would couple them (one gene's rise lowers all the others)
    target_sum = float(p["target_sum"]) if p["normalize_total"] else None
    if counts_sink is not None and _lean(counts) and p["integration"] != "vae":
        counts_sink(adata)
        del adata.layers["counts"]
        log.info("normalize: counts stored; normalizing them in place")
    else:
        # The log-normalized values get their own data array but share the index arrays
        # with the counts (the same cells x genes are non-zero): 4 bytes less per value.
        adata.X = sparse.csr_matrix(
            (counts.data.copy(), counts.indices, counts.indptr), shape=counts.shape, copy=False
        )
    if _lean(adata.X):
        normalize_log1p_inplace(adata.X, target_sum)
    else:
        if target_sum is not None:
            sc.pp.normalize_total(adata, target_sum=target_sum)
        sc.pp.log1p(adata)
    adata.uns.pop("log1p", None)  # its {'base': None} entry does not round-trip everywhere
    if not hvgs:
        select_hvgs(adata, int(p["n_top_genes"]), batch_key)
    n_hvg = int(adata.var["highly_variable"].sum())
    n_comps = int(min(p["n_pcs"], adata.n_obs - 1, n_hvg - 1))
    if n_comps < 2:
        raise ScinterpInputError(
            f"too few cells ({adata.n_obs}) or HVGs ({n_hvg}) for a PCA.",
            dataset=dataset,
            path=path,
            fix="relax the qc thresholds or raise normalize.n_top_genes.",
        )
    sc.pp.pca(adata, n_comps=n_comps, mask_var="highly_variable", random_state=seed)
    info = dict(adata.uns.get("scinterp", {}))
    if batch_key is not None:
        info["batch_key"] = batch_key
    info["normalize"] = {k: v for k, v in p.items() if v is not None}
    adata.uns["scinterp"] = info
    integrate(
        adata,
        batch_key,
        str(p["integration"]),
        seed=seed,
        label_key=label_key,
        condition_key=condition_key,
        dataset=dataset,
        n_jobs=sc.settings.n_jobs if sc.settings.n_jobs and sc.settings.n_jobs > 0 else None,
    )
    if not embed:
        return adata if label_key is None else label_cells(adata, label_key)
    embed_and_cluster(adata, p)
    return label_cells(adata, label_key)


def normalize_to_file(
    path, out, params: dict | None, batch_key, label_key, dataset, condition_key=None, embed=True
):
    """The normalize rule: :func:`run_normalize` of the filtered counts at ``path``,
    written to ``out``, with the neighbour graph, UMAP, Leiden and labels computed after
    the matrices are on disk, on an AnnData of the PCA alone: an atlas does not hold its
    counts and normalized matrices (17 GB at 1M cells) and the kNN graph and UMAP
    (16 GB) at once; on an atlas-sized matrix the counts are written first and then
    normalized in their own arrays (``run_normalize``'s ``counts_sink``). The file is
    complete or absent (``atomic_path``).

    Returns the embedded AnnData without matrices (obs, obsm, obsp, uns), for figures.
    ``embed=False`` stops after the PCA and integration (the atlas benchmark times the
    embedding on its own).
    """
    import gc

    import anndata as ad
    import h5py
    import pandas as pd
    from anndata.io import write_elem

    from scinterp.io import atomic_path

    stored = []

    def store_counts(a):  # the counts first, alone: see run_normalize's counts_sink
        ad.AnnData(
            obs=pd.DataFrame(index=a.obs_names),
            var=pd.DataFrame(index=a.var_names),
            layers={"counts": a.layers["counts"]},
        ).write_h5ad(tmp)
        stored.append(True)

    with atomic_path(out) as tmp:
        adata = run_normalize(
            ad.read_h5ad(path),
            params,
            batch_key,
            label_key,
            dataset,
            path=path,
            embed=False,
            condition_key=condition_key,
            counts_sink=store_counts,
        )
        small = ad.AnnData(obs=adata.obs.copy(), obsm=dict(adata.obsm), uns=dict(adata.uns))
        small.obs_names = adata.obs_names
        if stored:  # the rest of the AnnData next to the stored counts
            with h5py.File(tmp, "r+") as f:
                for key in ("X", "obs", "var", "obsm", "varm", "obsp", "varp", "uns"):
                    if key in f:
                        del f[key]
                    elem = getattr(adata, key)
                    write_elem(f, key, elem if key in ("X", "obs", "var") else dict(elem))
                for name, layer in adata.layers.items():
                    write_elem(f, f"layers/{name}", layer)
        else:
            adata.write_h5ad(tmp)
        del adata
        gc.collect()
        if not embed:
            return small
        embed_and_cluster(small, params)
        if label_key is None:  # the given labels were set by run_normalize
            label_cells(small, None)
        with h5py.File(tmp, "r+") as f:
            for key in ("obs", "obsm", "obsp", "uns"):
                if key in f:
                    del f[key]
                elem = getattr(small, key)
                write_elem(f, key, elem if key == "obs" else dict(elem))
    return small
