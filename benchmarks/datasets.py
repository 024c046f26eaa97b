"""Datasets for the generalization benchmark (issue 14), none made by ``scinterp.simulate``.

Every dataset is written to ``<out>/<name>/``::

    rna.h5ad        raw integer counts in .X; obs: a label column, ``quality``
                    (good / low_quality / doublet) where artefacts were injected
    config.yaml     the workflow's dataset keys for it (absolute paths), nothing tuned
    meta.json       shape, source, what it probes, its truth files
    truth/          ground truth where the generator gives it: markers.tsv
                    (cell_type, gene), programs.tsv (program, cell_type, active, decoy),
                    grn.tsv (tf, target, sign)
    tfs.txt, gene_sets.gmt   where the dataset comes with its own

then ``<out>/INDEX.md`` lists them all and ``<out>/READY`` is touched once every dataset
is there. Sources (all offline, all seeded):

* SERGIO (``sergio-scSim``, Dibaeinia & Sinha 2020): steady-state simulations driven by
  a sub-network of SERGIO's own reference networks (the human regulatory network it
  ships, or EcoliNet), with its splat-style technical noise (outlier genes, library
  size, Poisson UMI counts). Truth: the network (grn.tsv) and the cell-type markers
  read from SERGIO's steady-state concentrations per type.
* krumsiek11 (scanpy's simulation of the Krumsiek et al. 2011 Boolean network), as the
  pseudo-counts in resources/krumsiek11/.
* celltypist's real 10x PBMC sample (559 cells x 32,786 genes), Leiden labels, and a copy
  with Ensembl IDs as var_names (GENCODE v44 table shipped in the same wheel).
* a gamma-Poisson generator written here (Splatter's model: gamma gene means, log-normal
  library sizes, BCV, Poisson counts) with gene programs, decoy gene sets and two donors.

Heterotypic doublets (3%: counts of two cells of different labels summed, the two
parents consumed) are injected in most datasets and flagged in ``obs["quality"]``.

Run::

    python -m benchmarks.datasets --out benchmarks/out/datasets
    python -m benchmarks.datasets --out benchmarks/out/datasets --only sergio_panel,pbmc10x
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import yaml
from scipy import sparse

REPO = Path(__file__).resolve().parents[1]
HALLMARK = REPO / "resources" / "gene_sets" / "hallmark.gmt"
JASPAR_TFS = REPO / "resources" / "tfs" / "jaspar2024_vertebrates.txt"
DOUBLET_RATE = 0.03
# mitochondrially encoded protein-coding genes (human spelling; mouse: mt-Co1, ...)
MT_GENES = [
    "MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3",
    "MT-ND3", "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB",
]  # fmt: skip


# ------------------------------------------------------------------ shared helpers
def _sergio_ref() -> Path:
    import SERGIO

    return Path(SERGIO.__file__).parent / "GRN" / "ref"


def _celltypist_samples() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("celltypist")
    return Path(spec.origin).parent / "data" / "samples"


def _jaspar_tfs() -> set[str]:
    lines = JASPAR_TFS.read_text().splitlines()
    return {x.strip().upper() for x in lines if x.strip() and not x.startswith("#")}


def _human_to_mouse() -> dict[str, str]:
    """Human -> mouse ortholog symbols (Ensembl 105 table shipped with celltypist)."""
    table = pd.read_csv(
        _celltypist_samples() / "Ensembl105_Human2Mouse_Genes.csv",
        header=None,
        names=["human", "mouse"],
        dtype=str,
    ).dropna()
    table = table.drop_duplicates("human").drop_duplicates("mouse")
    return dict(zip(table["human"], table["mouse"], strict=True))


def _hallmark_genes() -> set[str]:
    genes = set()
    for line in HALLMARK.read_text().splitlines():
        genes.update(g.upper() for g in line.split("\t")[2:])
    return genes


def _symbol_ok(s: str) -> bool:
    # drop Entrez numbers, microRNAs and clone names that the reference networks carry
    return bool(re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", s)) and not s.startswith("MIR")


def _to_anndata(counts, obs: pd.DataFrame, genes) -> ad.AnnData:
    X = sparse.csr_matrix(np.asarray(counts, dtype=np.float32))
    a = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=pd.Index(list(genes), dtype=str)))
    for col in a.obs.columns:
        if a.obs[col].dtype == object:
            a.obs[col] = pd.Categorical(a.obs[col])
    if "quality" in a.obs:
        a.obs["quality"] = pd.Categorical(
            a.obs["quality"].astype(str), categories=["good", "low_quality", "doublet"]
        )
    return a


def inject_doublets(
    counts: np.ndarray | sparse.spmatrix,
    obs: pd.DataFrame,
    label_key: str,
    rng: np.random.Generator,
    rate: float = DOUBLET_RATE,
    batch_key: str | None = None,
    eligible: np.ndarray | None = None,
):
    """Replace pairs of cells of different labels by one heterotypic doublet each.

    A doublet's counts are the sum of its two parents' counts (two cells captured in one
    droplet); the parents leave the data, so the doublets are ``rate`` of the cells that
    remain. Parents share a batch when ``batch_key`` is given. The doublet keeps its first
    parent's label (an annotator sees the dominant type) and ``obs["doublet_of"]`` names
    both parents' labels.

    Returns
    -------
    (counts, obs)
        Good cells first, then the doublets; ``obs["quality"]`` is ``doublet`` for them.
    """
    n = counts.shape[0]
    n_dbl = int(round(rate * (n / (1 + rate))))
    labels = obs[label_key].astype(str).to_numpy()
    batches = obs[batch_key].astype(str).to_numpy() if batch_key else np.zeros(n, dtype=str)
    free = np.ones(n, dtype=bool) if eligible is None else eligible.copy()
    pairs = []
    while len(pairs) < n_dbl:
        i = rng.choice(np.flatnonzero(free))
        j_pool = np.flatnonzero(free & (labels != labels[i]) & (batches == batches[i]))
        if j_pool.size == 0:
            free[i] = False
            continue
        j = rng.choice(j_pool)
        free[[i, j]] = False
        pairs.append((i, j))
    pairs = np.array(pairs, dtype=int).reshape(-1, 2)
    parents = np.zeros(n, dtype=bool)
    parents[pairs.ravel()] = True
    keep = np.flatnonzero(~parents)
    if sparse.issparse(counts):
        counts = sparse.csr_matrix(counts)
        dbl = counts[pairs[:, 0]] + counts[pairs[:, 1]]
        out = sparse.vstack([counts[keep], dbl]).tocsr()
    else:
        dbl = counts[pairs[:, 0]] + counts[pairs[:, 1]]
        out = np.vstack([counts[keep], dbl])
    obs_keep = obs.iloc[keep].copy()
    obs_dbl = obs.iloc[pairs[:, 0]].copy()
    obs_dbl.index = [f"doublet_{k:04d}" for k in range(len(pairs))]
    obs_keep["quality"] = obs_keep.get("quality", pd.Series("good", index=obs_keep.index))
    obs_keep["quality"] = obs_keep["quality"].astype(str)
    obs_dbl["quality"] = "doublet"
    obs_keep["doublet_of"] = ""
    obs_dbl["doublet_of"] = [f"{labels[i]}+{labels[j]}" for i, j in pairs]
    return out, pd.concat([obs_keep, obs_dbl])


def add_mito(
    counts: np.ndarray,
    obs: pd.DataFrame,
    rng: np.random.Generator,
    names: list[str],
    frac_low_quality: float = 0.04,
):
    """Append mitochondrial genes and turn a fraction of cells into low-quality cells.

    Good cells get ~3% of their counts on the mitochondrial genes; low-quality cells
    (broken cells that lost cytoplasmic mRNA) keep 15-35% of their other counts and get
    25-60% mitochondrial counts. ``obs["quality"]`` says which.
    """
    n = counts.shape[0]
    weights = rng.dirichlet(np.full(len(names), 2.0))
    low = np.zeros(n, dtype=bool)
    low[rng.choice(n, int(round(frac_low_quality * n)), replace=False)] = True
    counts = counts.copy()
    counts[low] = rng.binomial(
        counts[low].astype(np.int64), rng.uniform(0.15, 0.35, (low.sum(), 1))
    )
    frac = np.where(low, rng.uniform(0.25, 0.6, n), rng.beta(3, 97, n))
    total = counts.sum(1)
    mito_total = total * frac / (1 - frac)
    mito = rng.poisson(mito_total[:, None] * weights[None, :])
    obs = obs.copy()
    obs["quality"] = np.where(low, "low_quality", "good")
    return np.hstack([counts, mito]), obs, list(names)


# ------------------------------------------------------------------ SERGIO
def _reference_edges(network: str) -> pd.DataFrame:
    ref = _sergio_ref()
    if network == "human":
        e = pd.read_csv(
            ref / "human.source", sep="\t", header=None, dtype=str, names=["reg", "r", "tar", "t"]
        )
        e = e[e["reg"].map(_symbol_ok) & e["tar"].map(_symbol_ok)]
        e = e[e["reg"].isin(_jaspar_tfs())]  # regulators a user's TF list would hold
    elif network == "ecoli":
        e = pd.read_csv(ref / "EcoliNet.v1.txt", sep="\t", header=None, names=["reg", "tar", "s"])
    else:
        raise ValueError(network)
    e = e[e["reg"] != e["tar"]][["reg", "tar"]].drop_duplicates()
    return e.reset_index(drop=True)


def sample_dag(
    edges: pd.DataFrame,
    n_genes: int,
    n_mrs: int,
    rng: np.random.Generator,
    max_in: int = 3,
    p_regulator: float = 0.35,
    allowed: set[str] | None = None,
) -> tuple[list[str], pd.DataFrame]:
    """A connected acyclic sub-network of a reference network, grown from master regulators.

    Genes are added one at a time among the targets of genes already in; a gene's
    regulators are the genes already in that regulate it in the reference (at most
    ``max_in``), so every edge points from an earlier gene to a later one (acyclic, as
    SERGIO's steady-state simulation needs). ``p_regulator`` of the additions are chosen
    among targets that are regulators themselves, giving several layers.
    """
    if allowed is not None:
        edges = edges[edges["reg"].isin(allowed) & edges["tar"].isin(allowed)]
    targets = edges.groupby("reg")["tar"].apply(list).to_dict()
    regs = set(targets)
    hubs = sorted(regs, key=lambda r: (-len(targets[r]), r))[: max(5 * n_mrs, 20)]
    mrs = list(rng.choice(hubs, n_mrs, replace=False))
    order, inside = list(mrs), set(mrs)
    hits: dict[str, list[str]] = {}
    for r in mrs:
        for t in targets[r]:
            hits.setdefault(t, []).append(r)
    chosen_edges = []
    while len(order) < n_genes:
        cand = [t for t in hits if t not in inside]
        if not cand:
            raise RuntimeError(f"the reference network has no more targets after {len(order)}")
        cand_regs = [t for t in cand if t in regs]
        pool = cand_regs if cand_regs and rng.random() < p_regulator else cand
        g = pool[rng.integers(len(pool))]
        rs = hits[g]
        rs = list(rng.choice(rs, max_in, replace=False)) if len(rs) > max_in else rs
        chosen_edges += [(r, g) for r in rs]
        order.append(g)
        inside.add(g)
        for t in targets.get(g, []):
            if t not in inside:
                hits.setdefault(t, []).append(g)
    return order, pd.DataFrame(chosen_edges, columns=["tf", "target"])


def sergio_simulate(
    genes: list[str],
    edges: pd.DataFrame,
    n_types: int,
    n_cells: int,
    rng: np.random.Generator,
    n_iter: int,
    noise_s: float = 1.0,
    dt: float = 0.2,
    markers_per_type: int = 2,
    low: tuple[float, float] = (0.5, 1.5),
    high: tuple[float, float] = (4.0, 6.0),
):
    """Clean steady-state expression from SERGIO: (cells x genes, labels, edges, ss).

    SERGIO is slow in pure Python (every step appends to per-gene arrays), so each type
    is simulated for ``n_iter`` steps (its default is 10 per cell) and the cells are drawn
    from the trajectory. Edge strengths are drawn as SERGIO's ``parameterize_grn`` does
    (75% activation, K in [1, 5]; repression in [-5, -1]; Hill n = 2; decay 0.8) and the
    master regulators' production rates per type by ``mrProfile.build_rnd_complex`` (one
    marker regulator per type, the others high in several types).
    """
    from SERGIO import sergio
    from SERGIO.GRN._components import Gene, SingleInteraction
    from SERGIO.GRN._grn import GRN
    from SERGIO.MR._profile import mrProfile

    grn = GRN()
    signs = []
    for tf, target in edges.itertuples(index=False):
        act = rng.random() < 0.75
        k = rng.uniform(1, 5) if act else -rng.uniform(1, 5)
        signs.append("activation" if act else "repression")
        grn.add_interaction(
            SingleInteraction(
                reg=[Gene(name=tf, decay=0.8)], tar=Gene(name=target, decay=0.8), k=k, n=2
            )
        )
    grn.setMRs()
    mrs = sorted(grn.get_mrs())
    profile = mrProfile(MR_names=mrs, n_types=n_types)
    profile.build_rnd_complex(
        nMarker_per_type=markers_per_type, nLow=0, nHigh=0, low=list(low), high=list(high)
    )
    grn.init(profile, update_half_resp=True)
    sim = sergio(grn)
    safety = 50
    sim.simulate(
        nCells=max(1, n_iter // 10), noise_s=noise_s, safety_iter=safety, scale_iter=10, dt=dt
    )
    sizes = np.bincount(
        rng.choice(n_types, n_cells, p=rng.dirichlet(np.full(n_types, 8.0))), minlength=n_types
    )
    blocks, labels = [], []
    for t in range(n_types):
        traj = np.stack([np.asarray(grn.attr_["genes"][g].sim_conc_[t][safety:]) for g in genes], 1)
        idx = rng.choice(len(traj), sizes[t], replace=sizes[t] > len(traj))
        blocks.append(traj[idx])
        labels += [f"type_{t}"] * sizes[t]
    ss = pd.DataFrame(
        np.stack([grn.attr_["genes"][g].ss_conc_ for g in genes]),
        index=genes,
        columns=[f"type_{t}" for t in range(n_types)],
    )
    return np.vstack(blocks), np.array(labels), edges.assign(sign=signs), ss


def sergio_markers(ss: pd.DataFrame, n_max: int = 20, min_lfc: float = 1.0) -> pd.DataFrame:
    """Markers of each type from SERGIO's steady states: highest in that type and at
    least 2x (``min_lfc`` log2) the mean of the other types; at most ``n_max``, the
    largest fold changes first."""
    rows = []
    eps = 0.05 * float(np.median(ss.to_numpy()))  # a floor so that near-zero genes don't win
    for t in ss.columns:
        rest = ss.drop(columns=t)
        lfc = np.log2((ss[t] + eps) / (rest.mean(1) + eps))
        ok = (ss[t] >= ss.max(1)) & (lfc >= min_lfc)
        top = lfc[ok].sort_values(ascending=False).head(n_max)
        rows += [(t, g) for g in top.index]
    return pd.DataFrame(rows, columns=["cell_type", "gene"])


def splat_noise(expr: np.ndarray, depth: float, rng_seed: int, lib_sd: float = 0.35):
    """SERGIO's splat-style technical noise on cells x genes: outlier genes, log-normal
    library sizes around ``depth`` UMIs, Poisson UMI sampling (SERGIO works genes x cells)."""
    from SERGIO.Noise._noise import splatModel

    np.random.seed(rng_seed)  # noqa: NPY002  (SERGIO draws from numpy's global generator)
    model = splatModel()
    x = model.outlier_effect(expr.T.copy(), outlier_prob=0.01, mean=0.8, scale=1.0)
    x = model.lib_size_effect(x, mean=np.log(depth), scale=lib_sd)
    return model.convert_to_UMIcounts(x).T


def build_sergio(
    out: Path,
    *,
    seed: int,
    network: str,
    n_genes: int,
    n_mrs: int,
    n_types: int,
    n_cells: int,
    n_iter: int,
    depth: float,
    n_batches: int = 1,
    mito: bool = False,
    mouse: bool = False,
    doublets: bool = True,
    give_tfs: bool = True,
) -> dict:
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # noqa: NPY002  (SERGIO draws from numpy's global generator)
    ref = _reference_edges(network)
    allowed = None
    h2m = _human_to_mouse() if mouse else None
    if mouse:
        allowed = {g for g in set(ref["reg"]) | set(ref["tar"]) if g in h2m}
    genes, edges = sample_dag(ref, n_genes, n_mrs, rng, allowed=allowed)
    # the parents of a doublet leave the data: simulate enough cells to end with n_cells
    n_sim = int(round(n_cells * (1 + DOUBLET_RATE))) if doublets else n_cells
    expr, labels, edges, ss = sergio_simulate(genes, edges, n_types, n_sim, rng, n_iter)
    # batches: gene-wise log-normal factors and a depth shift per batch (e.g. chemistry)
    batch = rng.integers(n_batches, size=len(labels))
    counts = np.zeros_like(expr)
    for b in range(n_batches):
        m = batch == b
        factor = rng.lognormal(0, 0.4, len(genes)) if n_batches > 1 else 1.0
        b_depth = depth * (0.7 + 0.3 * b) if n_batches > 1 else depth
        counts[m] = splat_noise(expr[m] * factor, b_depth, seed * 100 + b)
    obs = pd.DataFrame(
        {"cell_type": labels, "quality": "good"},
        index=[f"cell_{i:05d}" for i in range(len(labels))],
    )
    batch_key = None
    if n_batches > 1:
        obs["batch"] = [f"batch{b + 1}" for b in batch]
        batch_key = "batch"
    markers = sergio_markers(ss)
    if mito:
        names = [h2m[g] for g in MT_GENES] if mouse else MT_GENES
        counts, obs, mt = add_mito(counts, obs, rng, names)
        genes = list(genes) + mt
    if doublets:
        eligible = (obs["quality"] == "good").to_numpy()
        counts, obs = inject_doublets(
            counts, obs, "cell_type", rng, batch_key=batch_key, eligible=eligible
        )
    if mouse:
        rename = {g: h2m[g] for g in genes if g in h2m}
        genes = [rename.get(g, g) for g in genes]
        edges = edges.assign(tf=edges["tf"].map(rename), target=edges["target"].map(rename))
        markers = markers.assign(gene=markers["gene"].map(rename))
    adata = _to_anndata(counts, obs, genes)
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    adata.write_h5ad(out / "rna.h5ad", compression="gzip")
    edges[["tf", "target", "sign"]].to_csv(out / "truth" / "grn.tsv", sep="\t", index=False)
    markers.to_csv(out / "truth" / "markers.tsv", sep="\t", index=False)
    tfs = sorted(set(edges["tf"]))
    (out / "regulators.txt").write_text("\n".join(tfs) + "\n")
    ds = {
        "rna": "rna.h5ad",
        "label_key": "cell_type",
        "batch_key": batch_key,
        "truth": "truth",
        "grn_reference": "truth/grn.tsv",
    }
    if give_tfs:
        ds["tfs"] = "regulators.txt"
    return {
        "dataset": ds,
        "truth": {
            "markers": f"{len(markers)} markers of {markers['cell_type'].nunique()} types "
            f"(per type {markers.groupby('cell_type').size().min()}-"
            f"{markers.groupby('cell_type').size().max()})",
            "grn": f"{len(edges)} edges from {len(tfs)} regulators",
        },
        "n_mrs": n_mrs,
    }


# ------------------------------------------------------------------ krumsiek11
def build_krumsiek11(out: Path, *, seed: int) -> dict:
    src = REPO / "resources" / "krumsiek11"
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    a = ad.read_h5ad(src / "rna.h5ad")
    a.obs["quality"] = pd.Categorical(
        ["good"] * a.n_obs, categories=["good", "low_quality", "doublet"]
    )
    a.write_h5ad(out / "rna.h5ad")
    shutil.copy(src / "grn.tsv", out / "truth" / "grn.tsv")
    shutil.copy(src / "tfs.txt", out / "tfs.txt")
    return {
        "dataset": {
            "rna": "rna.h5ad",
            "label_key": "cell_type",
            "tfs": "tfs.txt",
            "grn_reference": "truth/grn.tsv",
        },
        "truth": {"grn": "26 edges of the published Boolean network (no markers, no doublets)"},
    }


# ------------------------------------------------------------------ real 10x PBMC
def read_celltypist_sample() -> ad.AnnData:
    """celltypist's 10x PBMC sample (559 cells x 32,786 genes) as integer counts."""
    import celltypist.samples as samples

    cells, rows = [], []
    with open(samples.get_sample_csv()) as fh:  # plain parsing: ~3x faster than pandas here
        genes = fh.readline().rstrip("\n").split(",")[1:]
        for line in fh:
            cell, rest = line.rstrip("\n").split(",", 1)
            cells.append(cell)
            rows.append(sparse.csr_matrix(np.rint(np.array(rest.split(","), dtype=np.float64))))
    X = sparse.vstack(rows).tocsr().astype(np.float32)
    return ad.AnnData(X, obs=pd.DataFrame(index=cells), var=pd.DataFrame(index=genes))


