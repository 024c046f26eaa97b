"""Edge tables: matrices to ``tf, target, score`` rows, rank consensus, seed ensembles,
edge confidence and top regulators."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scinterp.interpret.grn._options import DEFAULT_OPTIONS

EDGE_COLUMNS = ["tf", "target", "score", "method", "cell_type"]
#: the columns of grn/edges.tsv (infer_grn): confidence is NaN where not computed
TABLE_COLUMNS = [*EDGE_COLUMNS, "confidence"]
GLOBAL = "all"


def edges_from_matrix(
    scores: np.ndarray,
    tfs: Sequence[str],
    genes: Sequence[str],
    method: str,
    cell_type: str = GLOBAL,
    max_edges: int | None = None,
) -> pd.DataFrame:
    """A TF x gene score matrix as a ranked edge table.

    Parameters
    ----------
    scores
        n_tfs x n_genes, higher is stronger.
    tfs, genes
        Row and column names.
    method, cell_type
        Values of the ``method`` and ``cell_type`` columns.
    max_edges
        Keep at most this many edges (the best); None keeps all.

    Returns
    -------
    pandas.DataFrame
        :data:`EDGE_COLUMNS`, best first (ties by TF, then target name); self-loops and
        non-finite scores left out.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(tfs), len(genes)):
        raise ValueError(f"scores has shape {scores.shape}, expected ({len(tfs)}, {len(genes)})")
    tf_col = np.repeat(np.asarray(tfs, dtype=object), len(genes))
    target_col = np.tile(np.asarray(genes, dtype=object), len(tfs))
    flat = scores.ravel()
    keep = (tf_col != target_col) & np.isfinite(flat)
    frame = pd.DataFrame({"tf": tf_col[keep], "target": target_col[keep], "score": flat[keep]})
    frame = frame.sort_values(
        ["score", "tf", "target"], ascending=[False, True, True], kind="mergesort"
    )
    if max_edges is not None:
        frame = frame.head(max_edges)
    frame["method"] = method
    frame["cell_type"] = cell_type
    return frame.reset_index(drop=True)[EDGE_COLUMNS]


def adjacency_edges(
    adjacency: np.ndarray,
    tfs: Sequence[str],
    genes: Sequence[str],
    max_edges: int | None = None,
) -> pd.DataFrame:
    """``deepsem`` edges: the absolute learned adjacency (n_tfs x n_genes)."""
    return edges_from_matrix(np.abs(adjacency), tfs, genes, "deepsem", GLOBAL, max_edges)


def consensus_edges(
    networks: Sequence[pd.DataFrame],
    tfs: Sequence[str],
    genes: Sequence[str],
    cell_type: str = GLOBAL,
    weights: Sequence[float] | None = None,
    max_edges: int | None = None,
) -> pd.DataFrame:
    """Rank aggregation of several networks over the same TF x gene universe.

    Each network's scores become ranks over the whole universe (unlisted candidate
    edges share the lowest rank), and the consensus score is the weighted mean of
    -log(rank from the top / n candidates) (a weighted rank product), so no method
    dominates through its scale. Chosen over the mean percentile rank (Borda count) on
    the GRN benchmark (benchmarks/README.md, "A log-rank consensus"): the top 100 of
    tens of thousands of candidates lie within 0.3% of each other in percentile, so the
    least stable source decided their order; in log ranks the order at the top is what
    counts. Median AUPRC ratio over the best peer 1.22 -> 1.38 (5 networks), top-100
    overlap between seeds 0.61 -> 0.75 (sergio_mouse_small), 0.58 -> 0.78 (sergio_ecoli)
    with 2 members.

    Parameters
    ----------
    networks
        Edge tables (``tf, target, score``).
    tfs, genes
        The universe.
    cell_type
        Value of the ``cell_type`` column.
    weights
        One weight per network (default equal).
    max_edges
        Keep at most this many edges.

    Returns
    -------
    pandas.DataFrame
        Method ``consensus``, :data:`EDGE_COLUMNS`, best first.
    """
    if not networks:
        raise ValueError("consensus needs at least one network")
    weights = np.ones(len(networks)) if weights is None else np.asarray(weights, dtype=float)
    index = pd.MultiIndex.from_product([list(tfs), list(genes)], names=["tf", "target"])
    total = np.zeros(len(index))
    n = len(index)
    for net, w in zip(networks, weights, strict=True):
        # rank from the top: 1 - pct + 1/n; half a rank of offset keeps the top finite
        total += w * -np.log(1.0 - _percentile_ranks(net, index) + 0.5 / n)
    total /= weights.sum()
    return edges_from_matrix(
        total.reshape(len(tfs), len(genes)), tfs, genes, "consensus", cell_type, max_edges
    )


