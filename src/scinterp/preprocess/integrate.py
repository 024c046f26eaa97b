"""Batch integration of the PCA and its scIB metrics.

With a ``batch_key``, the normalize rule replaces the representation that neighbours,
UMAP and Leiden run on by an integrated one, ``obsm["X_integrated"]`` (:func:`integrate`);
the unintegrated PCA stays in ``obsm["X_pca"]``, and counts and the normalized ``.X``
are never corrected: models and branches read them as before. The method is recorded in
``uns["scinterp"]["integration"]``.

Methods (``normalize.integration``):

* ``scaled_harmony`` (default): a PCA of the HVGs with each gene's per-batch mean and sd
  removed (:func:`batch_centred_pca`, sparse, never dense in cells x genes), then
  Harmony on it (:func:`scaled_harmony`).
* ``harmony``: Harmony (Korsunsky et al. 2019) on the PCA, through ``harmonypy``.
* ``vae``: the latent of a batch-conditioned VAE with a linear decoder, each unit a gene
  program (:func:`vae_latent`).
* ``none``: the PCA itself.

The metrics (:func:`integration_metrics`) are those of the scIB benchmark (Luecken et
al. 2022), computed with ``scib-metrics`` (the JAX re-implementation by the scIB and
scvi-tools authors): it has every metric the benchmark needs (silhouette batch, iLISI,
graph connectivity, PCR comparison; cell-type silhouette, cLISI, isolated labels) as
plain functions of arrays and a kNN result, installs from PyPI without R or a compiler
(jax + jaxlib, ~380 MB, ~7 s import on 2 shared cores), and is maintained (0.5.10: 0.5.7
calls ``np.in1d``, gone in numpy 2.4). Its kBET (``kbet_per_label``) is left out: a
diffusion map per label component took 68 s on the demo's 2,611 cells (12 s with JAX
compiled), ten times all other metrics together; PCR comparison is the batch score
scIB offers in its place. The original ``scib`` package was not used: its kBET and LISI need R or a
C++ build, and it pins old scanpy and numpy releases. Only ARI and NMI are computed here
(scikit-learn), of the Leiden clusters at the workflow's own resolution (the clusters a
user gets), not scib-metrics' resolution-optimised clustering. The overall score is
scIB's: 0.4 x the mean batch-removal score + 0.6 x the mean bio-conservation score.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError

log = logging.getLogger(__name__)

INTEGRATION_METHODS = ("scaled_harmony", "harmony", "vae", "none")
# the vae path: latent units (linear gene programs) of the batch-conditioned VAE
VAE_UNITS = 10
VAE_LOADINGS_KEY = "vae_programs"
INTEGRATED_KEY = "X_integrated"
# harmonypy's default clusters, round(cells / 30), is below 2 under this many cells
HARMONY_MIN_CELLS = 75
UNINTEGRATED = "unintegrated"
# The metrics run on a label-stratified sample of at most this many cells: the
# silhouettes are quadratic in the cells.
METRICS_MAX_CELLS = 20_000
# Neighbours of the metrics' kNN graph: scib-metrics' Benchmarker uses 90 for LISI and
# 15 for graph connectivity.
_KNN_LISI, _KNN_GRAPH = 90, 15
BATCH_METRICS = ("silhouette_batch", "ilisi", "graph_connectivity", "pcr_batch")
BIO_METRICS = ("leiden_ari", "leiden_nmi", "silhouette_label", "clisi", "isolated_labels")


def harmony(X: np.ndarray, batches, seed: int = 0, n_jobs: int | None = None) -> np.ndarray:
    """Harmony-corrected embedding of ``X`` (cells x components) for ``batches``.

    ``harmonypy`` with its defaults (theta 2, up to 10 iterations); same shape as ``X``,
    float32. Below ``HARMONY_MIN_CELLS`` cells harmonypy's default number of clusters
    (cells / 30) is 0 or 1 and it raises; there it gets 2 clusters (1 for fewer than 4 cells).
    """
    import harmonypy

    X = np.ascontiguousarray(X, dtype=np.float64)
    meta = pd.DataFrame({"batch": pd.Categorical(np.asarray(batches).astype(str))})
    extra = {}
    if X.shape[0] < HARMONY_MIN_CELLS:
        extra["nclust"] = 2 if X.shape[0] >= 4 else 1
    ho = harmonypy.run_harmony(
        X, meta, ["batch"], verbose=False, random_state=seed, ncores=int(n_jobs or 0), **extra
    )
    Z = np.asarray(ho.Z_corr)
    if Z.shape != X.shape:  # harmonypy < 2 returned components x cells
        Z = Z.T
    return Z.astype(np.float32)


def _randomized_svd(op, k: int, seed: int, n_oversamples: int = 10, n_iter: int = 7):
    """Halko et al.'s randomized SVD of a LinearOperator (scikit-learn's
    ``randomized_svd`` rejects one): ``n_iter`` power iterations, each two block products
    of ``k + n_oversamples`` columns, normalised by an LU factorisation as scikit-learn's
    ``randomized_range_finder`` does (``power_iteration_normalizer="auto"``), and one QR
    of the final range. The normaliser changes the basis, not the subspace
    (``A (A^T A)^n_iter Omega``): a QR of the cells x 40 block at every step found the
    same components (float tolerance) at 12x the cost of an LU, 14 of the PCA's 20 CPU
    seconds on a 100k-cell atlas (benchmarks/LOG.md, integration)."""
    from scipy import linalg

    rng = np.random.default_rng(seed)
    n, g = op.shape
    Q = rng.standard_normal((g, k + n_oversamples)).astype(op.dtype)
    for _ in range(n_iter):
        Q = linalg.lu(op.matmat(Q), permute_l=True, check_finite=False)[0]
        Q = linalg.lu(op.rmatmat(Q), permute_l=True, check_finite=False)[0]
    Q = linalg.qr(op.matmat(Q), mode="economic", check_finite=False)[0]
    B = op.rmatmat(Q).T  # (k + p) x genes
    ub, s, vt = np.linalg.svd(B, full_matrices=False)
    return (Q @ ub)[:, :k], s[:k], vt[:k]


def _batch_indicator(codes: np.ndarray, n_levels: int):
    """Batches x cells 0/1 matrix (CSR): ``ind @ X`` sums each batch's rows."""
    from scipy import sparse

    n = len(codes)
    return sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_levels, n))


