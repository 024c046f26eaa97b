"""The whole branch: a trained ``grn_sem`` (and its ensemble members) to edge tables."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scinterp.interpret.grn._edges import (
    GLOBAL,
    TABLE_COLUMNS,
    adjacency_edges,
    consensus_edges,
    edge_confidence,
    edges_from_matrix,
    ensemble_edges,
)
from scinterp.interpret.grn._ig import integrated_gradients_grn
from scinterp.interpret.grn._options import DEFAULT_OPTIONS, GrnOptions

log = logging.getLogger("scinterp")


def mean_by_group(matrices: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mean of per-group matrices (helper for summaries)."""
    return np.mean(np.stack(list(matrices.values())), axis=0)


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


def model_rows(normalized, meta: Mapping):
    """The cells of ``normalized.h5ad`` a model was trained on (its ``train_cells``
    sample, :func:`scinterp.data.cells.training_cells`), or None for every cell."""
    sample = meta.get("train_cells")
    if not sample:
        return None
    from scinterp.data.cells import training_cells
    from scinterp.io import read_meta

    info = read_meta(normalized, ("obs", "uns"))
    return training_cells(info["obs"], info["uns"], sample["max_cells"], sample["seed"])


def attributed_cells(labels, n_obs: int, max_cells: int | None, seed: int) -> np.ndarray:
    """The cells :func:`infer_grn` attributes: a sample stratified by ``labels`` (None:
    unstratified) of at most ``max_cells``."""
    from scinterp.data.cells import sample_cells

    return sample_cells(labels if labels is not None else np.zeros(n_obs), max_cells, seed)


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


#: The consensus's sources and weights by default: chosen on the GRN benchmark
#: (benchmarks/README.md, "The consensus"): weighted by the worst and the median network,
#: integrated gradients carry it, the correlation steadies it where cells are few or the
#: network is small, the learned adjacency adds the SEM's view.
CONSENSUS = DEFAULT_OPTIONS.consensus
#: sources the consensus can fuse
SOURCES = ("deepsem", "integrated_gradients", "spearman")
#: the global network of integrated gradients taken within each cell type (issue 33)
WITHIN_TYPE = "integrated_gradients_within_type"


def consensus_weights(consensus: Mapping[str, float] | Sequence[str]) -> dict[str, float]:
    """Source -> weight of the consensus: a mapping as given, a list with equal weights."""
    weights = (
        {str(k): float(v) for k, v in consensus.items()}
        if isinstance(consensus, Mapping)
        else dict.fromkeys(map(str, consensus), 1.0)
    )
    unknown = sorted(set(weights) - set(SOURCES))
    if unknown or not weights or any(w < 0 for w in weights.values()) or not any(weights.values()):
        raise ValueError(
            f"consensus: sources among {', '.join(SOURCES)} with weights >= 0, not all 0; "
            f"got {consensus!r}"
        )
    return {k: w for k, w in weights.items() if w > 0}


def _fuse(nets: Mapping[str, pd.DataFrame], weights, tfs, genes, cell_type, limit=None):
    """The weighted consensus of the sources in ``weights`` (their networks in ``nets``)."""
    used = [m for m in weights if m in nets]
    return consensus_edges(
        [nets[m] for m in used],
        tfs,
        genes,
        cell_type,
        weights=[weights[m] for m in used],
        max_edges=limit,
    )


def _spearman(X, rows, genes, tfs, cell_type: str) -> pd.DataFrame:
    from scinterp.interpret.grn.peers import spearman_network

    net = spearman_network(X[rows], genes, tfs)
    return net.assign(method="spearman", cell_type=cell_type)


def _global_networks(model, attribution, tfs, genes, weights, spearman=None):
    """A model's global networks, every candidate edge: deepsem, integrated_gradients
    (from ``attribution``, TFs x genes) and their consensus (with ``spearman``, the
    correlation network of the same cells, when the consensus fuses it)."""
    nets = {
        "deepsem": adjacency_edges(model.adjacency().detach().cpu().numpy(), tfs, genes),
        "integrated_gradients": edges_from_matrix(
            attribution, tfs, genes, "integrated_gradients", GLOBAL
        ),
    }
    sources = {**nets, "spearman": spearman} if spearman is not None else nets
    return {"consensus": _fuse(sources, weights, tfs, genes, GLOBAL), **nets}


