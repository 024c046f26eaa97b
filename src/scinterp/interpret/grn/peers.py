"""The networks our GRN is compared with in every run: the peers a user would pick instead.

* ``grnboost2``: GRNBoost2 (arboreto), gradient-boosted trees per target
  (:func:`scinterp.interpret.grn.grnboost.run_grnboost2`).
* ``regdiffusion``: RegDiffusion (Zhu & Slonim 2024, ``regdiffusion`` on PyPI), a
  diffusion model with a learned adjacency matrix; torch, CPU or GPU.
* ``spearman``: the absolute Spearman correlation of each TF with each gene, the trivial
  floor every learned network should clear.
* ``within_type_spearman``: the same correlation within each cell type (the labels, or
  the Leiden clusters of an unlabelled dataset), averaged over the types: the floor where
  cell types confound co-variation (:func:`within_type_spearman_network`).

Each peer is a function ``(X, genes, tfs, *, seed, threads, device, labels) -> DataFrame``
of ``tf, target, score`` (best first, no self-edges) on the same cells x genes matrix and
TF list as our ``grn_sem`` model (``labels``: each cell's type, which only the
within-type peer reads); :data:`PEERS` maps the config's names to them and
:func:`run_peer` adds the ``method`` and ``cell_type`` columns the edge tables carry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "MIN_CELLS_PER_TYPE",
    "PEERS",
    "run_peer",
    "run_regdiffusion",
    "spearman_network",
    "within_type_spearman_network",
]

log = logging.getLogger("scinterp")


def _edge_frame(scores: np.ndarray, tfs: Sequence[str], genes: Sequence[str]) -> pd.DataFrame:
    """TFs x genes scores -> ``tf, target, score`` rows, best first, self-edges dropped;
    ties broken by name so the order is reproducible. Scores are rounded to 12 decimals:
    a symmetric score (the correlation of two TFs, both ways) differs in its last bits
    with the summation order (dense or sparse input, the chunk size, the BLAS), and
    rounded it ties, so the order is the same whatever computed it."""
    tf_names = np.repeat(np.asarray(tfs, dtype=object), len(genes))
    targets = np.tile(np.asarray(genes, dtype=object), len(tfs))
    edges = pd.DataFrame({"tf": tf_names, "target": targets, "score": scores.ravel()})
    edges = edges[(edges["tf"] != edges["target"]) & np.isfinite(edges["score"])]
    edges = edges.assign(score=edges["score"].round(12))
    edges = edges.sort_values(["score", "tf", "target"], ascending=[False, True, True])
    return edges.reset_index(drop=True)


def _columns(genes: Sequence[str], tfs: Sequence[str]) -> np.ndarray:
    pos = {g: i for i, g in enumerate(genes)}
    missing = [t for t in tfs if t not in pos]
    if missing:
        raise ValueError(f"TFs not among the genes: {', '.join(missing[:5])}")
    return np.asarray([pos[t] for t in tfs])


def _spearman(X, tf_cols: np.ndarray, n_genes: int, chunk: int) -> np.ndarray:
    """TFs x genes Spearman correlation over the rows of ``X`` (ties averaged; a gene
    constant over the rows scores 0)."""
    from scipy.stats import rankdata

    def standardized_ranks(cols: np.ndarray) -> np.ndarray:
        block = X[:, cols]
        block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        r = rankdata(block, axis=0, method="average").astype(np.float64)
        r -= r.mean(axis=0)
        norm = np.linalg.norm(r, axis=0)
        return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)

    z_tf = standardized_ranks(tf_cols)
    scores = np.empty((len(tf_cols), n_genes))
    for start in range(0, n_genes, chunk):
        cols = np.arange(start, min(start + chunk, n_genes))
        scores[:, cols] = z_tf.T @ standardized_ranks(cols)
    return scores


def spearman_network(
    X, genes: Sequence[str], tfs: Sequence[str], *, chunk: int = 512, **_
) -> pd.DataFrame:
    """Absolute Spearman correlation of every TF with every gene (over the cells).

    Ranks are taken per gene with ties averaged (the zeros of a sparse gene share one
    rank); a gene constant over the cells correlates with nothing (score 0).

    Parameters
    ----------
    X
        Cells x genes expression (dense or sparse).
    genes, tfs
        Column names of ``X`` and the candidate regulators among them.
    chunk
        Genes ranked at a time (memory: cells x chunk floats).
    """
    genes = [str(g) for g in genes]
    tf_cols = _columns(genes, [str(t) for t in tfs])
    return _edge_frame(np.abs(_spearman(X, tf_cols, len(genes), chunk)), tfs, genes)


#: cells a cell type needs for its own correlation in :func:`within_type_spearman_network`
#: (as ``branches.grn.min_cells_per_type``: at 30 cells a null |rho| is about 0.18)
MIN_CELLS_PER_TYPE = 30


def within_type_spearman_network(
    X,
    genes: Sequence[str],
    tfs: Sequence[str],
    *,
    labels=None,
    min_cells_per_type: int = MIN_CELLS_PER_TYPE,
    combine: str = "mean",
    chunk: int = 512,
    **_,
) -> pd.DataFrame:
    """Absolute Spearman correlation of every TF with every gene within each cell type.

    ``rho_T(tf, g)`` is the Spearman correlation over the cells of type ``T`` (as
    :func:`spearman_network`: ties averaged, a gene constant within the type scores 0
    there); only types with at least ``min_cells_per_type`` cells count. The score is
    ``|sum_T n_T rho_T| / sum_T n_T`` (``combine="mean"``, the default: the pooled
    within-type correlation, types weighted by their cells ``n_T``) or
    ``max_T |rho_T|`` (``combine="max"``: the best type's). Where cell types shift TFs
    and unregulated genes together, the correlation over all cells ranks those shared
    shifts; within a type only co-variation between cells of one kind is left. The mean is
    the default because the best type's score lets every null pair pick its noisiest type:
    on the GRN benchmark it was below the mean on every network (benchmarks/README.md,
    "The within-type correlation floor": sergio_ecoli 12.7 against 36.6, sergio_panel 6.1
    against 7.4, gp_confounded 19.8 against 99.9).

    Parameters
    ----------
    X
        Cells x genes expression (dense or sparse).
    genes, tfs
        Column names of ``X`` and the candidate regulators among them.
    labels
        Each cell's type (the dataset's labels or its Leiden clusters).
    min_cells_per_type
        Types with fewer cells are left out; with no type that large, the correlation over
        all cells is used (:func:`spearman_network`) and a warning logged.
    combine
        ``"mean"`` (cell-weighted mean of the signed per-type correlations, absolute) or
        ``"max"`` (the largest per-type absolute correlation).
    chunk
        Genes ranked at a time.
    """
    if labels is None:
        raise ValueError(
            "within_type_spearman needs each cell's type (labels: the label_key column or "
            "the Leiden clusters)"
        )
    if combine not in ("mean", "max"):
        raise ValueError(f"combine must be 'mean' or 'max', not {combine!r}")
    labels = np.asarray(labels).astype(str)
    if labels.shape != (X.shape[0],):
        raise ValueError(f"labels: {labels.shape[0]} values for {X.shape[0]} cells")
    genes = [str(g) for g in genes]
    tf_cols = _columns(genes, [str(t) for t in tfs])
    names, sizes = np.unique(labels, return_counts=True)
    used = names[sizes >= min_cells_per_type]
    if len(used) == 0:
        log.warning(
            "within_type_spearman: no cell type has %d cells; the correlation over all "
            "cells is used",
            min_cells_per_type,
        )
        return spearman_network(X, genes, tfs, chunk=chunk)
    if len(used) < len(names):
        log.info(
            "within_type_spearman: %d of %d types with fewer than %d cells left out",
            len(names) - len(used),
            len(names),
            min_cells_per_type,
        )
    X = X.tocsr() if hasattr(X, "tocsr") else X
    scores = np.zeros((len(tf_cols), len(genes)))
    n_cells = 0
    for name in used:
        rows = np.flatnonzero(labels == name)
        rho = _spearman(X[rows], tf_cols, len(genes), chunk)
        if combine == "max":
            np.maximum(scores, np.abs(rho), out=scores)
        else:
            scores += len(rows) * rho
            n_cells += len(rows)
    if combine == "mean":
        scores = np.abs(scores) / n_cells
    return _edge_frame(scores, tfs, genes)


def run_regdiffusion(
    X,
    genes: Sequence[str],
    tfs: Sequence[str],
    *,
    seed: int = 0,
    device: str = "cpu",
    n_steps: int = 1000,
    **_,
) -> pd.DataFrame:
    """RegDiffusion's adjacency, TF rows, as ``tf, target, score`` (score = |weight|).

    RegDiffusion (``regdiffusion.RegDiffusionTrainer``, its defaults: 1,000 training
    steps, batch 128) learns a genes x genes adjacency from log-normalized expression;
    ``adj[i, j]`` is the weight of gene i on gene j. Genes constant over the cells, which
    RegDiffusion refuses, are left out (they get no edge).
    """
    import functools
    from unittest import mock

    import regdiffusion as rd
    import regdiffusion.trainer as rd_trainer
    from scipy import sparse

    genes = [str(g) for g in genes]
    tf_set = {str(t) for t in tfs}
    X = sparse.csr_matrix(X, dtype=np.float32) if sparse.issparse(X) else np.asarray(X)
    if sparse.issparse(X):
        mean = np.asarray(X.mean(axis=0)).ravel()
        sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
        var = sq - mean**2
    else:
        var = X.var(axis=0)
    keep = np.flatnonzero(var > 0)
    if len(keep) < len(genes):
        log.info("RegDiffusion: %d constant genes left out", len(genes) - len(keep))
    kept = [genes[i] for i in keep]
    X = X[:, keep]
    trainer = rd.RegDiffusionTrainer(X, device=str(device), n_steps=n_steps, seed=seed)
    # its per-step progress bar would fill the job's log
    with mock.patch.object(rd_trainer, "tqdm", functools.partial(rd_trainer.tqdm, disable=True)):
        trainer.train()
    log.info("RegDiffusion: %d steps in %d s", n_steps, trainer.total_time_cost)
    adj = np.asarray(trainer.get_adj(), dtype=np.float32)
    rows = [i for i, g in enumerate(kept) if g in tf_set]
    return _edge_frame(np.abs(adj[rows]), [kept[i] for i in rows], kept)


def _grnboost2(X, genes, tfs, *, seed: int = 0, threads: int = 1, **_) -> pd.DataFrame:
    from scinterp.interpret.grn.grnboost import run_grnboost2

    return run_grnboost2(X, genes, tfs, seed=seed, threads=threads)


PEERS: dict[str, Callable[..., pd.DataFrame]] = {
    "grnboost2": _grnboost2,
    "regdiffusion": run_regdiffusion,
    "spearman": spearman_network,
    "within_type_spearman": within_type_spearman_network,
}


def run_peer(
    name: str,
    X,
    genes: Sequence[str],
    tfs: Sequence[str],
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    labels=None,
    min_cells_per_type: int = MIN_CELLS_PER_TYPE,
    **options,
) -> pd.DataFrame:
    """Run the peer ``name`` of :data:`PEERS`: its edges with ``method`` = ``name`` and
    ``cell_type`` = ``"all"`` (a global network), best first. ``labels`` (each cell's
    type) and ``min_cells_per_type`` go to the peers that read them
    (``within_type_spearman``); further ``options`` go to the peer's function."""
    if name not in PEERS:
        raise ValueError(f"unknown GRN peer {name!r}; known: {', '.join(PEERS)}")
    t0 = time.perf_counter()
    edges = PEERS[name](
        X,
        genes,
        tfs,
        seed=seed,
        threads=threads,
        device=device,
        labels=labels,
        min_cells_per_type=min_cells_per_type,
        **options,
    )
    log.info("%s: %d edges in %.1f s", name, len(edges), time.perf_counter() - t0)
    return edges.assign(method=name, cell_type="all")