def _batch_location_scale(
    X, codes: np.ndarray, n_levels: int, scale: bool = True, overwrite: bool = False
):
    """Each batch's gene means (batches x genes) of ``X`` (cells x genes, CSR or dense;
    ``codes`` the batch index of each cell) and, with ``scale``, ``X`` with each batch's
    genes brought to the pooled within-batch sd: ComBat's location/scale model without
    its empirical-Bayes shrinkage (factor clipped to [0.1, 10]), on a copy of the stored
    values only (zeros stay zeros; the index arrays are shared), or, with ``overwrite``
    (a float32 CSR ``X`` the caller owns), in ``X``'s own values. Returns (the scaled
    ``X``, float32 for float32 input, else float64; its per-batch means, same dtype):
    ``X - means[codes]`` is the batch-centred matrix, never formed here.

    Sparse input is scaled in row chunks (`scinterp.preprocess._rows`): the
    whole-matrix form (a cell index, a gathered factor and a product per stored value, in
    int64 / float64) took 32 bytes per stored value at once, 0.34 GB over the normalize
    job's peak at 100k cells (benchmarks/LOG.md, integration at 1M)."""
    from scipy import sparse

    from scinterp.preprocess import _rows

    dtype = np.float32 if X.dtype == np.float32 else np.float64
    if sparse.issparse(X):
        X = sparse.csr_matrix(X, dtype=dtype)
    else:
        X = np.asarray(X, dtype=dtype)
    n = X.shape[0]
    n_b = np.bincount(codes, minlength=n_levels).astype(np.float64)
    ind = _batch_indicator(codes, n_levels)
    means = np.asarray((ind @ X).toarray() if sparse.issparse(X) else ind @ X)
    means = means / n_b[:, None]  # batches x genes
    if scale:
        if sparse.issparse(X):  # the squares share X's index arrays: 4 bytes a value
            X2 = sparse.csr_matrix((X.data * X.data, X.indices, X.indptr), shape=X.shape)
            sq = (ind @ X2).toarray()
            del X2
        else:
            sq = ind @ (X * X)
        sq = np.asarray(sq) / n_b[:, None]
        var_b = np.maximum(sq - means**2, 0.0)
        pooled = np.sqrt((var_b * n_b[:, None]).sum(0) / n)
        sd_b = np.sqrt(var_b)
        factor = np.where(sd_b > 1e-8, pooled / np.maximum(sd_b, 1e-8), 1.0)
        factor = np.clip(factor, 0.1, 10.0)
        if sparse.issparse(X):
            own = overwrite and X.data.dtype == dtype
            data = X.data if own else np.empty_like(X.data, dtype=dtype)
            for r0, r1, s, e in _rows.row_chunks(X.indptr, _rows.CHUNK_NNZ):
                rows = np.repeat(codes[r0:r1], np.diff(X.indptr[r0 : r1 + 1]))
                data[s:e] = X.data[s:e] * factor[rows, X.indices[s:e]]
            X = sparse.csr_matrix((data, X.indices, X.indptr), shape=X.shape)
        else:
            X = (X * factor[codes]).astype(dtype)
        means = means * factor
    return X, means.astype(dtype)


