"""Gene regulatory networks from a trained model: TF -> target edge tables.

Edge sources, each its own ``method`` in ``grn/edges.tsv``:

* ``deepsem``: the model's learned TF x gene adjacency (intrinsic), ``|A[tf, target]|``;
* ``integrated_gradients``: integrated gradients of every target's prediction (the model's
  TF -> gene predictor, ``GRNSEM.forward``) with respect to the TF inputs, mean
  ``|attribution|`` over cells: globally against the mean cell, and within each cell type
  against that type's mean cell;
* ``consensus``: rank aggregation of the sources above (equal weights by default).

Edge confidence from seeds: with further ensemble members (the same ``grn_sem`` trained at
other seeds, rule ``train_member``) every global edge gets a ``confidence``, the share of
members (the main model included) whose own network of that method puts the edge in its
top ``confidence_top`` (:func:`edge_confidence`). The members give only global networks
(one adjacency, one integrated-gradients pass over the same cells): the per-cell-type
networks, the expensive part, stay the main model's.

``attention`` is not produced: the transformer of this package attends over gene-set
tokens, not over gene tokens, so it holds no TF -> target attention.

Integrated gradients for all targets at once: for a model whose output ``f(x)`` has one
column per gene, the attribution of target ``g`` to TF ``t`` in a cell is
``(x_t - b_t) * sum_k w_k d f_g / d x_t (b + a_k (x - b))`` (Gauss-Legendre nodes ``a_k``,
weights ``w_k``, as Captum's default). The derivatives with respect to the few TF inputs
come from forward-mode differentiation, one JVP per TF (batched: the cells are stacked
once per TF, each copy with its own tangent), so the cost grows with the number of TFs, not of targets: thousands of per-target Captum
calls become ``n_steps`` batched passes. A model with a ``path_tf_jacobian`` method
(:class:`scinterp.models.grn.GRNSEM`) gives those derivatives, summed along the path,
analytically instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "EDGE_COLUMNS",
    "adjacency_edges",
    "consensus_edges",
    "edge_confidence",
    "edges_from_matrix",
    "ensemble_edges",
    "ensemble_networks",
    "infer_grn",
    "integrated_gradients_grn",
    "model_genes",
    "plot_network",
    "top_regulators",
]

log = logging.getLogger("scinterp")

EDGE_COLUMNS = ["tf", "target", "score", "method", "cell_type"]
#: the columns of grn/edges.tsv (infer_grn): confidence is NaN where not computed
TABLE_COLUMNS = [*EDGE_COLUMNS, "confidence"]
GLOBAL = "all"
_JVP_ELEMENTS = 1 << 23  # cells x genes values per JVP pass (x the model's width in memory)
_GRAD_ELEMENTS = 1 << 26  # TFs x cells x genes gradient values per batch (256 MB)


# ------------------------------------------------------------------------ edge tables
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


# ----------------------------------------------------------------- integrated gradients
def _gauss_legendre(n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in [0, 1] and weights summing to 1 (Captum's ``gausslegendre``)."""
    x, w = np.polynomial.legendre.leggauss(n_steps)
    return 0.5 * (1.0 + x), 0.5 * w