def leiden_labels(a: ad.AnnData, seed: int = 0) -> pd.Series:
    """scanpy's standard clustering: the labels a user without annotation would have."""
    import scanpy as sc

    b = a.copy()
    sc.pp.filter_genes(b, min_cells=3)
    sc.pp.normalize_total(b, target_sum=1e4)
    sc.pp.log1p(b)
    sc.pp.highly_variable_genes(b, n_top_genes=2000)
    sc.pp.pca(b, n_comps=30, mask_var="highly_variable", random_state=seed)
    sc.pp.neighbors(b, n_neighbors=15, random_state=seed)
    sc.tl.leiden(b, resolution=1.0, flavor="igraph", n_iterations=2, random_state=seed)
    return ("cluster_" + b.obs["leiden"].astype(str)).rename("leiden")


_PBMC_CACHE: dict = {}


def _pbmc() -> ad.AnnData:
    if "a" not in _PBMC_CACHE:
        a = read_celltypist_sample()
        a.obs["leiden"] = leiden_labels(a).to_numpy()
        _PBMC_CACHE["a"] = a
    return _PBMC_CACHE["a"].copy()


def build_pbmc(out: Path, *, seed: int, ensembl: bool = False, n_unlabelled: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    a = _pbmc()
    obs = a.obs[["leiden"]].copy()
    counts, obs = inject_doublets(a.X, obs, "leiden", rng)
    genes = list(a.var_names)
    var = pd.DataFrame(index=genes)
    note = ""
    if ensembl:
        table = pd.read_csv(
            _celltypist_samples() / "GENCODEv44_Gene_id2name.csv",
            header=None,
            names=["id", "symbol"],
            dtype=str,
        ).drop_duplicates("symbol")
        ids = dict(zip(table["symbol"], table["id"], strict=True))
        cols, seen = [], set()
        for i, g in enumerate(genes):
            if g in ids and ids[g] not in seen:
                cols.append(i)
                seen.add(ids[g])
        counts = counts[:, cols]
        var = pd.DataFrame(
            {"feature_name": [genes[i] for i in cols]}, index=[ids[genes[i]] for i in cols]
        )
        note = (
            f"{len(var)} of {len(genes)} symbols mapped to GENCODE v44 gene IDs (the rest dropped)"
        )
        genes = list(var.index)
    if n_unlabelled:
        good = np.flatnonzero(obs["quality"].to_numpy() == "good")
        lab = obs["leiden"].astype(object).to_numpy()
        lab[rng.choice(good, n_unlabelled, replace=False)] = np.nan
        obs["leiden"] = lab
    adata = ad.AnnData(sparse.csr_matrix(counts, dtype=np.float32), obs=obs, var=var)
    adata.obs["quality"] = pd.Categorical(
        adata.obs["quality"].astype(str), categories=["good", "low_quality", "doublet"]
    )
    adata.obs["doublet_of"] = pd.Categorical(adata.obs["doublet_of"].astype(str))
    adata.obs["leiden"] = pd.Categorical(adata.obs["leiden"])
    out.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(out / "rna.h5ad", compression="gzip")
    sizes = adata.obs["leiden"].value_counts()
    return {
        "dataset": {"rna": "rna.h5ad", "label_key": "leiden"},
        "truth": {
            "quality": "injected doublets only; the real cells are all called good "
            "(they may hold real low-quality cells and doublets)",
            "labels": f"{len(sizes)} Leiden clusters, {sizes.min()}-{sizes.max()} cells"
            + (f"; {n_unlabelled} cells without a label (NaN)" if n_unlabelled else ""),
        },
        "note": note,
    }


# ------------------------------------------------------------------ gamma-Poisson programs
def _human_symbols(rng, n: int) -> list[str]:
    table = pd.read_csv(
        _celltypist_samples() / "GENCODEv44_Gene_id2name.csv",
        header=None,
        names=["id", "symbol"],
        dtype=str,
    )
    pool = sorted(
        {
            s
            for s in table["symbol"].dropna()
            if _symbol_ok(s)
            and not s.startswith(("RPL", "RPS", "MT", "LINC", "OR"))
            and not re.search(r"\dP\d*$", s)  # pseudogenes (ZSWIM5P2)
            and len(s) <= 8
        }
    )
    return sorted(rng.choice(pool, n, replace=False))


def build_programs(
    out: Path,
    *,
    seed: int,
    n_cells: int = 4000,
    n_genes: int = 2000,
    n_types: int = 8,
    n_donors: int = 2,
    n_true: int = 10,
    n_decoy: int = 30,
    n_active: int = 15,
    n_markers: int = 20,
    depth: float = 3000.0,
    program_fc: float = 2.5,
    set_sizes: tuple[int, int] = (20, 60),
) -> dict:
    """Gene programs on Splatter's gamma-Poisson model.

    Gene means ~ Gamma(0.6, rate 0.3) (Splatter's defaults), 5% outlier genes; each type
    has ``n_markers`` marker genes up ~2.7x (log-normal fold changes). Each true program is
    a gene set of ``set_sizes`` genes (not markers) switched on in one or two types
    (``n_active`` pairs in all); in those cells its genes rise by the program's fold
    change (log-normal around ``program_fc``) times a per-cell activity ~ Gamma(4, 1/4), so the genes co-vary. Decoys
    are random genes outside every program. Donors: gene-wise log-normal factors (sd 0.2)
    and depths; library sizes log-normal around ``depth``; biological CV as Splatter
    (0.1 + 1/sqrt(mean), chi-square scaled with 60 df); Poisson counts.
    """
    rng = np.random.default_rng(seed)
    n_cells = int(round(n_cells * (1 + DOUBLET_RATE)))  # doublets consume their parents
    genes = _human_symbols(rng, n_genes)
    base = rng.gamma(0.6, 1 / 0.3, n_genes)
    outlier = rng.random(n_genes) < 0.05
    base[outlier] *= rng.lognormal(1.5, 0.5, outlier.sum())
    types = rng.choice(n_types, n_cells, p=rng.dirichlet(np.full(n_types, 6.0)))
    donor = rng.integers(n_donors, size=n_cells)
    perm = rng.permutation(n_genes)
    markers = perm[: n_types * n_markers].reshape(n_types, n_markers)
    rest = perm[n_types * n_markers :]
    mu = np.tile(base, (n_cells, 1))
    for t in range(n_types):
        fc = rng.lognormal(1.0, 0.3, n_markers)
        mu[np.ix_(types == t, markers[t])] *= fc
    # true programs: disjoint from the markers; decoys: from genes in no program
    sizes = rng.integers(set_sizes[0], set_sizes[1] + 1, n_true + n_decoy)
    programs = [rng.choice(rest, sizes[p], replace=False) for p in range(n_true)]
    in_program = np.unique(np.concatenate(programs))
    decoy_pool = np.setdiff1d(rest, in_program)
    decoys = [rng.choice(decoy_pool, sizes[n_true + d], replace=False) for d in range(n_decoy)]
    pairs = [(p, int(rng.integers(n_types))) for p in range(n_true)]
    while len(pairs) < n_active:
        pair = (int(rng.integers(n_true)), int(rng.integers(n_types)))
        if pair not in pairs:
            pairs.append(pair)
    for p, t in pairs:
        cells = np.flatnonzero(types == t)
        activity = rng.gamma(4.0, 0.25, cells.size)
        fc = rng.lognormal(np.log(program_fc), 0.3, programs[p].size)
        mu[np.ix_(cells, programs[p])] *= 1 + activity[:, None] * (fc[None, :] - 1)
    for d in range(n_donors):
        m = donor == d
        mu[m] *= rng.lognormal(0, 0.2, n_genes)[None, :]
    lib = rng.lognormal(np.log(depth), 0.35, n_cells) * (1.0 + 0.3 * donor)
    # a floor keeps the BCV finite for genes with a vanishing mean (gamma draws near 0)
    mu = np.maximum(mu / mu.sum(1, keepdims=True) * lib[:, None], 1e-12)
    bcv = (0.1 + 1 / np.sqrt(mu)) * np.sqrt(60 / rng.chisquare(60, n_genes))[None, :]
    shape = 1 / bcv**2
    counts = rng.poisson(rng.gamma(shape, mu / shape)).astype(np.float32)
    names = [f"cell_type_{t}" for t in range(n_types)]
    obs = pd.DataFrame(
        {
            "cell_type": [names[t] for t in types],
            "donor": [f"donor{d + 1}" for d in donor],
            "quality": "good",
        },
        index=[f"cell_{i:05d}" for i in range(n_cells)],
    )
    counts, obs = inject_doublets(counts, obs, "cell_type", rng, batch_key="donor")
    # neutral, shuffled set names: a name must not tell a program from a decoy
    all_sets = [("program", i, s) for i, s in enumerate(programs)] + [
        ("decoy", i, s) for i, s in enumerate(decoys)
    ]
    order = rng.permutation(len(all_sets))
    gmt, truth = {}, []
    active = {(p, t) for p, t in pairs}
    for k, idx in enumerate(order):
        kind, i, members = all_sets[idx]
        name = f"GS{k + 1:02d}"
        gmt[name] = [genes[g] for g in sorted(members)]
        for t in range(n_types):
            truth.append((name, names[t], kind == "program" and (i, t) in active, kind == "decoy"))
    from scinterp.priors import write_gmt

    out.mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    _to_anndata(counts, obs, genes).write_h5ad(out / "rna.h5ad", compression="gzip")
    write_gmt(gmt, out / "gene_sets.gmt")
    pd.DataFrame(truth, columns=["program", "cell_type", "active", "decoy"]).to_csv(
        out / "truth" / "programs.tsv", sep="\t", index=False
    )
    pd.DataFrame(
        [(names[t], genes[g]) for t in range(n_types) for g in markers[t]],
        columns=["cell_type", "gene"],
    ).to_csv(out / "truth" / "markers.tsv", sep="\t", index=False)
    return {
        "dataset": {
            "rna": "rna.h5ad",
            "label_key": "cell_type",
            "batch_key": "donor",
            "gene_sets": "gene_sets.gmt",
            "truth": "truth",
        },
        "truth": {
            "programs": f"{n_true} true + {n_decoy} decoy gene sets (gene_sets.gmt), "
            f"{n_active} active (program, cell type) pairs of {len(truth)}",
            "markers": f"{n_markers} per type, {n_types} types",
        },
    }


# ------------------------------------------------------------------ confounded GRN
def build_confounded_grn(
    out: Path,
    *,
    seed: int,
    n_cells: int = 2400,
    n_genes: int = 600,
    n_types: int = 6,
    n_regulators: int = 20,
    n_inert: int = 20,
    n_targets: int = 160,
    n_factors: int = 3,
    shift_sd: float = 0.6,
    within_sd: float = 0.5,
    depth: float = 4000.0,
) -> dict:
    """A regulatory network whose cell types confound co-variation (issue 33), on the
    gamma-Poisson model of :func:`build_programs`.

    Each cell type shifts most genes (TFs, targets and unregulated genes alike, 70%) on
    the log scale by ``L_g . F_type``: ``n_factors`` type factors ``F`` ~ N(0, 1) and
    gene loadings ``L`` ~ N(0, ``shift_sd``), so many genes share one pattern of type
    shifts (a type-level sd of about 1). A TF's log activity is its type's shift plus
    within-type variation ~ N(0, ``within_sd``); each of ``n_targets`` targets has 1 or 2
    of the ``n_regulators`` regulating TFs, and its log mean adds ``w * (activity - the
    TF's baseline)`` (|w| ~ U(0.6, 1.2), signed) to its own type shift. ``n_inert`` TFs
    (in the TF list) regulate nothing. Over all cells a TF correlates with every gene
    that shares its type pattern; within a type only its targets follow it. Counts:
    library sizes log-normal around ``depth``, BCV 0.1 + 1/sqrt(mean) (chi-square 60 df),
    Poisson, 3% heterotypic doublets. Truth: grn.tsv (tf, target, sign).
    """
    rng = np.random.default_rng(seed)
    n_sim = int(round(n_cells * (1 + DOUBLET_RATE)))
    genes = _human_symbols(rng, n_genes)
    n_tfs = n_regulators + n_inert
    order = rng.permutation(n_genes)
    tf_idx, target_idx = order[:n_tfs], order[n_tfs : n_tfs + n_targets]
    regulators = tf_idx[:n_regulators]
    types = rng.choice(n_types, n_sim, p=rng.dirichlet(np.full(n_types, 4.0)))
    factors = rng.normal(size=(n_types, n_factors))
    loadings = rng.normal(0, shift_sd, (n_genes, n_factors))
    loadings[rng.random(n_genes) >= 0.7] = 0.0
    shift = (factors @ loadings.T)[types]  # cells x genes
    base = np.log(rng.gamma(2.0, 1.0, n_genes) + 0.5)
    log_mu = base[None, :] + shift
    activity = shift[:, tf_idx] + rng.normal(0, within_sd, (n_sim, n_tfs))
    log_mu[:, tf_idx] = base[tf_idx][None, :] + activity
    edges = []
    col = {g: i for i, g in enumerate(tf_idx)}
    for g in target_idx:
        for t in rng.choice(regulators, rng.integers(1, 3), replace=False):
            w = rng.uniform(0.6, 1.2) * rng.choice([-1.0, 1.0])
            log_mu[:, g] += w * activity[:, col[t]]
            edges.append((genes[t], genes[g], "+" if w > 0 else "-"))
    mu = np.exp(log_mu)
    lib = rng.lognormal(np.log(depth), 0.35, n_sim)
    mu = np.maximum(mu / mu.sum(1, keepdims=True) * lib[:, None], 1e-12)
    bcv = (0.1 + 1 / np.sqrt(mu)) * np.sqrt(60 / rng.chisquare(60, n_genes))[None, :]
    shape = 1 / bcv**2
    counts = rng.poisson(rng.gamma(shape, mu / shape)).astype(np.float32)
    names = [f"cell_type_{t}" for t in range(n_types)]
    obs = pd.DataFrame(
        {"cell_type": [names[t] for t in types], "quality": "good"},
        index=[f"cell_{i:05d}" for i in range(n_sim)],
    )
    counts, obs = inject_doublets(counts, obs, "cell_type", rng)
    out.mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)
    _to_anndata(counts, obs, genes).write_h5ad(out / "rna.h5ad", compression="gzip")
    edges = pd.DataFrame(edges, columns=["tf", "target", "sign"])
    edges.to_csv(out / "truth" / "grn.tsv", sep="\t", index=False)
    (out / "tfs.txt").write_text("\n".join(sorted(genes[t] for t in tf_idx)) + "\n")
    return {
        "dataset": {
            "rna": "rna.h5ad",
            "label_key": "cell_type",
            "tfs": "tfs.txt",
            "truth": "truth",
            "grn_reference": "truth/grn.tsv",
        },
        "truth": {
            "grn": f"{len(edges)} edges from {n_regulators} regulators; {n_inert} inert TFs; "
            f"{n_types} types sharing {n_factors} type factors"
        },
    }