def batch_centred_pca(
    X,
    batches,
    n_comps: int,
    seed: int = 0,
    scale: bool = False,
    solver: str = "randomized",
    overwrite_x: bool = False,
) -> np.ndarray:
    """PCA scores (cells x ``n_comps``, float32) of ``X`` (cells x genes, CSR or dense)
    with each gene's mean in each batch removed: a gene-wise batch factor (a shift of
    every gene in log space) is gone before the components are chosen.

    The centred matrix is never formed: the solver (``"randomized"``, the default:
    :func:`_randomized_svd`; ``"arpack"``: ``scipy.sparse.linalg.svds``) works on a
    ``LinearOperator`` that applies ``X`` and subtracts the per-batch means (batches x
    genes) on the fly, as scanpy's sparse PCA does with the global mean; memory is ``X``
    plus a few dense vectors (with ``overwrite_x``, a float32 CSR ``X`` the caller no longer
    needs is scaled in its own values, no copy). Deterministic for a seed (start vector,
    svd_flip).
    """
    from scipy.sparse.linalg import LinearOperator, svds
    from sklearn.utils.extmath import svd_flip

    codes, levels = pd.factorize(pd.Series(np.asarray(batches)).astype(str))
    n, g = X.shape
    X, means = _batch_location_scale(X, codes, len(levels), scale=scale, overwrite=overwrite_x)
    dtype = X.dtype
    ind = _batch_indicator(codes, len(levels))

    def matvec(v):
        v = np.asarray(v, dtype=dtype)
        return X @ v - (means @ v)[codes]

    def rmatvec(u):
        u = np.asarray(u, dtype=dtype)
        if u.ndim == 1:
            per_batch = np.bincount(codes, weights=u, minlength=len(levels))
        else:
            per_batch = np.asarray(ind @ u)
        return X.T @ u - means.T @ per_batch.astype(dtype)

    op = LinearOperator(
        (n, g), matvec=matvec, rmatvec=rmatvec, matmat=matvec, rmatmat=rmatvec, dtype=dtype
    )
    k = int(min(n_comps, min(n, g) - 1))
    if solver == "randomized":
        u, s, vt = _randomized_svd(op, k, seed)
    else:
        v0 = np.random.default_rng(seed).uniform(-1, 1, min(n, g))
        u, s, vt = svds(op, k=k, solver="arpack", v0=v0)
    order = np.argsort(s)[::-1]
    u, s, vt = u[:, order], s[order], vt[order]
    u, vt = svd_flip(u, vt, u_based_decision=False)
    return (u * s).astype(np.float32)


def scaled_harmony(
    X, batches, n_comps: int, seed: int = 0, n_jobs: int | None = None, overwrite_x=False
) -> np.ndarray:
    """Harmony (:func:`harmony`) on :func:`batch_centred_pca` of ``X`` (the log-normalized
    HVGs) with ``scale=True``: each gene's per-batch mean and sd are removed before the
    PCA (ComBat's location/scale model, without its empirical-Bayes shrinkage), which
    takes out a gene-wise batch factor; Harmony then removes what is left (shifts from
    unequal composition, effects that differ by cell type). A gene-wise factor on every
    gene alone leaves Harmony's clusters batch-pure, so that Harmony on the plain PCA
    corrects nothing (``harmonypy`` 2.1.0 returns the PCA unchanged; 0.0.10 moves it by
    0.04 of a unit). ``overwrite_x``: see :func:`batch_centred_pca`."""
    Z = batch_centred_pca(X, batches, n_comps, seed=seed, scale=True, overwrite_x=overwrite_x)
    return harmony(Z, batches, seed=seed, n_jobs=n_jobs)


