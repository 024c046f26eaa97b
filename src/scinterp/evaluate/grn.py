"""Scoring ranked TF -> target edge lists against a reference network.

Every metric is computed over the *candidate universe*: all (TF, target) pairs with the
TF among the candidate TFs, the target among the data's genes, and TF != target (no
self-loops, as in BEELINE). Edges a method did not report are tied at the bottom of its
ranking, so lists of different lengths are compared on the same universe.

Metrics (BEELINE, Pratapa et al. 2020, Nat. Methods):

* ``auprc``: area under the precision-recall curve (average precision, ties grouped);
* ``auprc_ratio``: AUPRC over that of a random ranking, the network density
  ``n_true / n_candidates``;
* ``epr``: early precision ratio, the precision among the top-k edges (k = number of true
  edges in the universe; edges tied with the k-th are included) over the density;
* ``auroc``: area under the ROC curve (ties count one half).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.evaluate.metrics import auroc, average_precision, early_precision, random_precision

__all__ = [
    "METRIC_COLUMNS",
    "edge_labels",
    "evaluate_edges",
    "grn_metrics",
    "krumsiek11",
    "network_runtimes",
    "plot_precision_recall",
    "precision_recall",
    "read_reference",
]

log = logging.getLogger("scinterp")

METRIC_COLUMNS = [
    "method",
    "auprc",
    "auprc_ratio",
    "epr",
    "auroc",
    "cell_type",
    "early_precision",
    "random_precision",
    "n_edges_true",
    "n_edges_predicted",
    "n_candidates",
    "runtime_s",
]
# Methods computed from the trained network model (grn_sem): their runtime is training +
# infer_grn.
OUR_METHODS = ("deepsem", "integrated_gradients", "integrated_gradients_within_type", "consensus")


def _lookup(names: Iterable[str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for name in names:
        table.setdefault(str(name).upper(), str(name))
    return table


def read_reference(
    path: str | os.PathLike,
    tfs: Sequence[str],
    genes: Sequence[str],
    dataset: str | None = None,
) -> pd.DataFrame:
    """Read a reference network and restrict it to the candidate universe.

    Parameters
    ----------
    path
        Tab-separated file with columns ``tf`` and ``target`` (extra columns are kept).
    tfs
        Candidate TFs (already matched to the data).
    genes
        The data's genes (candidate targets).
    dataset
        Dataset name, for messages.

    Returns
    -------
    pandas.DataFrame
        Unique reference edges inside the universe, in the data's spelling of the names
        (matched case-insensitively). Self-loops and edges whose TF is not a candidate or
        whose target is not a gene of the data are dropped, each group counted in a warning.

    Raises
    ------
    ScinterpInputError
        Missing file, missing columns, or no reference edge left in the universe.
    """
    path = Path(path)
    if not path.is_file():
        raise ScinterpInputError(
            "the reference network file does not exist.",
            dataset=dataset,
            path=path,
            fix="correct 'grn_reference' in the config, or leave it out to skip evaluation.",
        )
    ref = pd.read_csv(path, sep="\t", dtype={"tf": str, "target": str})
    missing = [c for c in ("tf", "target") if c not in ref.columns]
    if missing:
        raise ScinterpInputError(
            f"the reference network lacks column(s) {', '.join(missing)} "
            f"(columns found: {', '.join(map(str, ref.columns))}).",
            dataset=dataset,
            path=path,
            fix="write a tab-separated file with a header holding 'tf' and 'target'.",
        )
    return restrict_reference(ref, tfs, genes, dataset=dataset, source=path.name)


def restrict_reference(
    ref: pd.DataFrame,
    tfs: Sequence[str],
    genes: Sequence[str],
    dataset: str | None = None,
    source: str = "reference",
) -> pd.DataFrame:
    """Restrict a reference edge table (``tf, target``) to the candidate universe.

    See :func:`read_reference`; this is its in-memory half.
    """
    ref = ref.dropna(subset=["tf", "target"]).copy()
    n_in = len(ref)
    tf_of = _lookup(tfs)
    gene_of = _lookup(genes)
    ref["tf"] = [tf_of.get(str(t).upper(), str(t)) for t in ref["tf"]]
    ref["target"] = [gene_of.get(str(t).upper(), str(t)) for t in ref["target"]]
    ref = ref.drop_duplicates(subset=["tf", "target"])
    n_dup = n_in - len(ref)
    self_loop = ref["tf"] == ref["target"]
    tf_absent = ~ref["tf"].str.upper().isin(tf_of.keys())
    target_absent = ~ref["target"].str.upper().isin(gene_of.keys())
    keep = ~(self_loop | tf_absent | target_absent)
    prefix = f"dataset '{dataset}', " if dataset else ""
    if tf_absent.any() or target_absent.any():
        log.warning(
            "%s%s: dropped %d of %d reference edges outside the data: %d whose TF is not a "
            "candidate TF of the data (%d TFs, e.g. %s), %d whose target is not a gene of "
            "the data (%d targets, e.g. %s)",
            prefix,
            source,
            int((tf_absent | target_absent).sum()),
            len(ref),
            int(tf_absent.sum()),
            ref.loc[tf_absent, "tf"].nunique(),
            ", ".join(ref.loc[tf_absent, "tf"].unique()[:5]) or "-",
            int(target_absent.sum()),
            ref.loc[target_absent, "target"].nunique(),
            ", ".join(ref.loc[target_absent, "target"].unique()[:5]) or "-",
        )
    if self_loop.any():
        log.info("%s%s: dropped %d self-loop(s)", prefix, source, int(self_loop.sum()))
    if n_dup:
        log.info("%s%s: dropped %d duplicated edge(s)", prefix, source, n_dup)
    out = ref.loc[keep].reset_index(drop=True)
    if out.empty:
        raise ScinterpInputError(
            f"none of the {n_in} reference edges joins a candidate TF to another gene of the "
            f"data (reference TFs e.g. {', '.join(ref['tf'].unique()[:5])}; candidate TFs e.g. "
            f"{', '.join(list(tfs)[:5])}).",
            dataset=dataset,
            path=source,
            fix="check that the reference uses the data's gene symbols and species, and that "
            "its TFs are in the TF list.",
        )
    return out


def _universe(tfs: Sequence[str], genes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    tfs = np.asarray(list(dict.fromkeys(map(str, tfs))), dtype=object)
    genes = np.asarray(list(dict.fromkeys(map(str, genes))), dtype=object)
    tf_col = np.repeat(tfs, len(genes))
    target_col = np.tile(genes, len(tfs))
    keep = tf_col != target_col
    return tf_col[keep], target_col[keep]


def edge_labels(
    edges: pd.DataFrame,
    reference: pd.DataFrame,
    tfs: Sequence[str],
    genes: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and 0/1 truth labels of every candidate edge.

    Parameters
    ----------
    edges
        ``tf, target, score`` of one network (higher is stronger). Edges outside the
        universe are ignored; candidate edges not listed get a score below all listed ones.
    reference
        ``tf, target`` true edges (restricted to the universe, see :func:`read_reference`).
    tfs, genes
        The candidate universe.

    Returns
    -------
    (scores, labels)
        One entry per candidate edge.
    """
    tf_col, target_col = _universe(tfs, genes)
    index = pd.MultiIndex.from_arrays([tf_col, target_col])
    listed = edges.drop_duplicates(subset=["tf", "target"]).set_index(["tf", "target"])["score"]
    scores = listed.reindex(index).to_numpy(dtype=float)
    finite = np.isfinite(scores)
    floor = (scores[finite].min() - 1.0) if finite.any() else 0.0
    scores = np.where(finite, scores, floor)
    true = pd.MultiIndex.from_frame(reference[["tf", "target"]].astype(str))
    labels = index.isin(true).astype(np.int8)
    return scores, labels