# ------------------------------------------------------------------ registry
# name -> (builder, kwargs, source, what it probes)
DATASETS = {
    "sergio_panel": (
        build_sergio,
        dict(
            seed=11,
            network="human",
            n_genes=100,
            n_mrs=12,
            n_types=5,
            n_cells=2000,
            n_iter=2000,
            depth=1500,
        ),
        "SERGIO, sub-network of its human reference network (100 genes, 12 master regulators), 5 types",
        "a ~100-gene targeted panel: QC floors (min_genes 200 > genes), HVG count > genes, "
        "few gene-set genes; GRN against its network; 3% doublets",
    ),
    "sergio_1k_batches": (
        build_sergio,
        dict(
            seed=12,
            network="human",
            n_genes=1000,
            n_mrs=24,
            n_types=6,
            n_cells=3000,
            n_iter=1000,
            depth=3000,
            n_batches=3,
            mito=True,
            give_tfs=False,
        ),
        "SERGIO, human reference sub-network (1,000 genes + 13 MT- genes), 6 types, 3 batches",
        "~1,000 genes, 3 batches with gene-wise batch effects and depth shifts, default TF list "
        "(JASPAR), 4% low-quality cells, 3% doublets",
    ),
    "sergio_mouse_small": (
        build_sergio,
        dict(
            seed=13,
            network="human",
            n_genes=300,
            n_mrs=10,
            n_types=4,
            n_cells=260,
            n_iter=800,
            depth=2500,
            mito=True,
            mouse=True,
            give_tfs=False,
        ),
        "SERGIO, human reference sub-network renamed to mouse orthologs (Ensembl 105), 4 types",
        "few cells (<= 300), mouse-style symbols (Gata1, mt-Co1) against upper-case defaults "
        "(hallmark, JASPAR TF list), low-quality cells, doublets",
    ),
    "sergio_ecoli": (
        build_sergio,
        dict(
            seed=14,
            network="ecoli",
            n_genes=600,
            n_mrs=12,
            n_types=4,
            n_cells=1600,
            n_iter=1000,
            depth=2500,
        ),
        "SERGIO, sub-network of its EcoliNet reference (b-numbers), 4 types",
        "1,600 x 600 genes that overlap no set of hallmark.gmt (nor the TF list): the prior-"
        "based models cannot run, the MLP can; GRN against its network; doublets",
    ),
    "krumsiek11": (
        build_krumsiek11,
        dict(seed=0),
        "scanpy's krumsiek11 simulation (Boolean myeloid network), pseudo-counts of resources/krumsiek11",
        "11 genes, 640 cells, continuous levels as Poisson pseudo-counts; GRN reference only",
    ),
    "pbmc10x": (
        build_pbmc,
        dict(seed=21),
        "celltypist's real 10x PBMC sample (559 cells x 32,786 genes), Leiden labels",
        "real counts and real QC distribution; 3% injected heterotypic doublets; no marker truth",
    ),
    "pbmc_ensembl": (
        build_pbmc,
        dict(seed=22, ensembl=True, n_unlabelled=5),
        "the same real PBMC sample, var_names as GENCODE v44 Ensembl gene IDs",
        "Ensembl IDs (no symbol matches any gene set, TF list or MT- prefix; symbols in "
        "var['feature_name'] as on CELLxGENE), 5 cells without a label, 3% doublets",
    ),
    "gp_programs": (
        build_programs,
        dict(seed=31),
        "gamma-Poisson (Splatter-style) generator of benchmarks/datasets.py, 2 donors, 8 types",
        "gene-program truth: 10 true + 30 decoy sets, 15 active pairs; 4,000 x 2,000; markers; "
        "donor effect; 3% doublets",
    ),
    "gp_programs_sparse": (
        build_programs,
        dict(
            seed=32,
            n_cells=1200,
            n_genes=3000,
            n_types=6,
            n_donors=3,
            n_true=12,
            n_decoy=24,
            n_active=16,
            depth=1500.0,
            program_fc=1.8,
            set_sizes=(15, 40),
        ),
        "gamma-Poisson (Splatter-style) generator of benchmarks/datasets.py, 3 donors, 6 types",
        "gene-program truth on harder data: 1,200 cells x 3,000 genes at ~1,500 UMIs, weaker "
        "programs (~1.8x), 12 true + 24 decoy sets of 15-40 genes, 16 active pairs; 3 donors; "
        "3% doublets",
    ),
}