class _BatchCentred:
    """A :class:`scinterp.data.cells.CellDataset` whose ``x`` has its batch's gene means
    (``means``, batches x genes) subtracted, minibatch by minibatch: the batch-centred
    matrix of :func:`_batch_location_scale` without forming it (it is dense)."""

    def __init__(self, ds, means: np.ndarray):
        import torch

        self.ds, self.means = ds, torch.from_numpy(np.ascontiguousarray(means))

    def __len__(self) -> int:
        return len(self.ds)

    def __getitems__(self, positions):
        out = self.ds.__getitems__(positions)
        out["x"] = out["x"] - self.means[out["batch"]]
        return out

    def __getitem__(self, position: int):
        return {k: v[0] for k, v in self.__getitems__([position]).items()}


def vae_latent(
    adata,
    batches,
    seed: int = 0,
    n_units: int = VAE_UNITS,
    max_epochs=None,
):
    """The latent means of a batch-conditioned VAE of the HVG counts, and its programs.

    :class:`scinterp.models.programs.ProgramVAE` with ``n_units`` unconstrained units and a
    linear decoder (LDVAE: each unit is a gene program whose decoder weights are its
    loadings), negative-binomial counts with the cell's total counts as size factor, the
    batch as a decoder covariate (a per-batch log-rate shift of every gene), trained by
    :func:`scinterp.train.loop.fit` (90/10 split, early stopping, deterministic on CPU for
    a seed). The encoder reads the log-normalized HVGs with each batch's gene means
    removed and its genes scaled to the pooled within-batch sd (:func:`_batch_location_scale`,
    the default's PCA input): a gene-wise batch factor never reaches the latent, which the
    decoder's batch term alone left in it (pbmc_pseudobatches overall scIB 0.704 -> 0.751,
    benchmarks/LOG.md, integration). Returns (cells x units latent means, float32; genes x
    units loadings over ``adata.var``, zero outside the HVGs).
    """
    import tempfile

    import torch
    from scipy import sparse

    from scinterp.data.cells import CellDataset
    from scinterp.models.programs import ProgramVAE
    from scinterp.train.loop import auto_max_epochs, fit, seed_everything

    if "counts" not in adata.layers:
        raise ValueError("the vae integration needs layers['counts'] (raw counts)")
    hv = (
        adata.var["highly_variable"].to_numpy(dtype=bool)
        if "highly_variable" in adata.var.columns
        else np.ones(adata.n_vars, dtype=bool)
    )
    cols = np.flatnonzero(hv)
    counts = sparse.csr_matrix(adata.layers["counts"])
    library = np.asarray(counts.sum(1)).ravel().astype(np.float32)
    C = counts[:, cols].astype(np.float32)
    codes, levels = pd.factorize(pd.Series(np.asarray(batches)).astype(str))
    X = sparse.csr_matrix(hvg_matrix(adata), dtype=np.float32)
    X, means = _batch_location_scale(X, codes, len(levels), scale=True)
    n = adata.n_obs
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, n // 10)
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    def dataset(rows):
        cells = CellDataset(X, counts=C, batch=codes, library=library, indices=rows)
        return _BatchCentred(cells, means)

    seed_everything(seed)
    model = ProgramVAE(
        len(cols),
        torch.zeros(len(cols), 0, dtype=torch.bool),
        n_denovo=n_units,
        n_batches=len(levels),
        masked=False,
        l1_denovo=0.0,
    )
    with tempfile.TemporaryDirectory(prefix="scinterp_vae_") as tmp:
        fit(
            model,
            dataset(train),
            dataset(val),
            outdir=tmp,
            max_epochs=int(max_epochs or auto_max_epochs(len(train))),
            batch_size=128,
            lr=1e-3,
            patience=10,
            seed=seed,
            device="cpu",
            progress=False,
        )
    model.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, n, 4096):
            block = X[start : start + 4096].toarray() - means[codes[start : start + 4096]]
            parts.append(model.encode(torch.from_numpy(block))[0].numpy())
    loadings = np.zeros((adata.n_vars, n_units), dtype=np.float32)
    loadings[cols] = model.decoder_weights().detach().numpy()
    return np.concatenate(parts).astype(np.float32), loadings