def evaluate_edges(
    edges: pd.DataFrame,
    reference: pd.DataFrame,
    tfs: Sequence[str],
    genes: Sequence[str],
) -> dict[str, float]:
    """AUPRC, AUPRC ratio, EPR and AUROC of one ranked network.

    Parameters
    ----------
    edges
        ``tf, target, score`` (higher is stronger).
    reference
        True edges inside the universe (:func:`read_reference`).
    tfs, genes
        The candidate universe: TFs and genes of the data.

    Returns
    -------
    dict
        ``auprc, auprc_ratio, epr, auroc, early_precision, random_precision,
        n_edges_true, n_edges_predicted, n_candidates``.
    """
    scores, labels = edge_labels(edges, reference, tfs, genes)
    tf_col, target_col = _universe(tfs, genes)
    listed_pairs = pd.MultiIndex.from_frame(edges[["tf", "target"]].astype(str))
    listed = pd.MultiIndex.from_arrays([tf_col, target_col]).isin(listed_pairs)
    n_true = int(labels.sum())
    density = random_precision(labels)
    auprc = average_precision(labels, scores) if n_true else float("nan")
    # BEELINE ranks only the edges a method reported
    early = early_precision(labels, np.where(listed, scores, -np.inf))
    return {
        "auprc": auprc,
        "auprc_ratio": auprc / density if n_true else float("nan"),
        "epr": early / density if n_true else float("nan"),
        "auroc": auroc(labels, scores),
        "early_precision": early,
        "random_precision": density,
        "n_edges_true": n_true,
        "n_edges_predicted": int(listed.sum()),
        "n_candidates": len(labels),
    }


