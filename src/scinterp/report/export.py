"""Outputs other tools read: per-cell scores as AnnData, the GRN as arboreto adjacencies.

``cell_activity.h5ad`` (cells x scores) opens in scanpy and CELLxGENE: ``X`` float32,
``var`` the scores (``kind``: ``identity``, ``program`` or ``tf_activity``), ``obs`` and
the ``X_*`` embeddings of ``normalized.h5ad`` kept, so a score colours the UMAP like a
gene (``sc.pl.umap(adata, color="identity:B cell")``).

``grn/adjacencies.tsv`` is the consensus network in GRNBoost2 / pySCENIC's format
(``TF, target, importance``), best first, ready for ``pyscenic ctx``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.interpret.branches import VAR_COLUMNS, Columns

log = logging.getLogger(__name__)

__all__ = [
    "ADJACENCY_COLUMNS",
    "cell_activity",
    "grn_adjacencies",
    "identity_columns",
    "identity_scores",
    "program_columns",
    "read_contribution",
    "tf_activity_columns",
]

ADJACENCY_COLUMNS = ["TF", "target", "importance"]


def grn_adjacencies(edges: pd.DataFrame, method: str = "consensus") -> pd.DataFrame:
    """The global network of ``method`` from ``grn/edges.tsv`` as arboreto adjacencies.

    Rows keep the order of ``edges`` (best first); ``importance`` is the edge's
    ``score``. Only the all-cells network (``cell_type == "all"``) when the table has
    per-type networks.
    """
    sub = edges[edges["method"].astype(str) == method]
    if "cell_type" in sub:
        sub = sub[sub["cell_type"].astype(str) == "all"]
    if sub.empty:
        found = ", ".join(sorted(set(edges["method"].astype(str)))) or "none"
        raise ScinterpInputError(
            f"grn/edges.tsv has no all-cells '{method}' network (methods: {found}).",
            fix="re-run infer_grn, which writes the consensus network.",
        )
    return pd.DataFrame(
        {
            "TF": sub["tf"].astype(str).to_numpy(),
            "target": sub["target"].astype(str).to_numpy(),
            "importance": sub["score"].astype(float).to_numpy(),
        },
        columns=ADJACENCY_COLUMNS,
    )


def identity_scores(
    adata,
    genes: pd.DataFrame,
    *,
    n_genes: int = 20,
    method: str = "consensus",
    ctrl_size: int = 50,
    seed: int = 0,
    chunk_rows: int | None = None,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Per cell, a score for each cell type from the type's top identity genes.

    The score is scanpy's ``score_genes``: the mean log-expression of the type's top
    ``n_genes`` genes of ``method`` (``identity/genes.tsv``, genes absent from ``adata``
    dropped; at most half the data's genes) minus the mean of ``ctrl_size`` reference genes drawn from the same
    expression bins (Satija et al. 2015), seeded. ``adata`` is an AnnData or the path of
    ``normalized.h5ad``, whose ``X`` is then read in row chunks of ``chunk_rows`` cells
    (:func:`scinterp.interpret.gene_scores.score_gene_sets`, equal to scanpy's).

    Returns
    -------
    (DataFrame cells x cell types, dict cell type -> the genes used)
    """
    import os

    from scinterp.interpret.gene_scores import score_gene_sets
    from scinterp.io import read_meta

    sub = genes[genes["method"].astype(str) == method]
    if sub.empty:
        raise ScinterpInputError(
            f"identity/genes.tsv has no '{method}' ranking "
            f"(methods: {', '.join(sorted(set(genes['method'].astype(str))))}).",
            fix="re-run rank_identity_genes, which writes the consensus ranking.",
        )
    if isinstance(adata, str | os.PathLike):
        meta = read_meta(adata, ("obs", "var"))
        obs_names, var_names = meta["obs"].index, meta["var"].index
    else:
        obs_names, var_names = adata.obs_names, adata.var_names
    present = set(map(str, var_names))
    sets, sizes = {}, {}
    for cell_type, grp in sub.sort_values(["cell_type", "rank"], kind="stable").groupby(
        "cell_type", sort=True
    ):
        # at most half the data's genes: the rest are the score's reference (a panel of
        # a few genes, krumsiek11's 11, would otherwise put every gene in each type's set)
        top = [g for g in grp["gene"].astype(str) if g in present]
        top = top[: min(n_genes, max(1, len(var_names) // 2))]
        if not top:
            log.warning("cell type '%s': none of its identity genes is in the data", cell_type)
            continue
        sets[str(cell_type)] = top
        sizes[str(cell_type)] = min(ctrl_size, max(1, len(var_names) - len(top)))
    if not sets:
        return pd.DataFrame(index=obs_names), {}
    scores = score_gene_sets(adata, sets, ctrl_size=sizes, seed=seed, chunk_rows=chunk_rows)
    return scores, sets


def cell_activity(
    adata,
    *,
    n_genes: int = 20,
    seed: int = 0,
    dataset: str | None = None,
    chunk_rows: int | None = None,
    **contributions,
):
    """Cells x scores AnnData for scanpy and CELLxGENE.

    Parameters
    ----------
    adata
        ``normalized.h5ad``: log-normalized ``X``; its ``obs``, the ``X_*`` embeddings of
        ``obsm`` and the ``*_colors`` of ``uns`` are kept. The AnnData, or the file's
        path: ``X`` is then read in row chunks (``chunk_rows`` cells each) for the
        identity scores, and never held whole.
    **contributions
        The branches' per-cell files by their ``Branch.cell_activity`` key, each turned
        into columns by its branch's ``columns`` function, in registry order
        (:func:`scinterp.interpret.branches.branches`); None or absent: left out. The
        built-in ones:

        ``genes``
            ``identity/genes.tsv``: one ``identity:<cell type>`` score per type
            (:func:`identity_columns`), and obs ``identity_top``, the type scoring highest.
        ``programs``
            ``programs/cell_activity.h5ad`` (cells x programs of the branch's main
            method): one ``program:<program>`` column each (:func:`program_columns`).
        ``motifs``
            ``motifs/cell_activity.h5ad`` (ATAC cells x motifs): ``tf_activity:<motif>``
            columns, only when every cell of ``adata`` is an ATAC cell (multiome)
            (:func:`tf_activity_columns`).

    Returns
    -------
    AnnData with float32 ``X``; ``var`` columns ``kind, name, method, genes`` (an
    identity score's genes), ``tf`` (a motif's database match).
    """
    import os

    import anndata as ad

    from scinterp.interpret.branches import branches, resolve
    from scinterp.io import read_annotations

    source = adata
    if isinstance(adata, str | os.PathLike):
        adata = read_annotations(adata)  # obs, var, uns, obsm; X streamed from `source`
    known = {key: spec for spec in branches() for key in spec.cell_activity}
    unknown = sorted(set(contributions) - set(known))
    if unknown:
        raise TypeError(
            f"cell_activity: no branch contributes {unknown}; the branches' keys: "
            f"{', '.join(known)}"
        )
    blocks, var_rows = [], []
    uns = {"dataset": dataset or "", "identity_n_genes": int(n_genes)}
    obs = adata.obs.copy()
    for key, spec in known.items():
        value = contributions.get(key)
        if value is None:
            continue
        cols = resolve(spec.columns)(
            value,
            cells=adata,
            source=source,
            n_genes=n_genes,
            seed=seed,
            chunk_rows=chunk_rows,
            dataset=dataset,
        )
        if cols is None:
            continue
        blocks.append(cols.X)
        var_rows += cols.var
        for name, column in cols.obs.items():
            obs[name] = column
        uns.update(cols.uns)
    X = np.hstack(blocks) if blocks else np.zeros((adata.n_obs, 0))
    var = pd.DataFrame(var_rows, columns=VAR_COLUMNS)
    var = var.set_index("feature")
    var.index.name = None
    out = ad.AnnData(X=X.astype(np.float32), obs=obs, var=var)
    for key, emb in adata.obsm.items():
        if key.startswith("X_"):
            out.obsm[key] = np.asarray(emb, dtype=np.float32)
    for key, val in adata.uns.items():
        if key.endswith("_colors") and key[: -len("_colors")] in obs:
            out.uns[key] = val
    out.uns["scinterp"] = uns
    return out


def read_contribution(path):
    """A branch's per-cell file for :func:`cell_activity`: a ``.tsv`` as a DataFrame
    (empty strings kept), an ``.h5ad`` as an AnnData."""
    import anndata as ad

    path = str(path)
    if path.endswith(".h5ad"):
        return ad.read_h5ad(path)
    if path.endswith(".tsv"):
        return pd.read_csv(path, sep="\t", keep_default_na=False)
    raise ScinterpInputError(
        f"cell_activity reads .tsv and .h5ad files, not {path}",
        path=path,
        fix="declare a .tsv or .h5ad file in the branch's Branch.cell_activity",
    )


# ------------------------------------------------ the built-in branches' columns
def identity_columns(genes: pd.DataFrame, *, cells, source, n_genes, seed, chunk_rows, **_):
    """``identity:<cell type>`` columns (:func:`identity_scores` on ``source``) and obs
    ``identity_top``, the type scoring highest."""
    scores, used = identity_scores(source, genes, n_genes=n_genes, seed=seed, chunk_rows=chunk_rows)
    var = [
        (
            "identity:" + t,
            "identity",
            t,
            "score_genes of consensus genes",
            ",".join(used[t]),
            "",
        )
        for t in scores.columns
    ]
    obs = {}
    if scores.shape[1]:
        best = scores.columns[np.argmax(scores.to_numpy(), axis=1)]
        obs["identity_top"] = pd.Categorical(best, categories=list(scores.columns))
    return Columns(scores.to_numpy(), var, obs=obs)


def program_columns(programs, *, cells, dataset=None, **_):
    """``program:<program>`` columns from ``programs/cell_activity.h5ad``; every cell of
    ``cells`` must be in it."""
    block = _aligned(programs, cells.obs_names, "programs/cell_activity.h5ad", dataset)
    method = str(programs.uns.get("method", ""))
    var = [("program:" + str(p), "program", str(p), method, "", "") for p in programs.var_names]
    return Columns(block, var, uns={"programs_method": method})


def tf_activity_columns(motifs, *, cells, **_):
    """``tf_activity:<motif>`` columns from ``motifs/cell_activity.h5ad`` when every cell
    of ``cells`` is an ATAC cell (multiome); None otherwise (logged)."""
    if not motifs.n_vars:
        return None
    missing = ~cells.obs_names.isin(motifs.obs_names)
    if missing.any():
        log.warning(
            "TF activity left out of cell_activity.h5ad: %d of %d cells have no ATAC "
            "profile (not a multiome data set)",
            int(missing.sum()),
            cells.n_obs,
        )
        return None
    block = np.asarray(motifs[cells.obs_names].X, dtype=np.float64)
    tf = motifs.var["tf"].astype(str) if "tf" in motifs.var else pd.Series("", motifs.var_names)
    var = [
        ("tf_activity:" + str(m), "tf_activity", str(m), "seq_cnn", "", t)
        for m, t in zip(motifs.var_names, tf, strict=True)
    ]
    return Columns(block, var)


def _aligned(other, obs_names, what: str, dataset) -> np.ndarray:
    """``other.X`` in the order of ``obs_names``; every cell must be there."""
    missing = ~pd.Index(obs_names).isin(other.obs_names)
    if missing.any():
        raise ScinterpInputError(
            f"{what} lacks {int(missing.sum())} cells of normalized.h5ad "
            f"(e.g. {', '.join(map(str, pd.Index(obs_names)[missing][:3]))}).",
            dataset=dataset,
            fix="re-run the programs branch on the current normalized.h5ad.",
        )
    X = other[pd.Index(obs_names)].X
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