def _forward_mode_path(model, base, delta, eye, alphas, weights):
    """``sum_k w_k d model(base + a_k delta) / d x_t`` for every TF ``t`` (one tangent per
    row of ``eye``), TFs x cells x genes, by forward-mode JVPs: the TFs in chunks, each
    JVP over (chunk x cells) stacked copies of the batch, one tangent per copy (faster
    than vmap, memory bounded)."""
    from torch.func import jvp

    n_tfs, (n_cells, n_genes) = len(eye), delta.shape
    grad = delta.new_zeros(n_tfs, n_cells, n_genes)
    chunk = max(1, min(n_tfs, _JVP_ELEMENTS // (n_cells * n_genes)))
    for a, w in zip(alphas, weights, strict=True):
        point = base + float(a) * delta
        for lo in range(0, n_tfs, chunk):
            tangents = eye[lo : lo + chunk]
            k = len(tangents)
            stacked = point.unsqueeze(0).expand(k, -1, -1).reshape(-1, n_genes)
            tangent = tangents.unsqueeze(1).expand(-1, n_cells, -1).reshape(-1, n_genes)
            _, derivative = jvp(model, (stacked,), (tangent,))
            grad[lo : lo + k] += float(w) * derivative.reshape(k, n_cells, n_genes)
    return grad


def integrated_gradients_grn(
    model,
    X,
    tf_index: Sequence[int],
    *,
    groups: Sequence | np.ndarray | None = None,
    baseline: str | np.ndarray = "mean",
    n_steps: int = 16,
    batch_size: int = 128,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Mean |integrated gradients| of every output gene with respect to every TF input.

    Parameters
    ----------
    model
        ``torch.nn.Module`` whose ``forward(x)`` maps cells x genes to cells x genes (a
        prediction of each gene, e.g. :class:`scinterp.models.grn.GRNSEM`).
    X
        Cells x genes input (dense or sparse), in the units the model takes.
    tf_index
        Column of each TF among the inputs.
    groups
        Optional label per cell; means are also taken within each label.
    baseline
        ``"mean"`` (mean input of the cells), ``"zeros"``, or a vector of one value per
        gene.
    n_steps
        Gauss-Legendre integration steps.
    batch_size
        Cells per pass; memory grows with ``batch_size * n_tfs * n_genes``, so fewer are
        taken when that product would exceed 2**26.
    device
        Torch device.

    Returns
    -------
    dict
        ``"all"`` and each group label -> n_tfs x n_genes mean |attribution| (float64).
    """
    import torch

    from scinterp.data.cells import take_rows

    tf_index = np.asarray(tf_index, dtype=np.int64)
    n_cells, n_genes = X.shape
    if isinstance(baseline, str):
        if baseline == "mean":
            base = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        elif baseline == "zeros":
            base = np.zeros(n_genes)
        else:
            raise ValueError(f"baseline must be 'mean', 'zeros' or a vector, got {baseline!r}")
    else:
        base = np.asarray(baseline, dtype=np.float64).ravel()
        if base.shape != (n_genes,):
            raise ValueError(f"baseline has {base.size} values for {n_genes} genes")
    labels = None if groups is None else np.asarray(groups).astype(str)
    names = [GLOBAL] + ([] if labels is None else sorted(set(labels.tolist())))
    sums = {name: np.zeros((len(tf_index), n_genes)) for name in names}
    counts = dict.fromkeys(names, 0)

    alphas, weights = _gauss_legendre(n_steps)
    model = model.to(device).eval()
    base_t = torch.as_tensor(base, dtype=torch.float32, device=device)
    tf_t = torch.as_tensor(tf_index, device=device)
    eye = torch.zeros(len(tf_index), n_genes, device=device)
    eye[torch.arange(len(tf_index)), tf_t] = 1.0  # one tangent direction per TF input

    # a model that knows its own Jacobian (GRNSEM) spares the forward-mode passes
    analytic = hasattr(model, "path_tf_jacobian") and np.array_equal(
        np.asarray(getattr(model, "tf_index", torch.empty(0)).cpu()), tf_index
    )
    # the TFs x cells x genes gradients of a batch stay within _GRAD_ELEMENTS values
    batch_size = max(1, min(batch_size, _GRAD_ELEMENTS // (len(tf_index) * n_genes)))
    rows_all = np.arange(n_cells)
    for start in range(0, n_cells, batch_size):
        rows = rows_all[start : start + batch_size]
        x = torch.from_numpy(take_rows(X, rows)).to(device)
        delta = x - base_t
        with torch.no_grad():
            if analytic:  # the whole path at once
                grad = model.path_tf_jacobian(base_t.expand_as(x), x, alphas, weights)
            else:
                grad = _forward_mode_path(model, base_t, delta, eye, alphas, weights)
        # attribution = (x_t - b_t) * integrated gradient; |.|, summed over cells
        attr = (grad * delta[:, tf_t].T.unsqueeze(-1)).abs()
        block = attr.sum(dim=1).double().cpu().numpy()
        sums[GLOBAL] += block
        counts[GLOBAL] += len(rows)
        if labels is not None:
            lab = labels[rows]
            for name in np.unique(lab):
                mask = torch.as_tensor(lab == name, device=device)
                sums[name] += attr[:, mask].sum(dim=1).double().cpu().numpy()
                counts[name] += int(mask.sum())
    return {name: sums[name] / max(counts[name], 1) for name in names}


# --------------------------------------------------------------------------- consensus
def consensus_edges(
    networks: Sequence[pd.DataFrame],
    tfs: Sequence[str],
    genes: Sequence[str],
    cell_type: str = GLOBAL,
    weights: Sequence[float] | None = None,
    max_edges: int | None = None,
) -> pd.DataFrame:
    """Rank aggregation of several networks over the same TF x gene universe.

    Each network's scores become percentile ranks in (0, 1] over the whole universe
    (unlisted candidate edges share the lowest rank), and the consensus score is their
    weighted mean (Borda count), so no method dominates through its scale.

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
    for net, w in zip(networks, weights, strict=True):
        total += w * _percentile_ranks(net, index)
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


# ------------------------------------------------------------------------ summaries
def top_regulators(edges: pd.DataFrame, n_edges: int = 200, n_top: int = 10) -> pd.DataFrame:
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


def plot_network(
    edges: pd.DataFrame,
    n_edges: int = 60,
    reference: pd.DataFrame | None = None,
    title: str = "",
    seed: int = 0,
):
    """Draw the strongest edges of one network with networkx.

    Parameters
    ----------
    edges
        ``tf, target, score`` of one network, best first.
    n_edges
        Edges drawn.
    reference
        Optional true edges (``tf, target``): drawn solid green, others dashed grey.
    title
        Figure title.
    seed
        Layout seed (deterministic drawing).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    top = edges.sort_values("score", ascending=False, kind="mergesort").head(n_edges)
    graph = nx.DiGraph()
    for tf, target, score in top[["tf", "target", "score"]].itertuples(index=False):
        graph.add_edge(tf, target, weight=float(score))
    true = set()
    if reference is not None:
        true = set(zip(reference["tf"].astype(str), reference["target"].astype(str), strict=True))
    tfs = set(top["tf"])
    fig, ax = plt.subplots(figsize=(9, 8))
    if graph.number_of_edges():
        pos = nx.spring_layout(graph, seed=seed, k=1.5 / np.sqrt(graph.number_of_nodes()))
        hit = [e for e in graph.edges if e in true]
        miss = [e for e in graph.edges if e not in true]
        nx.draw_networkx_nodes(
            graph,
            pos,
            nodelist=[n for n in graph if n in tfs],
            node_color="#d95f02",
            node_size=420,
            ax=ax,
        )
        nx.draw_networkx_nodes(
            graph,
            pos,
            nodelist=[n for n in graph if n not in tfs],
            node_color="#7570b3",
            node_size=90,
            ax=ax,
        )
        nx.draw_networkx_labels(
            graph, pos, labels={n: n for n in graph if n in tfs}, font_size=8, ax=ax
        )
        style = {"arrows": True, "arrowsize": 8, "ax": ax, "node_size": 200}
        if reference is not None:
            nx.draw_networkx_edges(graph, pos, edgelist=hit, edge_color="#1b9e77", **style)
            nx.draw_networkx_edges(
                graph, pos, edgelist=miss, edge_color="#999999", style="dashed", **style
            )
        else:
            nx.draw_networkx_edges(graph, pos, edge_color="#555555", **style)
    subtitle = f"top {len(top)} edges; orange: TFs"
    if reference is not None:
        subtitle += f"; green: in the reference ({sum(e in true for e in graph.edges)})"
    ax.set_title(f"{title}\n{subtitle}" if title else subtitle, fontsize=10)
    ax.set_axis_off()
    return fig


def mean_by_group(matrices: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mean of per-group matrices (helper for summaries)."""
    return np.mean(np.stack(list(matrices.values())), axis=0)


# ------------------------------------------------------------------ the whole branch
def model_genes(adata, meta: Mapping, dataset: str | None = None, path=None):
    """The trained GRN model's genes and TFs, and their columns in ``adata``.

    Parameters
    ----------
    adata
        The normalized data the model was trained on.
    meta
        The model's metadata (``features``, ``tfs``; see :func:`scinterp.train.prepare`).
    dataset, path
        For the error message.

    Returns
    -------
    (genes, tfs, columns)
        Gene names in the model's input order, TF names, and the column of each gene in
        ``adata``.
    """
    from scinterp.errors import ScinterpInputError

    genes, tfs = [str(g) for g in meta["features"]], [str(t) for t in meta["tfs"]]
    pos = {str(g): i for i, g in enumerate(adata.var_names)}
    missing = [g for g in genes if g not in pos]
    if missing:
        raise ScinterpInputError(
            f"{len(missing)} genes of the trained grn_sem model are not in the data "
            f"(e.g. {', '.join(missing[:5])}).",
            dataset=dataset,
            path=path,
            fix="retrain the model on this normalized.h5ad (delete models/grn_sem/).",
        )
    return genes, tfs, np.asarray([pos[g] for g in genes])


def _load_grn(model_dir, device: str, dataset: str | None):
    """A saved grn_sem and its metadata; a state dict of another architecture is an
    input error that says to retrain."""
    from scinterp.models.registry import load_model

    try:
        return load_model(model_dir, device)
    except RuntimeError as err:  # state dict of another architecture
        from scinterp.errors import ScinterpInputError

        raise ScinterpInputError(
            f"the saved grn_sem does not fit the current model class ({err}).",
            dataset=dataset,
            path=model_dir,
            fix=f"retrain it: delete {model_dir} and rerun (snakemake does not notice "
            "changes to the model's code).",
        ) from err


def _global_networks(model, attribution, tfs, genes, consensus) -> dict[str, pd.DataFrame]:
    """A model's global networks, every candidate edge: deepsem, integrated_gradients
    (from ``attribution``, TFs x genes) and their consensus."""
    nets = {
        "deepsem": adjacency_edges(model.adjacency().detach().cpu().numpy(), tfs, genes),
        "integrated_gradients": edges_from_matrix(
            attribution, tfs, genes, "integrated_gradients", GLOBAL
        ),
    }
    fused = [nets[m] for m in consensus if m in nets]
    return {"consensus": consensus_edges(fused, tfs, genes, GLOBAL), **nets}


def ensemble_networks(
    members: Sequence[Mapping[str, pd.DataFrame]],
    tfs: Sequence[str],
    genes: Sequence[str],
    *,
    confidence_top: int = 100,
    ensemble_score: bool = True,
    max_edges: int | None = None,
) -> list[pd.DataFrame]:
    """The global networks of a seed ensemble, with their ``confidence`` column.

    Parameters
    ----------
    members
        Per member (the main model first), method -> its global network over every
        candidate edge (``tf, target, score, method, cell_type``).
    tfs, genes
        The universe.
    confidence_top, ensemble_score, max_edges
        As in :func:`infer_grn`.

    Returns
    -------
    list of pandas.DataFrame
        One network per method of the main model, best first, :data:`TABLE_COLUMNS`
        (``confidence`` NaN with one member).
    """
    k = max(1, min(int(confidence_top), len(tfs) * (len(genes) - 1) // 4))
    if len(members) > 1:
        log.info(
            "grn_sem ensemble of %d: confidence from each member's top %d edges", len(members), k
        )
    tables = []
    for method, main in members[0].items():
        nets = [m[method] for m in members]
        net = main
        if len(members) > 1 and ensemble_score:
            net = ensemble_edges(nets, tfs, genes, method)
        net = net if max_edges is None else net.head(max_edges)
        confidence = np.nan
        if len(members) > 1:
            index = pd.MultiIndex.from_frame(net[["tf", "target"]])
            confidence = edge_confidence(nets, k).reindex(index).to_numpy()
        tables.append(net.assign(confidence=confidence)[TABLE_COLUMNS])
    return tables


def infer_grn(
    adata,
    model_dir,
    *,
    member_dirs: Sequence = (),
    confidence_top: int = 100,
    ensemble_score: bool = True,
    label_key: str | None = None,
    per_cell_type: bool = True,
    min_cells_per_type: int = 30,
    max_cells: int | None = 2000,
    n_steps: int = 16,
    baseline: str = "mean",
    consensus: Sequence[str] = ("deepsem", "integrated_gradients"),
    max_edges: int | None = None,
    max_edges_cell_type: int | None = None,
    batch_size: int = 128,
    seed: int = 0,
    device: str = "cpu",
    dataset: str | None = None,
) -> pd.DataFrame:
    """Edge tables of every source, globally and per cell type, from a trained ``grn_sem``.

    Parameters
    ----------
    adata
        Normalized data (log-normalized ``X``) the model was trained on.
    model_dir
        ``results/{dataset}/models/grn_sem`` (``model.pt`` + ``model.json``).
    member_dirs
        Folders of further ensemble members (the same model trained at other seeds, e.g.
        ``models/grn_sem/members/seed1``). Each gives global networks only (its adjacency
        and one integrated-gradients pass over the same cells and baseline).
    confidence_top
        With members, the ``confidence`` of a global edge is the share of members (the
        main model included) whose own network of the same method has it among its top
        ``confidence_top`` edges (capped at a quarter of the TF x gene candidates, so
        that a small network keeps a meaningful confidence); every listed global edge
        gets one. NaN without members and in the per-cell-type networks.
    ensemble_score
        With members, the global networks' ``score`` is the ensemble's: the mean over
        members of each member's percentile rank of the edge in that method's network
        (for the consensus: of its consensus, itself a mean percentile rank), in (0, 1].
        False keeps the main model's scores (and ranking). The default (True) is the
        choice of the GRN benchmark (benchmarks/README.md, "Edge confidence from
        seeds"): the ensemble's mean was more accurate than the main model's score on
        every dataset, its worst one included (sergio_mouse_small, consensus AUPRC ratio
        2.08 -> 2.30 with 2 members, 2.47 with 3), and its top edges steadier across
        seeds.
    label_key
        obs column of cell types; with ``per_cell_type`` each type with at least
        ``min_cells_per_type`` attributed cells gets its own networks (the main model's).
    max_cells
        Cells attributed (a stratified sample; None for all). Each cell is attributed
        twice: against the mean of all sampled cells (global networks) and against the
        mean of its own cell type (that type's networks).
    n_steps, baseline, batch_size
        Integrated gradients (see :func:`integrated_gradients_grn`).
    consensus
        Sources fused into the consensus (``deepsem``, ``integrated_gradients``). In a
        cell type the global ``deepsem`` adjacency is fused with that type's attributions.
    max_edges, max_edges_cell_type
        Edges kept per global / per cell-type network (None keeps every candidate); the
        confidence is computed on the members' whole networks first.
    seed
        Seed of the cell sample.
    device
        Torch device.

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS` (``confidence`` NaN where not computed); global networks
        (``cell_type == "all"``) first, each network best first.
    """
    import scipy.sparse as sp

    from scinterp.data.cells import sample_cells

    model, meta = _load_grn(model_dir, device, dataset)
    genes, tfs, columns = model_genes(adata, meta, dataset, model_dir)
    X = adata.X
    X = sp.csr_matrix(X)[:, columns] if sp.issparse(X) else np.asarray(X)[:, columns]
    labels = None
    if per_cell_type and label_key is not None and label_key in adata.obs:
        labels = adata.obs[label_key].astype(str).to_numpy()
    rows = sample_cells(labels if labels is not None else np.zeros(adata.n_obs), max_cells, seed)
    groups = None
    if labels is not None:
        groups = labels[rows]
        names, sizes = np.unique(groups, return_counts=True)
        small = names[sizes < min_cells_per_type]
        if len(small):
            log.info(
                "no cell-type network for %s (fewer than %d attributed cells)",
                ", ".join(small),
                min_cells_per_type,
            )
        groups = np.where(np.isin(groups, small), "", groups)  # "": counted in "all" only
    tf_index = [genes.index(t) for t in tfs]
    log.info("grn_sem: %d TFs x %d genes, attributed on %d cells", len(tfs), len(genes), len(rows))
    ig_options = {"n_steps": n_steps, "batch_size": batch_size, "device": device}
    ig = integrated_gradients_grn(model, X[rows], tf_index, baseline=baseline, **ig_options)
    # Within a cell type the baseline is that type's mean cell, so that the edges score
    # regulation inside the type, not the type's difference from the other types.
    for name in [] if groups is None else sorted(set(groups) - {""}):
        cells = rows[groups == name]
        base = np.asarray(X[cells].mean(axis=0)).ravel() if baseline == "mean" else baseline
        ig.update(
            {
                name: integrated_gradients_grn(
                    model, X[cells], tf_index, baseline=base, **ig_options
                )[GLOBAL]
            }
        )
    # The global networks of the main model and of each further member.
    members = [_global_networks(model, ig[GLOBAL], tfs, genes, consensus)]
    for member_dir in member_dirs:
        member, member_meta = _load_grn(member_dir, device, dataset)
        if [str(g) for g in member_meta["features"]] != genes or [
            str(t) for t in member_meta["tfs"]
        ] != tfs:
            from scinterp.errors import ScinterpInputError

            raise ScinterpInputError(
                "an ensemble member of grn_sem was trained on other genes or TFs than the "
                "main model.",
                dataset=dataset,
                path=member_dir,
                fix=f"retrain it on this normalized.h5ad: delete {member_dir} and rerun.",
            )
        attribution = integrated_gradients_grn(
            member, X[rows], tf_index, baseline=baseline, **ig_options
        )[GLOBAL]
        members.append(_global_networks(member, attribution, tfs, genes, consensus))
    tables = ensemble_networks(
        members,
        tfs,
        genes,
        confidence_top=confidence_top,
        ensemble_score=ensemble_score,
        max_edges=max_edges,
    )
    # The cell-type networks (the main model's): one global adjacency, fused with each
    # type's attributions.
    deepsem = members[0]["deepsem"]
    for cell_type, attribution in ig.items():
        if cell_type == GLOBAL:
            continue
        limit = max_edges_cell_type
        net = edges_from_matrix(attribution, tfs, genes, "integrated_gradients", cell_type)
        nets = {"deepsem": deepsem, "integrated_gradients": net}
        fused = [nets[m] for m in consensus if m in nets]
        tables.append(consensus_edges(fused, tfs, genes, cell_type, max_edges=limit))
        tables.append(net if limit is None else net.head(limit))
    out = pd.concat(tables, ignore_index=True)
    if "confidence" not in out:
        out["confidence"] = np.nan
    return out[TABLE_COLUMNS]