def precision_recall(
    edges: pd.DataFrame,
    reference: pd.DataFrame,
    tfs: Sequence[str],
    genes: Sequence[str],
) -> pd.DataFrame:
    """Precision-recall curve of one network (one row per distinct score threshold)."""
    scores, labels = edge_labels(edges, reference, tfs, genes)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp = np.cumsum(y)[ends]
    return pd.DataFrame(
        {"recall": tp / max(int(y.sum()), 1), "precision": tp / (ends + 1), "n_edges": ends + 1}
    )


def grn_metrics(
    edges: pd.DataFrame,
    reference: pd.DataFrame,
    tfs: Sequence[str],
    genes: Sequence[str],
    runtimes: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Metrics of every (method, cell_type) network of an edges table.

    Parameters
    ----------
    edges
        ``tf, target, score, method`` and optionally ``cell_type`` (``"all"`` or empty for
        global networks).
    reference, tfs, genes
        As in :func:`evaluate_edges`.
    runtimes
        Method -> wall seconds (:func:`network_runtimes`), the ``runtime_s`` column (NaN
        for a method without one).

    Returns
    -------
    pandas.DataFrame
        :data:`METRIC_COLUMNS`, global networks first, then best AUPRC first.
    """
    edges = edges.copy()
    if "cell_type" not in edges.columns:
        edges["cell_type"] = "all"
    edges["cell_type"] = edges["cell_type"].fillna("all").replace("", "all").astype(str)
    rows = []
    for (method, cell_type), net in edges.groupby(["method", "cell_type"], sort=False):
        rows.append(
            {"method": method, "cell_type": cell_type, **evaluate_edges(net, reference, tfs, genes)}
        )
    out = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    out["runtime_s"] = out["method"].map(runtimes or {}).astype(float)
    out["_global"] = out["cell_type"] != "all"
    out = out.sort_values(["_global", "auprc"], ascending=[True, False], kind="mergesort")
    return out.drop(columns="_global").reset_index(drop=True)


def network_runtimes(
    benchmarks: Iterable[str | os.PathLike], peers: Iterable[str]
) -> dict[str, float]:
    """Wall seconds per network method from Snakemake ``benchmark:`` files.

    A file named after a peer's rule (``grnboost2.tsv``, ``regdiffusion.tsv``,
    ``spearman.tsv``, ``within_type_spearman.tsv``; ``peers``: the peers' names, the
    workflow's are those of :data:`scinterp.interpret.grn.peers.PEERS`)
    times that peer; every other file is ours and they add up to the time of each of our
    methods (:data:`OUR_METHODS`): the network model's training (``grn_sem.tsv``, whatever
    the model's name), its ensemble members' (``train_members/grn_sem.tsv``, one job) and
    ``infer_grn.tsv``. The ``s`` column of a file's last row is used (the last run of the
    job).
    """
    peers = set(peers)
    times: dict[str, float] = {}
    ours = 0.0
    for path in benchmarks:
        path = Path(path)
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
        if path.stem in peers:
            times[path.stem] = seconds
        else:
            ours += seconds
    if ours:
        times.update(dict.fromkeys(OUR_METHODS, ours))
    return times


def plot_precision_recall(
    edges: pd.DataFrame,
    reference: pd.DataFrame,
    tfs: Sequence[str],
    genes: Sequence[str],
    title: str = "",
):
    """Precision-recall curves of the global network of every method, one figure.

    Parameters
    ----------
    edges
        ``tf, target, score, method`` and optionally ``cell_type`` (only ``"all"`` rows,
        or all rows when the column is absent, are drawn).
    reference, tfs, genes
        As in :func:`evaluate_edges`.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "cell_type" in edges.columns:
        edges = edges[edges["cell_type"].fillna("all").astype(str).isin(["all", ""])]
    fig, ax = plt.subplots(figsize=(6, 5))
    density = None
    for method, net in edges.groupby("method", sort=True):
        curve = precision_recall(net, reference, tfs, genes)
        auprc = evaluate_edges(net, reference, tfs, genes)["auprc"]
        style = {"lw": 2.2} if method == "consensus" else {"lw": 1.4}
        if method not in OUR_METHODS:  # the peers dashed
            style["ls"] = "--"
        ax.step(
            curve["recall"],
            curve["precision"],
            where="post",
            label=f"{method} (AUPRC {auprc:.3f})",
            **style,
        )
        density = curve["precision"].iloc[-1]
    if density is not None:
        ax.axhline(density, color="grey", ls=":", lw=1, label=f"random ({density:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


# --------------------------------------------------- built-in reference: krumsiek11
def _krumsiek11_edges(model_text: str) -> pd.DataFrame:
    """Regulator -> target edges of a scanpy sim model file (its ``# coupling list``).

    Each coupling line reads ``target regulator weight``; self-couplings are left out.
    """
    rows, in_list = [], False
    for line in model_text.splitlines():
        line = line.strip()
        if line.startswith("# coupling list"):
            in_list = True
            continue
        if not in_list or not line or line.startswith("#"):
            continue
        target, regulator, weight = line.split()
        if target != regulator:
            rows.append((regulator, target, "activation" if float(weight) > 0 else "repression"))
    return pd.DataFrame(rows, columns=["tf", "target", "sign"]).drop_duplicates(["tf", "target"])


def krumsiek11(scale: float = 100.0, seed: int = 0):
    """scanpy's krumsiek11 data as integer pseudo-counts, with its reference network.

    The 640 cells are simulated by scanpy from the Boolean myeloid differentiation network
    of Krumsiek et al. (2011, PLoS ONE 6:e22649); their values are continuous levels in
    about [0, 1] (with small negative noise), not counts. To run them through the count
    workflow unchanged they are converted once, documented here: values are clipped at
    0 and counts drawn as ``Poisson(scale * level)``, i.e. as if each gene's level
    were an expected ``scale`` UMIs at full activity.

    Parameters
    ----------
    scale
        Expected count at level 1.
    seed
        Seed of the Poisson draws.

    Returns
    -------
    (anndata.AnnData, pandas.DataFrame)
        Cells x 11 genes of counts (``obs["cell_type"]``: progenitor, Ery, Mk, Mo, Neu;
        the original levels in ``layers["level"]``), and the network (``tf, target,
        sign``) read from ``scanpy/sim_models/krumsiek11.txt``.
    """
    import warnings
    from importlib.resources import files

    import anndata as ad
    import scanpy as sc
    import scipy.sparse as sp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # non-unique obs names, fixed below
        data = sc.datasets.krumsiek11()
    level = np.clip(np.asarray(data.X, dtype=np.float64), 0.0, None)
    counts = np.random.default_rng(seed).poisson(scale * level).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(data.obs["cell_type"].astype(str))},
        index=[f"cell{i:04d}" for i in range(data.n_obs)],
    )
    adata = ad.AnnData(sp.csr_matrix(counts), obs=obs, var=pd.DataFrame(index=data.var_names))
    adata.layers["level"] = sp.csr_matrix(level.astype(np.float32))
    adata.uns["source"] = (
        f"scanpy.datasets.krumsiek11(), counts ~ Poisson({scale:g} * clip(level, 0)), seed {seed}"
    )
    text = (files("scanpy") / "sim_models" / "krumsiek11.txt").read_text()
    return adata, _krumsiek11_edges(text)
