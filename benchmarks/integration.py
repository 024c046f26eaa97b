"""Batch integration benchmark (issue 31): the workflow's default (``normalize.integration``)
beside the unintegrated PCA, Harmony, scVI and Scanorama, scored with scIB's metrics.

Datasets (none made by ``scinterp.simulate``; all seeded, all offline):

* ``sergio_1k_batches``, ``gp_programs_sparse``: the generalization benchmark's datasets
  with batches (benchmarks/datasets.py; SERGIO needs ``pip install sergio-scSim==1.9.3``).
* ``gp_strong_unequal``: the gamma-Poisson (Splatter-style) model of benchmarks/datasets.py
  with a strong batch effect (gene-wise log-normal factors, sd 0.6, and depths 0.5x / 1x /
  2x) and unequal composition (each batch draws its type proportions from a Dirichlet).
* ``gp_isolated``: the same, with one cell type present in one batch only.
* ``pbmc_pseudobatches``: celltypist's real 10x PBMC sample (in its PyPI wheel; Leiden
  labels as in benchmarks/datasets.py) split at random into 3 pseudo-batches with a
  planted effect: library size x0.5 / x1 / x2 and gene-wise log-normal factors (sd 0.5),
  counts redrawn as Poisson(counts x factors).

Each dataset goes through the workflow's ``run_normalize`` (HVGs, log1p, PCA) without
integration; every method starts from that PCA (scVI from the HVG counts). Cells flagged
as injected doublets are dropped first (their label is one parent's). Metrics:
``scinterp.preprocess.integrate.embedding_metrics`` (scib-metrics) with Leiden at the workflow's
resolution on each method's embedding; ``overall`` = 0.4 batch + 0.6 bio.

``--demo`` adds the demo's Leiden ARIs (simulate + qc + normalize, no workflow run);
``--atlas N`` times Harmony (``scinterp.preprocess.integrate.harmony``) on the PCA of an N-cell
simulated atlas (benchmarks/atlas.py) and on that PCA tiled to 1M cells.

Run::

    python -m benchmarks.integration --out benchmarks/out/integration --demo --atlas 100000
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from benchmarks.harness import Measure, Stopwatch, peak_rss_mb, write_results
from benchmarks.harness import row as result_row

REPO = Path(__file__).resolve().parents[1]

METHODS = (
    "unintegrated",
    "harmony",
    "centred_pca",
    "centred_harmony",
    "scaled_pca",
    "scaled_harmony",
    "vae",
    "scvi",
    "scanorama",
    "combat",
)
DEFAULT = "scaled_harmony"  # normalize.integration's default (workflow/schemas/config.schema.yaml)
SHOWN = (
    "overall",
    "batch_correction",
    "bio_conservation",
    "ilisi",
    "silhouette_batch",
    "graph_connectivity",
    "pcr_batch",
    "leiden_ari",
    "leiden_nmi",
    "silhouette_label",
    "clisi",
    "isolated_labels",
    "leiden_batch_ari",
    "seconds",
)


# ------------------------------------------------------------------ datasets
def gamma_poisson_batches(
    seed: int,
    n_cells: int = 3000,
    n_genes: int = 2000,
    n_types: int = 6,
    n_batches: int = 3,
    batch_sd: float = 0.6,
    depth: float = 2500.0,
    isolated_type: int | None = None,
) -> ad.AnnData:
    """Splatter's gamma-Poisson model (as benchmarks/datasets.py's ``build_programs``:
    gamma gene means, 20 markers per type up ~2.7x, BCV 0.1 + 1/sqrt(mean), log-normal
    library sizes) with strong batches: per batch, gene-wise log-normal factors (sd
    ``batch_sd``), a depth of 0.5x, 1x, 2x ... and type proportions drawn from a
    Dirichlet(1) (unequal composition). ``isolated_type``: that type only in batch 0."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.6, 1 / 0.3, n_genes)
    perm = rng.permutation(n_genes)
    markers = perm[: n_types * 20].reshape(n_types, 20)
    batch = rng.integers(n_batches, size=n_cells)
    props = rng.dirichlet(np.ones(n_types), size=n_batches) + 0.02
    if isolated_type is not None:
        props[1:, isolated_type] = 0.0
    props /= props.sum(1, keepdims=True)
    types = np.array([rng.choice(n_types, p=props[b]) for b in batch])
    fc = np.ones((n_types, n_genes))
    for t in range(n_types):
        fc[t, markers[t]] = rng.lognormal(1.0, 0.3, 20)
    gene_factor = rng.lognormal(0, batch_sd, (n_batches, n_genes))
    mu = base[None, :] * fc[types] * gene_factor[batch]
    lib = rng.lognormal(np.log(depth), 0.35, n_cells) * (2.0 ** (np.arange(n_batches) - 1))[batch]
    mu = np.maximum(mu / mu.sum(1, keepdims=True) * lib[:, None], 1e-12)
    bcv = (0.1 + 1 / np.sqrt(mu)) * np.sqrt(60 / rng.chisquare(60, n_genes))[None, :]
    shape = 1 / bcv**2
    counts = rng.poisson(rng.gamma(shape, mu / shape)).astype(np.float32)
    obs = pd.DataFrame(
        {
            "cell_type": [f"type{t}" for t in types],
            "batch": [f"batch{b + 1}" for b in batch],
        },
        index=[f"cell_{i:05d}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"G{i:04d}" for i in range(n_genes)])
    return ad.AnnData(sparse.csr_matrix(counts), obs=obs, var=var)


def pbmc_pseudobatches(seed: int = 41, n_batches: int = 3) -> ad.AnnData:
    """celltypist's real PBMC sample (Leiden labels) split into pseudo-batches with a
    planted library-size (x0.5, x1, x2) and gene-wise (log-normal, sd 0.5) effect."""
    from benchmarks.datasets import _pbmc

    rng = np.random.default_rng(seed)
    a = _pbmc()
    batch = rng.integers(n_batches, size=a.n_obs)
    lib = (2.0 ** (np.arange(n_batches) - 1))[batch]
    gene = rng.lognormal(0, 0.5, (n_batches, a.n_vars))
    X = sparse.csr_matrix(a.X, dtype=np.float64)
    rows = np.repeat(np.arange(a.n_obs), np.diff(X.indptr))
    X.data = rng.poisson(X.data * lib[rows] * gene[batch[rows], X.indices]).astype(np.float64)
    X.eliminate_zeros()
    obs = pd.DataFrame(
        {
            "cell_type": a.obs["leiden"].astype(str).to_numpy(),
            "batch": [f"pb{b + 1}" for b in batch],
        },
        index=a.obs_names,
    )
    return ad.AnnData(X.astype(np.float32), obs=obs, var=a.var.copy())


def generalization_dataset(name: str, root: Path) -> ad.AnnData:
    """One of benchmarks/datasets.py's datasets (built into ``root`` if absent), with
    ``cell_type`` and ``batch`` columns and the injected doublets and low-quality cells
    removed."""
    from benchmarks.datasets import dataset_config

    ds = dataset_config(name, root)["datasets"][name]
    a = ad.read_h5ad(ds["rna"])
    if "quality" in a.obs:
        a = a[a.obs["quality"].astype(str) == "good"].copy()
    a.obs["cell_type"] = a.obs[ds["label_key"]].astype(str)
    a.obs["batch"] = a.obs[ds["batch_key"]].astype(str)
    mito = a.var_names.str.upper().str.startswith("MT-")
    return a[:, ~mito].copy()


def load(name: str, root: Path) -> ad.AnnData:
    if name in ("sergio_1k_batches", "gp_programs_sparse"):
        return generalization_dataset(name, root)
    if name == "gp_strong_unequal":
        return gamma_poisson_batches(seed=51)
    if name == "gp_isolated":
        return gamma_poisson_batches(seed=52, isolated_type=0)
    if name == "pbmc_pseudobatches":
        return pbmc_pseudobatches()
    if name == "gp_smoke":  # --smoke's (not among the benchmark's datasets)
        return gamma_poisson_batches(seed=53, n_cells=400, n_genes=300, n_types=3)
    raise KeyError(name)


DATASETS = (
    "sergio_1k_batches",
    "gp_programs_sparse",
    "gp_strong_unequal",
    "gp_isolated",
    "pbmc_pseudobatches",
)
# datasets whose every type occurs in every batch (the unlabelled-run target)
ISOLATED = {"gp_isolated"}


# ------------------------------------------------------------------ methods
def run_scvi(a: ad.AnnData, seed: int) -> np.ndarray:
    """scVI's latent (10 dims, scvi-tools defaults) on the HVG counts, batch as covariate."""
    import scvi
    import torch

    torch.set_num_threads(1)
    scvi.settings.seed = seed
    hv = a[:, a.var["highly_variable"].to_numpy()].copy()
    hv.X = hv.layers["counts"].copy()
    scvi.model.SCVI.setup_anndata(hv, batch_key="batch")
    model = scvi.model.SCVI(hv)
    model.train(accelerator="cpu", devices=1, enable_progress_bar=False)
    return np.asarray(model.get_latent_representation(), dtype=np.float32)


def run_scanorama(a: ad.AnnData) -> np.ndarray:
    """Scanorama (scanpy.external's wrapper) on the PCA; cells grouped by batch first."""
    import scanpy as sc

    order = np.argsort(a.obs["batch"].astype(str).to_numpy(), kind="stable")
    # scanpy's wrapper counts the cells on .X: an empty sparse matrix serves
    b = ad.AnnData(sparse.csr_matrix((a.n_obs, 1)), obs=a.obs.iloc[order][["batch"]].copy())
    b.obsm["X_pca"] = np.asarray(a.obsm["X_pca"])[order]
    sc.external.pp.scanorama_integrate(b, "batch", verbose=0)
    out = np.empty_like(b.obsm["X_scanorama"])
    out[order] = b.obsm["X_scanorama"]
    return out.astype(np.float32)


def run_combat(a: ad.AnnData) -> np.ndarray:
    """ComBat (scanpy's ``pp.combat``) on a dense copy of the log-normalized HVGs, then a
    PCA of as many components as the workflow's: a linear, gene-wise location/scale
    model of the batch (no covariates)."""
    import scanpy as sc

    b = a[:, a.var["highly_variable"].to_numpy()].copy()
    b.X = b.X.toarray()
    sc.pp.combat(b, key="batch")
    sc.pp.pca(b, n_comps=a.obsm["X_pca"].shape[1], random_state=0)
    return np.asarray(b.obsm["X_pca"], dtype=np.float32)


def evaluate(name: str, a: ad.AnnData, methods, seed: int = 0) -> list[dict]:
    from scinterp.preprocess.integrate import (
        aggregate,
        batch_centred_pca,
        embedding_metrics,
        harmony,
        hvg_matrix,
        leiden_clusters,
        scaled_harmony,
        vae_latent,
    )
    from scinterp.preprocess.normalize import run_normalize

    a = run_normalize(a, {"integration": "none"}, "batch", "cell_type", name, embed=False)
    X_pca = np.asarray(a.obsm["X_pca"], dtype=np.float32)
    batches = a.obs["batch"].astype(str).to_numpy()
    labels = a.obs["cell_type"].astype(str).to_numpy()
    rows = []
    for method in methods:
        sw = Stopwatch()
        if method == "unintegrated":
            X = X_pca
        elif method == "harmony":
            X = harmony(X_pca, batches, seed=seed, n_jobs=1)
        elif method in ("centred_pca", "centred_harmony", "scaled_pca"):
            # the default's parts: centring alone, centring + Harmony, centring + scaling
            hv = hvg_matrix(a)
            scale = method == "scaled_pca"
            X = batch_centred_pca(hv, batches, X_pca.shape[1], seed=seed, scale=scale)
            if method == "centred_harmony":
                X = harmony(X, batches, seed=seed, n_jobs=1)
        elif method == "scaled_harmony":
            X = scaled_harmony(hvg_matrix(a), batches, X_pca.shape[1], seed=seed, n_jobs=1)
        elif method == "vae":
            import torch

            torch.set_num_threads(1)  # as scVI's run (run_scvi): 1 thread, comparable
            X = vae_latent(a, batches, seed=seed)[0]
        elif method == "scvi":
            X = run_scvi(a, seed)
        elif method == "scanorama":
            X = run_scanorama(a)
        elif method == "combat":
            X = run_combat(a)
        else:
            raise KeyError(method)
        seconds = sw.wall()
        clusters = leiden_clusters(X, 15, 1.0, seed)
        m = embedding_metrics(
            X,
            batches,
            labels,
            X_pre=None if method == "unintegrated" else X_pca,
            clusters=clusters,
            seed=seed,
        )
        m.update(aggregate(m))
        m["seconds"] = seconds
        m["n_clusters"] = len(set(clusters))
        rows.append({"dataset": name, "method": method, "n_cells": a.n_obs, **m})
        print(name, method, {k: round(float(v), 3) for k, v in m.items()}, flush=True)
    return rows


# ------------------------------------------------------------------ demo and atlas
def demo_figures(seed: int = 0) -> dict:
    """Leiden ARI vs batch and vs cell type on the demo, without and with integration."""
    from sklearn.metrics import adjusted_rand_score

    from scinterp.preprocess.normalize import run_normalize
    from scinterp.preprocess.qc import run_qc
    from scinterp.simulate import simulate

    filtered = run_qc(simulate(seed=seed).rna, None, "batch", "demo")[0]
    out = {}
    for method in ("none", "harmony", "scaled_harmony"):
        a = run_normalize(filtered.copy(), {"integration": method}, "batch", "cell_type", "demo")
        out[method] = {
            "leiden_vs_batch_ari": adjusted_rand_score(a.obs["batch"], a.obs["leiden"]),
            "leiden_vs_type_ari": adjusted_rand_score(a.obs["cell_type"], a.obs["leiden"]),
            "n_clusters": int(a.obs["leiden"].nunique()),
        }
        print("demo", method, out[method], flush=True)
    return out


def atlas_timing(n_cells: int, workdir: Path, tile_to: int = 1_000_000) -> dict:
    """Harmony's wall time on the PCA of an ``n_cells`` simulated atlas (benchmarks/atlas.py,
    5,000 genes), and on that PCA tiled (with small noise) to ``tile_to`` cells."""

    from atlas import simulate_atlas

    from scinterp.preprocess.integrate import batch_centred_pca, harmony, hvg_matrix
    from scinterp.preprocess.normalize import run_normalize

    path = workdir / f"atlas_{n_cells}.h5ad"
    if not path.exists():
        simulate_atlas(path, n_cells, n_genes=5000)
    a = ad.read_h5ad(path)
    batch_col = next(c for c in ("batch", "sample", "donor") if c in a.obs.columns)
    sw = Stopwatch()
    a = run_normalize(a, {"integration": "none"}, batch_col, None, "atlas", embed=False)
    t_norm = sw.wall()
    X = np.asarray(a.obsm["X_pca"], dtype=np.float32)
    batches = a.obs[batch_col].astype(str).to_numpy()
    hv = hvg_matrix(a)
    del a
    out = {"n_cells": n_cells, "normalize_to_pca_s": t_norm, "n_batches": len(set(batches))}
    out["hvg_nnz"] = int(hv.nnz)
    for threads in (1, 2):
        sw = Stopwatch()
        harmony(X, batches, n_jobs=threads)
        out[f"harmony_s_{threads}threads"] = sw.wall()
        sw = Stopwatch()
        Z = batch_centred_pca(hv, batches, X.shape[1], scale=True)
        out[f"scaled_pca_s_{threads}threads"] = sw.wall()
        sw = Stopwatch()
        harmony(Z, batches, n_jobs=threads)
        out[f"scaled_harmony_s_{threads}threads"] = (
            sw.wall() + out[f"scaled_pca_s_{threads}threads"]
        )
        print("atlas", out, flush=True)
    del hv
    if tile_to:
        reps = int(np.ceil(tile_to / n_cells))
        rng = np.random.default_rng(0)
        big = np.concatenate(
            [X + rng.normal(0, 0.05, X.shape).astype(np.float32) for _ in range(reps)]
        )
        big_b = np.tile(batches, reps)
        sw = Stopwatch()
        harmony(big[:tile_to], big_b[:tile_to], n_jobs=2)
        out["harmony_1M_s_2threads"] = sw.wall()
        out["peak_rss_gb"] = peak_rss_mb() * 1024 / 1e6  # as before: KiB / 1e6
        print("atlas", out, flush=True)
    return out


# ------------------------------------------------------------------ report
def tables(results: pd.DataFrame) -> str:
    lines = []
    for metric in (
        "overall",
        "batch_correction",
        "bio_conservation",
        "isolated_labels",
        "leiden_ari",
        "leiden_batch_ari",
        "seconds",
    ):
        wide = results.pivot(index="dataset", columns="method", values=metric)
        wide = wide[[m for m in METHODS if m in wide.columns]]
        lines.append(f"\n{metric}\n")
        lines.append("| dataset | " + " | ".join(wide.columns) + " |")
        lines.append("| --- |" + " --- |" * len(wide.columns))
        for ds, row in wide.iterrows():
            lines.append(f"| {ds} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines)


def targets(results: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for ds, g in results.groupby("dataset"):
        m = g.set_index("method")
        d = m.loc[DEFAULT]
        peers = [x for x in ("harmony", "scvi") if x in m.index]
        best_peer = max(float(m.loc[x, "overall"]) for x in peers)
        rows.append(
            {
                "dataset": ds,
                "default_overall": d["overall"],
                "best_harmony_scvi": best_peer,
                "overall_ok": str(d["overall"] >= best_peer - 0.02),
                "isolated_default": d["isolated_labels"],
                "isolated_unintegrated": m.loc["unintegrated", "isolated_labels"],
                "isolated_ok": str(
                    d["isolated_labels"] >= m.loc["unintegrated", "isolated_labels"] - 0.05
                ),
                "leiden_ari_default": d["leiden_ari"],
                "leiden_ari_ok": "-" if ds in ISOLATED else str(d["leiden_ari"] >= 0.8),
            }
        )
    return pd.DataFrame(rows)


def report(results: pd.DataFrame, out: Path, summary: dict) -> None:
    """tables.md (one table per score, the targets, the worst dataset) and summary's
    entries for them."""
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.tsv", sep="\t", index=False)
    text = tables(results)
    have = set(results["method"])
    if {DEFAULT, "unintegrated"} <= have and have & {"harmony", "scvi"}:
        t = targets(results)  # needs the default, the unintegrated PCA and a peer
        worst = t.sort_values("default_overall").iloc[0]
        summary["targets"] = t.to_dict(orient="records")
        summary["worst_dataset"] = str(worst["dataset"])
        text += "\n\ntargets\n\n" + t.to_markdown(index=False, floatfmt=".3f")
        text += f"\n\nworst dataset (default's overall): {worst['dataset']}\n"
    (out / "tables.md").write_text(text)
    rows = [
        result_row("integration", "overall = 0.4 batch + 0.6 bio", r.dataset, r.method, "overall",
            r.overall, Measure(r.seconds, None, None),
            role="ours" if r.method == DEFAULT else "peer" if r.method in ("harmony", "scvi") else None)
        for r in results.itertuples()
    ]  # fmt: skip
    write_results(rows, out)  # the harness's rows (the headline's format)
    print(text)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "integration")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--data-root", type=Path, default=None, help="default: datasets.root_dir()")
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--atlas", type=int, default=0, help="cells of the timed atlas (0: none)")
    ap.add_argument("--tile-to", type=int, default=1_000_000, help="Harmony on the tiled PCA")
    ap.add_argument(
        "--merge",
        default="",
        help="comma-separated results.tsv files of earlier runs: only write the tables",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case, seconds (tests/test_benchmarks_smoke.py)",
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.datasets, args.demo, args.atlas = "gp_smoke", False, 0
        args.methods = f"unintegrated,harmony,{DEFAULT}"  # ours and the installed peer
    if args.merge:
        results = pd.concat([pd.read_csv(f, sep="\t") for f in args.merge.split(",")])
        results = results.drop_duplicates(["dataset", "method"], keep="last")
        summary: dict = {}
        report(results, args.out, summary)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
        return
    warnings.simplefilter("ignore")
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    if args.demo:
        summary["demo"] = demo_figures()
    rows = []
    for name in [d for d in args.datasets.split(",") if d]:
        a = load(name, args.data_root)
        rows += evaluate(name, a, args.methods.split(","))
        pd.DataFrame(rows).to_csv(args.out / "results.tsv", sep="\t", index=False)
    if rows:
        report(pd.DataFrame(rows), args.out, summary)
    if args.atlas:
        summary["atlas"] = atlas_timing(args.atlas, args.out, args.tile_to)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