def hvg_matrix(adata):
    """The log-normalized ``.X`` restricted to ``var["highly_variable"]`` (all genes
    without that column), the matrix the workflow's PCA runs on."""
    if "highly_variable" in adata.var.columns:
        return adata.X[:, adata.var["highly_variable"].to_numpy(dtype=bool)]
    return adata.X


def confounding_warnings(obs: pd.DataFrame, batch_key: str, keys: dict) -> list[str]:
    """Warnings for levels of ``keys`` (role -> obs column, e.g. ``{"label": "cell_type"}``)
    that occur in one batch only, when there are at least two batches: integration
    may merge such a level into another one (over-correction), or the batch effect
    cannot be told from it."""
    batches = obs[batch_key].astype(str)
    if batches.nunique() < 2:
        return []
    out = []
    for role, key in keys.items():
        if key is None or key not in obs.columns:
            continue
        values = obs[key]
        seen = values.notna() & ~values.astype(str).isin(["nan", "None", ""])
        per_level = pd.crosstab(values[seen].astype(str), batches[seen])
        for level, row in per_level.iterrows():
            present = row.index[row > 0].tolist()
            if len(present) == 1:
                out.append(
                    f"{role} '{level}' (obs['{key}'], {int(row.sum())} cells) occurs only in "
                    f"batch '{present[0]}' of obs['{batch_key}']: batch and {role} are "
                    "confounded; integration may merge it into another type "
                    "(see isolated_labels in normalize/integration.tsv)"
                )
    return out


def integrate(
    adata,
    batch_key: str | None,
    method: str = "scaled_harmony",
    *,
    seed: int = 0,
    label_key: str | None = None,
    condition_key: str | None = None,
    dataset: str | None = None,
    n_jobs: int | None = None,
) -> None:
    """Integrate ``obsm["X_pca"]`` over ``obs[batch_key]`` into ``obsm["X_integrated"]``.

    In place. Without a ``batch_key`` (or with one batch only) nothing is added and the
    embedding stays on the PCA. Confounded labels or conditions (:func:`confounding_warnings`)
    are logged and listed in ``uns["scinterp"]["integration"]["warnings"]`` (one a line).
    """
    if batch_key is None:
        return
    if method not in INTEGRATION_METHODS:
        raise ScinterpInputError(
            f"unknown normalize.integration '{method}'.",
            dataset=dataset,
            fix=f"use one of {', '.join(INTEGRATION_METHODS)}.",
        )
    if "X_pca" not in adata.obsm:
        raise ValueError("integrate needs obsm['X_pca'] (run the PCA first)")
    n_batches = adata.obs[batch_key].nunique()
    warnings_ = confounding_warnings(
        adata.obs, batch_key, {"label": label_key, "condition": condition_key}
    )
    for w in warnings_:
        log.warning("integration: %s", w)
    if n_batches < 2:
        method = "none"
        log.info("integration: obs['%s'] has one batch; nothing to integrate.", batch_key)
    X = np.asarray(adata.obsm["X_pca"])
    if method == "harmony":
        Z = harmony(X, adata.obs[batch_key].to_numpy(), seed=seed, n_jobs=n_jobs)
    elif method == "scaled_harmony":
        # hvg_matrix copies the HVG columns (a column mask always copies): scaled in place
        owned = "highly_variable" in adata.var.columns
        Z = scaled_harmony(
            hvg_matrix(adata), adata.obs[batch_key].to_numpy(), X.shape[1], seed, n_jobs, owned
        )
    elif method == "vae":
        Z, loadings = vae_latent(adata, adata.obs[batch_key].to_numpy(), seed=seed)
        adata.varm[VAE_LOADINGS_KEY] = loadings
    else:
        Z = X.astype(np.float32, copy=True)
    adata.obsm[INTEGRATED_KEY] = Z
    info = dict(adata.uns.get("scinterp", {}))
    info["integration"] = {
        "method": method,
        "batch_key": batch_key,
        "n_batches": int(n_batches),
        # one string, a warning a line: an empty list does not round-trip through h5ad
        "warnings": "\n".join(warnings_),
    }
    adata.uns["scinterp"] = info
    log.info("integration: %s over obs['%s'] (%d batches)", method, batch_key, n_batches)


