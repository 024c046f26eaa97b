"""Genes of each program with their oriented decoder weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ._options import DEFAULT_OPTIONS


def program_loadings(
    weights: np.ndarray,
    genes: Sequence[str],
    programs: Sequence[str],
    n_prior: int,
    method: str,
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    directions: np.ndarray | None = None,
    used_threshold: float = DEFAULT_OPTIONS.used_threshold,
    n_top_denovo: int = DEFAULT_OPTIONS.n_top_denovo,
) -> pd.DataFrame:
    """Genes of each program with their (oriented) decoder weights.

    Parameters
    ----------
    weights
        Genes x units decoder weights.
    genes, programs
        Row and column names of ``weights``.
    n_prior
        The first ``n_prior`` units are prior programs (gene sets), the rest de novo.
    method
        Model name, written to the ``method`` column.
    gene_sets
        Prior program -> its genes (rows listed for prior programs); default: the genes
        with non-zero weight.
    directions
        Per-unit sign (see :func:`latent_directions`); weights are multiplied by it so a
        positive weight means the gene goes up with the program's activity.
    used_threshold
        A gene is ``used`` when ``|weight| >= used_threshold * max |weight|`` of its program.
    n_top_denovo
        De novo programs: genes listed (largest ``|weight|`` first).

    Returns
    -------
    pandas.DataFrame
        ``program, gene, weight, kind, used, rank, method`` (rank 1 = largest |weight|
        within the program).
    """
    w = np.asarray(weights, dtype=np.float64)
    if directions is not None:
        w = w * np.asarray(directions, dtype=np.float64)[None, :]
    genes = np.asarray([str(g) for g in genes], dtype=object)
    gene_pos = {g: i for i, g in enumerate(genes)}
    frames = []
    for k, name in enumerate(programs):
        col = w[:, k]
        top = np.max(np.abs(col)) if col.size else 0.0
        if k < n_prior:
            kind = "prior"
            if gene_sets is not None and name in gene_sets:
                idx = np.asarray(
                    [gene_pos[g] for g in gene_sets[name] if g in gene_pos], dtype=np.int64
                )
            else:
                idx = np.flatnonzero(col != 0)
        else:
            kind = "denovo"
            idx = np.argsort(-np.abs(col), kind="stable")[:n_top_denovo]
        if idx.size == 0:
            continue
        vals = col[idx]
        order = np.argsort(-np.abs(vals), kind="stable")
        idx, vals = idx[order], vals[order]
        used = np.abs(vals) >= used_threshold * top if top > 0 else np.zeros(idx.size, dtype=bool)
        frames.append(
            pd.DataFrame(
                {
                    "program": name,
                    "gene": genes[idx],
                    "weight": vals,
                    "kind": kind,
                    "used": used,
                    "rank": np.arange(1, idx.size + 1),
                    "method": method,
                }
            )
        )
    cols = ["program", "gene", "weight", "kind", "used", "rank", "method"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