def ensemble_networks(
    members: Sequence[Mapping[str, pd.DataFrame]],
    tfs: Sequence[str],
    genes: Sequence[str],
    *,
    confidence_top: int = DEFAULT_OPTIONS.confidence_top,
    ensemble_score: bool = DEFAULT_OPTIONS.ensemble_score,
    max_edges: int | None = DEFAULT_OPTIONS.max_edges,
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
    confidence_top: int = DEFAULT_OPTIONS.confidence_top,
    ensemble_score: bool = DEFAULT_OPTIONS.ensemble_score,
    label_key: str | None = None,
    per_cell_type: bool = DEFAULT_OPTIONS.per_cell_type,
    min_cells_per_type: int = DEFAULT_OPTIONS.min_cells_per_type,
    max_cells: int | None = DEFAULT_OPTIONS.max_cells,
    n_steps: int = DEFAULT_OPTIONS.n_steps,
    baseline: str = DEFAULT_OPTIONS.baseline,
    consensus: Mapping[str, float] | Sequence[str] = DEFAULT_OPTIONS.consensus,
    max_edges: int | None = DEFAULT_OPTIONS.max_edges,
    max_edges_cell_type: int | None = DEFAULT_OPTIONS.max_edges_cell_type,
    batch_size: int = DEFAULT_OPTIONS.batch_size,
    seed: int = DEFAULT_OPTIONS.seed,
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
        (for the consensus: of its consensus, itself a weighted mean log rank), in (0, 1].
        False keeps the main model's scores (and ranking). The default (True) is the
        choice of the GRN benchmark (benchmarks/README.md, "Edge confidence from
        seeds"): the ensemble's mean was more accurate than the main model's score on
        every dataset, its worst one included (sergio_mouse_small, consensus AUPRC ratio
        2.08 -> 2.30 with 2 members, 2.47 with 3), and its top edges steadier across
        seeds.
    label_key
        obs column of cell types; with ``per_cell_type`` each type with at least
        ``min_cells_per_type`` attributed cells gets its own networks (the main model's),
        and their integrated gradients, averaged over the types weighted by their cells,
        a global network of their own (:data:`WITHIN_TYPE`, no confidence).
    max_cells
        Cells attributed (a stratified sample; None for all). Each cell is attributed
        twice: against the mean of all sampled cells (global networks) and against the
        mean of its own cell type (that type's networks).
    n_steps, baseline, batch_size
        Integrated gradients (see :func:`integrated_gradients_grn`).
    consensus
        Sources of the consensus and their weights (a mapping; a list weighs them
        equally): ``integrated_gradients``, ``deepsem`` and ``spearman`` (the absolute
        Spearman correlation of each TF with each gene over the attributed cells, the
        peer rule's floor). The consensus is their weighted mean log rank
        (:func:`consensus_edges`). In a
        cell type: that type's attributions and correlations with the global ``deepsem``
        adjacency. Default :data:`CONSENSUS`.
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
    weights = consensus_weights(consensus)
    model, meta = _load_grn(model_dir, device, dataset)
    genes, tfs, columns = model_genes(adata, meta, dataset, model_dir)
    X, rows, groups = _attributed_cells(
        adata, columns, label_key if per_cell_type else None, max_cells, min_cells_per_type, seed
    )
    tf_index = [genes.index(t) for t in tfs]
    log.info("grn_sem: %d TFs x %d genes, attributed on %d cells", len(tfs), len(genes), len(rows))
    ig_options = {"baseline": baseline, "n_steps": n_steps, "batch_size": batch_size}
    ig = _attributions(model, X, rows, groups, tf_index, device=device, **ig_options)
    # The global networks of the main model and of each further member.
    spearman = _spearman(X, rows, genes, tfs, GLOBAL) if "spearman" in weights else None
    members = [_global_networks(model, ig[GLOBAL], tfs, genes, weights, spearman)]
    for member_dir in member_dirs:
        member = _load_member(member_dir, genes, tfs, device, dataset)
        attribution = integrated_gradients_grn(
            member, X[rows], tf_index, device=device, **ig_options
        )[GLOBAL]
        members.append(_global_networks(member, attribution, tfs, genes, weights, spearman))
    tables = ensemble_networks(
        members,
        tfs,
        genes,
        confidence_top=confidence_top,
        ensemble_score=ensemble_score,
        max_edges=max_edges,
    )
    tables += _within_type_network(ig, groups, tfs, genes, max_edges)
    tables += _cell_type_networks(
        ig, members[0]["deepsem"], X, rows, groups, tfs, genes, weights, max_edges_cell_type
    )
    out = pd.concat(tables, ignore_index=True)
    if "confidence" not in out:
        out["confidence"] = np.nan
    return out[TABLE_COLUMNS]


def _attributed_cells(adata, columns, label_key, max_cells, min_cells_per_type, seed):
    """The model's genes (``columns``) of every cell, the cells attributed (a sample
    stratified by ``label_key``, when the data have it) and each one's cell type
    (:func:`_cell_type_groups`; None without a label key)."""
    import scipy.sparse as sp

    X = adata.X
    X = sp.csr_matrix(X)[:, columns] if sp.issparse(X) else np.asarray(X)[:, columns]
    labels = None
    if label_key is not None and label_key in adata.obs:
        labels = adata.obs[label_key].astype(str).to_numpy()
    rows = attributed_cells(labels, adata.n_obs, max_cells, seed)
    groups = None if labels is None else _cell_type_groups(labels[rows], min_cells_per_type)
    return X, rows, groups


def _cell_type_groups(groups: np.ndarray, min_cells_per_type: int) -> np.ndarray:
    """Each attributed cell's type, ``""`` for the types of fewer than
    ``min_cells_per_type`` cells (counted in the global networks only)."""
    names, sizes = np.unique(groups, return_counts=True)
    small = names[sizes < min_cells_per_type]
    if len(small):
        log.info(
            "no cell-type network for %s (fewer than %d attributed cells)",
            ", ".join(small),
            min_cells_per_type,
        )
    return np.where(np.isin(groups, small), "", groups)


def _attributions(model, X, rows, groups, tf_index, *, baseline, device, **ig_options) -> dict:
    """Integrated gradients of the attributed cells: ``GLOBAL`` against the baseline of
    them all, and each cell type's cells against that type's mean cell, so that its edges
    score regulation inside the type, not the type's difference from the other types."""
    ig = integrated_gradients_grn(
        model, X[rows], tf_index, baseline=baseline, device=device, **ig_options
    )
    for name in [] if groups is None else sorted(set(groups) - {""}):
        cells = rows[groups == name]
        base = np.asarray(X[cells].mean(axis=0)).ravel() if baseline == "mean" else baseline
        ig.update(
            {
                name: integrated_gradients_grn(
                    model, X[cells], tf_index, baseline=base, device=device, **ig_options
                )[GLOBAL]
            }
        )
    return ig


def _load_member(member_dir, genes, tfs, device: str, dataset: str | None):
    """A further ensemble member, which must have the main model's genes and TFs."""
    member, member_meta = _load_grn(member_dir, device, dataset)
    if [str(g) for g in member_meta["features"]] != genes or [
        str(t) for t in member_meta["tfs"]
    ] != tfs:
        from scinterp.errors import ScinterpInputError

        raise ScinterpInputError(
            "an ensemble member of grn_sem was trained on other genes or TFs than the main model.",
            dataset=dataset,
            path=member_dir,
            fix=f"retrain it on this normalized.h5ad: delete {member_dir} and rerun.",
        )
    return member


def _within_type_network(ig, groups, tfs, genes, max_edges) -> list[pd.DataFrame]:
    """Integrated gradients within each cell type (each cell against its type's mean
    cell), averaged over the types weighted by their attributed cells: the model's view
    with the types' differences taken out, a global network of its own (the main
    model's; no cell types: none). Where cell types shift TFs and unregulated genes
    together it is the model's answer to the within-type correlation
    (benchmarks/README.md, "What each view adds")."""
    typed = [name for name in ig if name != GLOBAL]
    if not typed:
        return []
    sizes = {name: int(np.sum(groups == name)) for name in typed}
    within = sum(sizes[name] * ig[name] for name in typed) / sum(sizes.values())
    net = edges_from_matrix(within, tfs, genes, WITHIN_TYPE, GLOBAL)
    net = net if max_edges is None else net.head(max_edges)
    return [net.assign(confidence=np.nan)[TABLE_COLUMNS]]


def _cell_type_networks(ig, deepsem, X, rows, groups, tfs, genes, weights, limit):
    """The cell-type networks (the main model's): per type its integrated gradients and
    their consensus with the one global adjacency (``deepsem``) and, when the consensus
    fuses it, the type's correlation; each cut to ``limit`` edges."""
    tables = []
    for cell_type, attribution in ig.items():
        if cell_type == GLOBAL:
            continue
        net = edges_from_matrix(attribution, tfs, genes, "integrated_gradients", cell_type)
        nets = {"deepsem": deepsem, "integrated_gradients": net}
        if "spearman" in weights:
            nets["spearman"] = _spearman(X, rows[groups == cell_type], genes, tfs, cell_type)
        tables.append(_fuse(nets, weights, tfs, genes, cell_type, limit))
        tables.append(net if limit is None else net.head(limit))
    return tables


def run(
    inputs: Mapping, options: GrnOptions = DEFAULT_OPTIONS, *, dataset: str | None = None
) -> pd.DataFrame:
    """The GRN branch from files: :func:`infer_grn` with ``options`` on the cells it
    attributes.

    Only those cells (a sample of ``max_cells`` stratified by the label column, with
    ``per_cell_type``) and the model's genes are read from ``normalized.h5ad``: on an
    atlas the whole matrix would not fit.

    Parameters
    ----------
    inputs
        ``normalized`` (``normalized.h5ad``), ``model`` (the network model's
        ``model.pt``, beside its ``model.json``), ``members`` (its further ensemble
        members' ``model.pt``).
    options
        :class:`GrnOptions` (``GrnOptions.from_params(snakemake.params)`` in the
        workflow); ``device`` ``auto`` is CUDA when present.
    dataset
        The dataset's name, for messages.

    Returns
    -------
    pandas.DataFrame
        ``grn/edges.tsv`` (:func:`infer_grn`).
    """
    import json
    from pathlib import Path

    from scinterp.device import resolve_device
    from scinterp.io import read_meta, read_normalized
    from scinterp.train.loop import seed_everything

    seed_everything(options.seed)
    info = read_meta(inputs["normalized"], ("obs", "uns"))
    key = info["uns"].get("scinterp", {}).get("label_key")
    labels = (
        info["obs"][key].astype(str).to_numpy()
        if options.per_cell_type and key in info["obs"]
        else None
    )
    rows = attributed_cells(labels, len(info["obs"]), options.max_cells, options.seed)
    model_dir = Path(inputs["model"]).parent
    meta = json.loads((model_dir / "model.json").read_text())["meta"]
    adata = read_normalized(inputs["normalized"], var_names=meta["features"], rows=rows)
    return infer_grn(
        adata,
        model_dir,
        member_dirs=[Path(m).parent for m in inputs.get("members", [])],
        confidence_top=options.confidence_top,
        ensemble_score=options.ensemble_score,
        label_key=adata.uns.get("scinterp", {}).get("label_key"),
        per_cell_type=options.per_cell_type,
        min_cells_per_type=options.min_cells_per_type,
        max_cells=None,  # the sample above
        n_steps=options.n_steps,
        baseline=options.baseline,
        consensus=options.consensus,
        max_edges=options.max_edges,
        max_edges_cell_type=options.max_edges_cell_type,
        batch_size=options.batch_size,
        seed=options.seed,
        device=str(resolve_device(options.device)),
        dataset=dataset,
    )