# ------------------------------------------------------------------ metrics
def _knn(X: np.ndarray, n_neighbors: int, seed: int):
    """scib-metrics' kNN result (self excluded) of ``X``: exact (scikit-learn) for
    small data, pynndescent above scanpy's exact limit."""
    from scib_metrics.nearest_neighbors import NeighborsResults
    from sklearn.neighbors import NearestNeighbors

    k = int(min(n_neighbors, X.shape[0] - 1))
    if X.shape[0] >= 8192:
        from scib_metrics.nearest_neighbors import pynndescent

        return pynndescent(X, n_neighbors=k, random_state=seed)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(X)
    dist, idx = nn.kneighbors(X)
    return NeighborsResults(indices=idx[:, 1:], distances=dist[:, 1:])


def leiden_clusters(X: np.ndarray, n_neighbors: int, resolution: float, seed: int) -> np.ndarray:
    """Leiden clusters of ``X`` as the workflow computes them (scanpy's kNN graph and
    igraph Leiden with the normalize section's settings)."""
    import anndata as ad
    import scanpy as sc

    from scinterp.preprocess.neighbors import knn_graph

    a = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(X.shape[0])]))
    a.obsm["X"] = np.asarray(X, dtype=np.float32)
    knn_graph(a, int(min(n_neighbors, X.shape[0] - 1)), seed, use_rep="X")
    sc.tl.leiden(
        a,
        resolution=resolution,
        flavor="igraph",
        n_iterations=2,
        directed=False,
        random_state=seed,
    )
    return a.obs["leiden"].astype(str).to_numpy()


def embedding_metrics(
    X: np.ndarray,
    batches,
    labels=None,
    *,
    X_pre: np.ndarray | None = None,
    clusters=None,
    seed: int = 0,
) -> dict[str, float]:
    """scIB metrics of one embedding ``X`` (cells x dims), all in [0, 1] but ARI.

    Batch removal: ``ilisi`` and ``pcr_batch`` (variance explained by batch in ``X``
    relative to ``X_pre``, 0 when ``X_pre`` is None or ``X`` itself), and with
    ``labels``: ``silhouette_batch``, ``graph_connectivity``.
    Bio conservation, with ``labels``: ``silhouette_label``, ``clisi``,
    ``isolated_labels`` and, with ``clusters`` (Leiden of ``X``), ``leiden_ari`` and
    ``leiden_nmi``; ``leiden_batch_ari`` (ARI of clusters vs batch, lower is better) is
    reported beside them, outside the scores.
    """
    import scib_metrics
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    X = np.asarray(X, dtype=np.float32)
    batches = np.asarray(batches).astype(str)
    knn = _knn(X, _KNN_LISI, seed)
    out: dict[str, float] = {}
    out["ilisi"] = float(scib_metrics.ilisi_knn(knn, batches))
    if X_pre is None or X_pre is X:
        out["pcr_batch"] = 0.0
    else:
        out["pcr_batch"] = float(
            scib_metrics.pcr_comparison(
                np.asarray(X_pre, dtype=np.float32), X, batches, categorical=True
            )
        )
    if clusters is not None:
        out["leiden_batch_ari"] = float(adjusted_rand_score(batches, clusters))
    if labels is None:
        return out
    labels = np.asarray(labels).astype(str)
    out["silhouette_batch"] = float(scib_metrics.silhouette_batch(X, labels, batches))
    out["graph_connectivity"] = float(
        scib_metrics.graph_connectivity(
            knn.subset_neighbors(min(_KNN_GRAPH, knn.n_neighbors)), labels
        )
    )
    out["silhouette_label"] = float(scib_metrics.silhouette_label(X, labels))
    out["clisi"] = float(scib_metrics.clisi_knn(knn, labels))
    out["isolated_labels"] = float(scib_metrics.isolated_labels(X, labels, batches))
    if clusters is not None:
        out["leiden_ari"] = float(adjusted_rand_score(labels, clusters))
        out["leiden_nmi"] = float(normalized_mutual_info_score(labels, clusters))
    return out