def _resolve(ds: dict, root: Path) -> dict:
    out = {}
    for k, v in ds.items():
        if v is None:
            continue
        out[k] = (
            str((root / v).resolve())
            if k in {"rna", "tfs", "gene_sets", "truth", "grn_reference"}
            else v
        )
    return out


def build(name: str, out: Path) -> dict:
    """Build one dataset into ``out/<name>/``: files, config.yaml and meta.json."""
    builder, kwargs, source, probes = DATASETS[name]
    root = out / name
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    meta = builder(root, **kwargs)
    ds = _resolve(meta.pop("dataset"), root)
    a = ad.read_h5ad(root / "rna.h5ad", backed="r")
    quality = a.obs["quality"].astype(str).value_counts().to_dict() if "quality" in a.obs else {}
    genes_up = {g.upper() for g in a.var_names}
    meta.update(
        name=name,
        source=source,
        probes=probes,
        n_cells=int(a.n_obs),
        n_genes=int(a.n_vars),
        quality=quality,
        n_labels=int(a.obs[ds["label_key"]].nunique()) if ds.get("label_key") else None,
        hallmark_genes_present=len(genes_up & _hallmark_genes()),
        jaspar_tfs_present=len(genes_up & _jaspar_tfs()),
        example_genes=list(map(str, a.var_names[:3])) + list(map(str, a.var_names[-2:])),
        files=sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()),
        seconds=round(time.perf_counter() - t0, 1),
        dataset=ds,
    )
    a.file.close()
    (root / "config.yaml").write_text(yaml.safe_dump({"datasets": {name: ds}}, sort_keys=False))
    (root / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    return meta


def write_index(out: Path) -> Path:
    metas = [
        json.loads((out / n / "meta.json").read_text())
        for n in DATASETS
        if (out / n / "meta.json").exists()
    ]
    lines = [
        "# Generalization benchmark datasets (issue 14)",
        "",
        "Written by `python -m benchmarks.datasets --out "
        + str(out)
        + "` (seeded, deterministic).",
        "None was made by `scinterp.simulate`. Each folder holds `rna.h5ad` (raw integer counts",
        "in .X), `config.yaml` (the workflow's dataset keys, absolute paths, nothing tuned:",
        "`snakemake --cores 2 --configfile <dir>/config.yaml`), `meta.json`, and `truth/` where",
        "the generator gives ground truth. obs `quality` is good / low_quality / doublet.",
        "",
        "| dataset | cells x genes | labels | quality (obs) | hallmark genes / JASPAR TFs present | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for m in metas:
        q = ", ".join(f"{k} {v}" for k, v in sorted(m["quality"].items()))
        lines.append(
            f"| {m['name']} | {m['n_cells']:,} x {m['n_genes']:,} | {m['n_labels']} "
            f"(`{m['dataset'].get('label_key')}`) | {q} | {m['hallmark_genes_present']} / "
            f"{m['jaspar_tfs_present']} | {m['source']} |"
        )
    lines.append("")
    for m in metas:
        lines += [f"## {m['name']}", "", f"- probes: {m['probes']}"]
        for k, v in m.get("truth", {}).items():
            lines.append(f"- truth, {k}: {v}")
        if m.get("note"):
            lines.append(f"- note: {m['note']}")
        lines.append(f"- genes, e.g.: {', '.join(m['example_genes'])}")
        lines.append("- dataset keys: " + ", ".join(f"`{k}: {v}`" for k, v in m["dataset"].items()))
        lines.append(f"- files: {', '.join(m['files'])}; built in {m['seconds']} s")
        lines.append("")
    path = out / "INDEX.md"
    path.write_text("\n".join(lines))
    return path


# ------------------------------------------------------------------ the one source
DEFAULT_ROOT = REPO / "benchmarks" / "out" / "datasets"


def root_dir(root: Path | str | None = None) -> Path:
    """Where the datasets live: ``root``, else ``$SCINTERP_BENCH_DATASETS``, else
    benchmarks/out/datasets."""
    return Path(root or os.environ.get("SCINTERP_BENCH_DATASETS") or DEFAULT_ROOT).resolve()


def ensure(names, root: Path | str | None = None) -> Path:
    """The datasets' folder, with every dataset of ``names`` built in it.

    Missing ones are built now, one builder at a time (a file lock, so that benchmarks
    started together do not build the same dataset twice); built ones are reused.
    """
    names = [names] if isinstance(names, str) else list(names)
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; known: {', '.join(DATASETS)}")
    root = root_dir(root)
    if all((root / n / "meta.json").exists() for n in names):
        return root
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in names:
            if not (root / name / "meta.json").exists():  # another process may have built it
                m = build(name, root)
                print(f"{name}: built in {m['seconds']} s ({root / name})", flush=True)
        write_index(root)
        if all((root / n / "meta.json").exists() for n in DATASETS):
            (root / "READY").touch()
    return root


def dataset_config(name: str, root: Path | str | None = None, compare: bool = True) -> dict:
    """The workflow config of one dataset (built if missing): its own keys and the
    comparison switch, nothing tuned, every global section at its default."""
    path = ensure([name], root) / name / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    return {"datasets": {name: cfg["datasets"][name]}, "compare": compare}


def labelled(root: Path | str | None = None) -> list[str]:
    """The datasets with marker truth (truth/markers.tsv), in name order, built if missing."""
    root = ensure(list(DATASETS), root)
    return sorted(p.parent.parent.name for p in root.glob("*/truth/markers.tsv"))


def workflow_output(
    name: str,
    target: str,
    workdir: Path,
    *,
    root: Path | str | None = None,
    compare: bool = True,
    cores: int = 1,
    overrides: dict | None = None,
) -> Path:
    """``workdir/results/<name>/<target>``, made by the workflow on the dataset when missing.

    A benchmark that needs a workflow output (normalized.h5ad, identity/genes.tsv ...)
    asks for it here and gets it in its own working directory, never from another
    benchmark's leftovers. ``overrides`` (sections merged over the config, e.g. the smoke
    cases' ``{"train": {"max_epochs": 2}}``) are for tests, never for published figures.
    """
    from benchmarks import harness  # not at the top: `python -m benchmarks.datasets` works

    workdir = Path(workdir)
    path = workdir / "results" / name / target
    if path.exists():
        return path
    workdir.mkdir(parents=True, exist_ok=True)
    cfg_path = workdir / "config.yaml"
    cfg = dataset_config(name, root, compare)
    for section, keys in (overrides or {}).items():
        cfg[section] = {**cfg.get(section, {}), **keys}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = harness.run_workflow(workdir, cfg_path, cores=cores, targets=[f"results/{name}/{target}"])
    if res.rc != 0 or not path.exists():
        raise SystemExit(f"{name}: {target} failed (rc {res.rc}); see {workdir / 'snakemake.log'}")
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(root_dir()))
    ap.add_argument("--only", default=None, help="comma-separated dataset names (default: all)")
    ap.add_argument("--smoke", action="store_true", help="krumsiek11 only (0.5 s)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.only = "krumsiek11"
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    names = args.only.split(",") if args.only else list(DATASETS)
    unknown = set(names) - set(DATASETS)
    if unknown:
        raise SystemExit(f"unknown dataset(s) {sorted(unknown)}; known: {', '.join(DATASETS)}")
    (out / "READY").unlink(missing_ok=True)
    for name in names:
        m = build(name, out)
        print(
            f"{name}: {m['n_cells']} x {m['n_genes']}, quality {m['quality']}, {m['seconds']} s",
            flush=True,
        )
    write_index(out)
    if all((out / n / "rna.h5ad").exists() for n in DATASETS):
        (out / "READY").touch()
        print(f"all {len(DATASETS)} datasets in {out}; READY written")


if __name__ == "__main__":
    main()