def _percentile_ranks(net: pd.DataFrame, index: pd.MultiIndex) -> np.ndarray:
    """Percentile ranks in (0, 1] of a network's scores over the universe ``index``
    (unlisted or non-finite candidates share the lowest rank)."""
    s = net.drop_duplicates(["tf", "target"]).set_index(["tf", "target"])["score"]
    s = s.reindex(index).to_numpy(dtype=float)
    s = np.where(np.isfinite(s), s, -np.inf)
    return pd.Series(s).rank(method="average", pct=True).to_numpy()


def ensemble_edges(
    networks: Sequence[pd.DataFrame],
    tfs: Sequence[str],
    genes: Sequence[str],
    method: str,
    cell_type: str = GLOBAL,
    max_edges: int | None = None,
) -> pd.DataFrame:
    """One network from the same method's networks of several ensemble members: the
    mean of the members' percentile ranks (so that no seed dominates through its scale).

    Parameters
    ----------
    networks
        One edge table (``tf, target, score``) per member.
    tfs, genes
        The universe.
    method, cell_type
        Values of the ``method`` and ``cell_type`` columns.
    max_edges
        Keep at most this many edges.

    Returns
    -------
    pandas.DataFrame
        :data:`EDGE_COLUMNS`, best first; ``score`` in (0, 1].
    """
    if not networks:
        raise ValueError("an ensemble needs at least one network")
    index = pd.MultiIndex.from_product([list(tfs), list(genes)], names=["tf", "target"])
    mean = np.mean([_percentile_ranks(net, index) for net in networks], axis=0)
    return edges_from_matrix(
        mean.reshape(len(tfs), len(genes)), tfs, genes, method, cell_type, max_edges
    )


def edge_confidence(networks: Sequence[pd.DataFrame], k: int) -> pd.Series:
    """Share of networks that put each edge in their top ``k``.

    Parameters
    ----------
    networks
        The same method's network from each ensemble member (``tf, target, score``; the
        order of the rows is ignored, ties at the k-th score are broken by TF and target
        name as in :func:`edges_from_matrix`).
    k
        Strongest edges of each network that count as found.

    Returns
    -------
    pandas.Series
        Indexed by ``(tf, target)`` over every edge any network lists; 1.0 where every
        network has it in its top k, 0.0 where none does.
    """
    if not networks:
        raise ValueError("a confidence needs at least one network")
    order = {"ascending": [False, True, True], "kind": "mergesort"}
    listed = pd.concat([net[["tf", "target"]] for net in networks]).drop_duplicates()
    top = pd.concat(
        [net.sort_values(["score", "tf", "target"], **order).head(k) for net in networks]
    )
    counts = top[["tf", "target"]].value_counts()
    universe = pd.MultiIndex.from_frame(listed)
    return counts.reindex(universe, fill_value=0).astype(float) / len(networks)


def top_regulators(
    edges: pd.DataFrame,
    n_edges: int = DEFAULT_OPTIONS.regulator_edges,
    n_top: int = DEFAULT_OPTIONS.n_top_regulators,
) -> pd.DataFrame:
    """Top regulators of each network: TFs ranked by their share of its strongest edges.

    Parameters
    ----------
    edges
        ``tf, target, score, method, cell_type`` (one or more networks).
    n_edges
        Strongest edges of each (method, cell_type) network considered.
    n_top
        TFs kept per network.

    Returns
    -------
    pandas.DataFrame
        ``method, cell_type, rank, tf, n_targets, score, top_targets`` where ``score`` sums
        the TF's edge scores among the network's ``n_edges`` strongest edges.
    """
    rows = []
    for (method, cell_type), net in edges.groupby(["method", "cell_type"], sort=False):
        top = net.sort_values("score", ascending=False, kind="mergesort").head(n_edges)
        agg = top.groupby("tf", sort=True).agg(
            n_targets=("target", "size"),
            score=("score", "sum"),
            top_targets=("target", lambda t: ",".join(list(t)[:5])),
        )
        agg = agg.sort_values(["score", "n_targets"], ascending=False, kind="mergesort")
        for rank, (tf, r) in enumerate(agg.head(n_top).iterrows(), start=1):
            rows.append(
                {
                    "method": method,
                    "cell_type": cell_type,
                    "rank": rank,
                    "tf": tf,
                    "n_targets": int(r["n_targets"]),
                    "score": float(r["score"]),
                    "top_targets": r["top_targets"],
                }
            )
    return pd.DataFrame(
        rows, columns=["method", "cell_type", "rank", "tf", "n_targets", "score", "top_targets"]
    )