def aggregate(metrics: dict[str, float]) -> dict[str, float]:
    """scIB's aggregate scores: ``batch_correction`` (mean of the batch-removal metrics
    present), ``bio_conservation`` (mean of the bio metrics present) and, when both are
    there, ``overall`` = 0.4 batch + 0.6 bio."""
    out = {}
    batch = [metrics[m] for m in BATCH_METRICS if m in metrics]
    bio = [metrics[m] for m in BIO_METRICS if m in metrics]
    if batch:
        out["batch_correction"] = float(np.mean(batch))
    if bio:
        out["bio_conservation"] = float(np.mean(bio))
    if batch and bio:
        out["overall"] = 0.4 * out["batch_correction"] + 0.6 * out["bio_conservation"]
    return out


def metrics_sample(n_obs: int, labels, max_cells: int, seed: int) -> np.ndarray:
    """Sorted rows of at most ``max_cells`` cells, stratified by ``labels`` (all rows
    when there are fewer cells)."""
    if n_obs <= max_cells:
        return np.arange(n_obs)
    from scinterp.data.cells import sample_cells

    strata = np.zeros(n_obs, dtype=str) if labels is None else np.asarray(labels).astype(str)
    return np.sort(sample_cells(strata, max_cells, seed))


def integration_metrics(
    obs: pd.DataFrame,
    X_pca: np.ndarray,
    X_integrated: np.ndarray | None,
    batch_key: str,
    label_key: str | None,
    method: str,
    params: dict | None = None,
    *,
    max_cells: int = METRICS_MAX_CELLS,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The table of normalize/integration.tsv: scIB metrics of the unintegrated PCA
    (``X_pca``) and, unless ``method`` is ``none``, of the integrated representation,
    on a label-stratified sample of at most ``max_cells`` cells with a label.

    Leiden clusters (for ARI, NMI and the batch ARI) are computed on each representation
    with the normalize section's ``n_neighbors``, ``leiden_resolution`` and ``seed``
    (``params``). Without ``label_key`` only the label-free batch metrics (iLISI, PCR)
    and the batch ARI are computed: Leiden clusters of the integrated graph as labels
    would score it against itself.

    Returns the table (``method, metric, value``) and the sampled rows of ``obs``.
    """
    from scinterp.preprocess.defaults import NORMALIZE_DEFAULTS

    p = {**NORMALIZE_DEFAULTS, **(params or {})}
    seed = int(p["seed"])
    if label_key is None:
        rows_known = np.arange(len(obs))
        strata = None
    else:
        rows_known = np.flatnonzero(obs[label_key].notna().to_numpy())
        strata = obs[label_key].astype(str).to_numpy()[rows_known]
    rows = rows_known[metrics_sample(len(rows_known), strata, max_cells, seed)]
    batches = obs[batch_key].astype(str).to_numpy()[rows]
    labels = None if label_key is None else obs[label_key].astype(str).to_numpy()[rows]
    X_pre = np.asarray(X_pca)[rows]
    reps = {UNINTEGRATED: X_pre}
    if method != "none" and X_integrated is not None:
        reps[method] = np.asarray(X_integrated)[rows]
    records = []
    for name, X in reps.items():
        clusters = leiden_clusters(X, int(p["n_neighbors"]), float(p["leiden_resolution"]), seed)
        m = embedding_metrics(
            X,
            batches,
            labels,
            X_pre=None if name == UNINTEGRATED else X_pre,
            clusters=clusters,
            seed=seed,
        )
        m.update(aggregate(m))
        records += [(name, k, v) for k, v in m.items()]
        log.info("integration metrics, %s: %s", name, {k: round(v, 3) for k, v in m.items()})
    return pd.DataFrame(records, columns=["method", "metric", "value"]), rows


def umap_of(X: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    """scanpy's UMAP of ``X`` (its own kNN graph), cells x 2."""
    import anndata as ad
    import scanpy as sc

    from scinterp.preprocess.neighbors import knn_graph

    a = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(X.shape[0])]))
    a.obsm["X"] = np.asarray(X, dtype=np.float32)
    knn_graph(a, int(min(n_neighbors, X.shape[0] - 1)), seed, use_rep="X")
    sc.tl.umap(a, random_state=seed)
    return np.asarray(a.obsm["X_umap"])


def plot_integration(obs, umap_before, umap_after, batch_key, label_key, method, outpath):
    """UMAP before and after integration (rows), coloured by batch and by label
    (columns), saved atomically. ``umap_*`` are cells x 2 for the rows of ``obs``."""
    import matplotlib
    from matplotlib.figure import Figure

    from scinterp.io import write_figure_atomic

    keys = [batch_key] + ([label_key] if label_key else [])
    fig = Figure(figsize=(5.0 * len(keys), 9.0))
    axes = np.atleast_2d(fig.subplots(2, len(keys)))
    if axes.shape != (2, len(keys)):
        axes = axes.reshape(2, len(keys))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(obs))  # no batch drawn on top of the other
    for r, (title, U) in enumerate(((UNINTEGRATED, umap_before), (method, umap_after))):
        for c, key in enumerate(keys):
            ax = axes[r, c]
            values = obs[key].astype(str).to_numpy()
            levels = sorted(set(values))
            cmap = matplotlib.colormaps["tab20"]
            colour = {v: cmap(i % 20) for i, v in enumerate(levels)}
            ax.scatter(
                U[order, 0],
                U[order, 1],
                s=3,
                c=[colour[v] for v in values[order]],
                linewidths=0,
                rasterized=True,
            )
            ax.set_title(f"{title}: {key}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            if len(levels) <= 20:
                for v in levels:
                    ax.scatter([], [], s=12, color=colour[v], label=v)
                ax.legend(fontsize=6, markerscale=1, frameon=False, loc="best")
    fig.tight_layout()
    write_figure_atomic(fig, outpath)


def unmixed_warning(table: pd.DataFrame, method: str, margin: float = 0.05) -> list[str]:
    """[a warning] when the integrated iLISI is within ``margin`` of the unintegrated one:
    the method left the batches apart (Harmony does so when the batch effect outweighs
    the cell types, e.g. gene-wise factors on every gene), else []."""
    if method in ("none", UNINTEGRATED):
        return []
    ilisi = table[table["metric"] == "ilisi"].set_index("method")["value"]
    if method not in ilisi.index or ilisi[method] > ilisi[UNINTEGRATED] + margin:
        return []
    msg = (
        f"{method} did not mix the batches (iLISI {ilisi[UNINTEGRATED]:.2f} unintegrated, "
        f"{ilisi[method]:.2f} after): Leiden clusters may still follow the batch; check "
        "leiden_batch_ari in normalize/integration.tsv"
    )
    log.warning("integration: %s", msg)
    return [msg]


def _read_embedding(path):
    """obs, obsm and uns of an h5ad without its matrices (an atlas' normalized.h5ad)."""
    import h5py
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        obs = read_elem(f["obs"])
        obsm = {k: read_elem(f["obsm"][k]) for k in f["obsm"]}
        uns = read_elem(f["uns"]) if "uns" in f else {}
    return obs, obsm, uns


def integration_metrics_to_file(
    normalized, out_tsv, out_png, out_warnings, params, batch_key, label_key
) -> pd.DataFrame:
    """Rule integration_metrics: :func:`integration_metrics` of ``normalized`` (the
    normalize rule's h5ad, read without its matrices) to ``out_tsv``, the UMAPs before
    and after (:func:`plot_integration`, on the same sample) to ``out_png``, and the
    confounding warnings recorded by :func:`integrate` to ``out_warnings``, one a line
    (empty when there are none). Returns the table."""
    from scinterp.io import atomic_path
    from scinterp.preprocess.defaults import NORMALIZE_DEFAULTS

    p = {**NORMALIZE_DEFAULTS, **(params or {})}
    obs, obsm, uns = _read_embedding(normalized)
    info = dict(uns.get("scinterp", {}).get("integration", {}))
    method = str(info.get("method", "none"))
    table, rows = integration_metrics(
        obs, obsm["X_pca"], obsm.get(INTEGRATED_KEY), batch_key, label_key, method, p
    )
    with atomic_path(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.4f")
    before = umap_of(np.asarray(obsm["X_pca"])[rows], int(p["n_neighbors"]), int(p["seed"]))
    after = np.asarray(obsm["X_umap"])[rows]
    label = label_key or uns.get("scinterp", {}).get("label_key")
    plot_integration(
        obs.iloc[rows],
        before,
        after,
        batch_key,
        label if label in obs.columns else None,
        method,
        out_png,
    )
    warned = [w for w in str(info.get("warnings", "")).splitlines() if w.strip()]
    warned += unmixed_warning(table, method)
    with atomic_path(out_warnings) as tmp:
        with open(tmp, "w") as fh:
            fh.write("".join(f"{w}\n" for w in warned))
    return table
