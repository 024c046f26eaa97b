"""Doublet detection on data that scinterp.simulate did not make (issue 14).

Each dataset gets heterotypic doublets injected: the counts of two cells of different
types (or Leiden clusters, for the real sample) of the same batch are summed, and the
two parents are taken out of the data (a real doublet's parents are not in the data
either). ``obs["quality"]`` is ``doublet`` or ``good``. Datasets:

* ``pbmc_4pct``, ``pbmc_1pct``: celltypist's real 10x PBMC sample (559 cells x 32,786
  genes; Leiden clusters of it as the types), 4% and 1% doublets (1% is the 10x rate of
  about 1,000 cells; at 559 cells it would be 0.45%, i.e. 2 or 3 doublets, too few to
  measure);
* ``sergio``: SERGIO (``sergio-scSim``) steady-state simulation of a random 100-gene
  network, 6 cell types x 200 cells, with its library-size and count noise, 4%;
* ``krumsiek11``: resources/krumsiek11/rna.h5ad (640 cells x 11 genes, 5 types), 4%;
* ``gp_3batch``: a gamma-Poisson (Splatter-style) generator written here: 3 batches of
  different depth and batch effects, 3,000 cells x 2,000 genes, 8 types, 3% per batch;
* ``gp_8k``: the same generator, 8,000 cells x 2,000 genes, 12 types, 6% (10x rate at 8k);
* ``gp_8k_thinned``: as gp_8k but each doublet's counts thinned to 50-100% of the sum
  (real doublets have fewer than twice a singlet's UMIs), 6%;
* with ``--shared``: every dataset of benchmarks/datasets.py (built when missing)
  whose obs has ``quality``.

Methods, each per batch on the same cells: ``ours`` (scinterp.preprocess.qc.detect_doublets with
the default method), ``ours_scrublet`` (detect_doublets with ``method="scrublet"``: scanpy's
scrublet plus a MAD outlier rule, the behaviour before issue 14) and ``scanpy_scrublet``
(``sc.pp.scrublet(batch_key=...)`` with its defaults and its own calls). Printed: the share
of doublets removed, the share of good cells kept, and wall time, per dataset, method and
seed, and the worst row per method; with several ``--seeds``, each method's seed spread
per dataset (mean, min and sd of both shares, and the mean and min Jaccard index of two
seeds' called cells).

Run::

    python -m benchmarks.doublets                 # all built-in datasets (~5 min here)
    python -m benchmarks.doublets --datasets pbmc_4pct sergio --shared
    python -m benchmarks.doublets --shared --seeds 0 1 2 3 4   # the seed spread
"""

from __future__ import annotations

import argparse
import itertools
import logging
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from benchmarks.harness import Measure, Stopwatch, write_results
from benchmarks.harness import row as result_row

REPO = Path(__file__).resolve().parents[1]
CACHE = Path("/tmp/scinterp-bench/doublets")


# ---------------------------------------------------------------- doublet injection
def inject_doublets(
    X, groups: np.ndarray, batches: np.ndarray, rate: float, seed: int, thin=None
) -> ad.AnnData:
    """Replace cell pairs by their summed counts so that ``rate`` of the cells are doublets.

    Pairs are of different ``groups`` within one batch; each cell is a parent at most once
    and parents leave the data. ``thin``: (lo, hi) keeps a uniform lo..hi share of each
    doublet's counts (binomial thinning), None keeps the sum.
    """
    rng = np.random.default_rng(seed)
    X = sparse.csr_matrix(X, dtype=np.float32)
    n = X.shape[0]
    # With d doublets the data hold n - 2d + d = n - d cells: d = rate * (n - d).
    n_dbl = int(round(rate * n / (1 + rate)))
    used = np.zeros(n, bool)
    pairs = []
    # Doublets per batch in proportion to its size.
    ub, counts = np.unique(batches, return_counts=True)
    want = {b: int(round(n_dbl * c / n)) for b, c in zip(ub, counts, strict=True)}
    for b in ub:
        cells = rng.permutation(np.flatnonzero(batches == b))
        got = 0
        for i in cells:
            if got >= want[b]:
                break
            if used[i]:
                continue
            cand = cells[(~used[cells]) & (groups[cells] != groups[i])]
            if not len(cand):
                continue
            j = cand[rng.integers(len(cand))]
            used[i] = used[j] = True
            pairs.append((i, j))
            got += 1
    pairs = np.array(pairs)
    D = X[pairs[:, 0]] + X[pairs[:, 1]]
    if thin is not None:
        D = D.tocsr()
        keep = rng.uniform(*thin, D.shape[0])
        D.data = rng.binomial(D.data.astype(np.int64), np.repeat(keep, np.diff(D.indptr)))
        D.data = D.data.astype(np.float32)
        D.eliminate_zeros()
    single = np.flatnonzero(~used)
    out = sparse.vstack([X[single], D]).tocsr()
    obs = pd.DataFrame(
        {
            "batch": np.r_[batches[single], batches[pairs[:, 0]]].astype(str),
            "group": np.r_[
                groups[single].astype(str),
                [f"{groups[i]}+{groups[j]}" for i, j in pairs],
            ],
            "quality": np.r_[np.full(len(single), "good"), np.full(len(pairs), "doublet")],
        }
    )
    order = rng.permutation(len(obs))
    obs = obs.iloc[order].reset_index(drop=True)
    obs.index = [f"cell{i}" for i in range(len(obs))]
    return ad.AnnData(out[order], obs=obs)


# ---------------------------------------------------------------- datasets
def pbmc(rate: float, seed: int = 0) -> ad.AnnData:
    """celltypist's PBMC sample (``datasets.read_celltypist_sample``) with doublets of its
    Leiden clusters (``datasets.leiden_labels``) injected at ``rate``."""
    from benchmarks.datasets import leiden_labels, read_celltypist_sample

    a = read_celltypist_sample()
    labels = leiden_labels(a, 0).to_numpy()
    out = inject_doublets(a.X, labels, np.full(a.n_obs, "all"), rate, seed)
    out.var_names = a.var_names
    return out


def sergio_counts(n_genes=100, n_types=6, n_per_type=200, seed=0) -> tuple:
    """SERGIO steady-state counts of a random layered network; (counts, cell types)."""
    from SERGIO import sergio
    from SERGIO.GRN import GRN
    from SERGIO.GRN._components import Gene, SingleInteraction
    from SERGIO.MR import mrProfile
    from SERGIO.Noise import scNoise

    np.random.seed(seed)  # noqa: NPY002 (SERGIO draws from numpy's global generator)
    rng = np.random.default_rng(seed)
    n_mr = 12
    grn = GRN()
    genes = [Gene(name=str(g), decay=0.8) for g in range(n_genes)]
    for t in range(n_mr, n_genes):
        # Each target has 1-3 regulators among the genes before it (a DAG).
        n_reg = int(rng.integers(1, 4))
        regs = rng.choice(t, n_reg, replace=False)
        for r in regs:
            k = rng.uniform(1, 5) if rng.uniform() < 0.75 else -rng.uniform(1, 5)
            grn.add_interaction(SingleInteraction(reg=[genes[r]], tar=genes[t], k=k, h=None, n=2))
    grn.setMRs()
    mrs = grn.get_mrs()
    prof = mrProfile(MR_names=mrs, n_types=n_types)
    prof.build_rnd_complex(nMarker_per_type=1, nLow=0, nHigh=0)
    grn.init(prof, update_half_resp=True)
    sim = sergio(grn)
    sim.simulate(nCells=n_per_type, noise_s=1.0, safety_iter=150, scale_iter=5)
    expr = sim.getSimExpr()  # genes x cells
    noise = scNoise()
    counts = noise._add_noise(
        expr.to_numpy(),
        prob_o=0.01,
        mean_o=0.8,
        scale_o=1.0,
        mean_l=np.log(2000),
        scale_l=0.3,
        shape_d=8,
        perc_d=50,
    )
    types = np.array([c.split("_cell_")[0] for c in expr.columns])
    return counts.T.astype(np.float32), types, expr.index.astype(str)


def sergio_dataset(rate=0.04, seed=0) -> ad.AnnData:
    X, types, genes = sergio_counts(seed=seed)
    out = inject_doublets(X, types, np.full(len(types), "all"), rate, seed)
    out.var_names = [f"G{g}" for g in genes]
    return out


def krumsiek11(rate=0.04, seed=0) -> ad.AnnData:
    a = ad.read_h5ad(REPO / "resources/krumsiek11/rna.h5ad")
    types = a.obs["cell_type"].astype(str).to_numpy()
    out = inject_doublets(a.X, types, np.full(a.n_obs, "all"), rate, seed)
    out.var_names = a.var_names
    return out


def gamma_poisson(
    n_cells: int,
    n_genes: int = 2000,
    n_types: int = 8,
    n_batches: int = 1,
    seed: int = 0,
) -> tuple:
    """Splatter-style counts: gamma gene means, log-normal DE factors per type and per
    batch, log-normal library sizes (batch-specific depth), gamma-Poisson noise with a
    mean-dependent biological CV, and type proportions from a Dirichlet."""
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.6, 1 / 0.3, n_genes)
    outlier = rng.uniform(size=n_genes) < 0.05
    base[outlier] *= rng.lognormal(2, 0.5, outlier.sum())
    means = np.tile(base, (n_types, 1))
    for t in range(n_types):
        de = rng.uniform(size=n_genes) < 0.08
        fac = rng.lognormal(0.5, 0.4, de.sum())
        down = rng.uniform(size=de.sum()) < 0.5
        fac[down] = 1 / fac[down]
        means[t, de] *= fac
    bfac = rng.lognormal(0, 0.15, (n_batches, n_genes))
    props = rng.dirichlet(np.full(n_types, 3.0))
    types = rng.choice(n_types, n_cells, p=props)
    batch = rng.integers(0, n_batches, n_cells)
    depth = np.exp(rng.normal(np.log(4000), 0.15, n_batches))
    lib = rng.lognormal(0, 0.35, n_cells) * depth[batch]
    mu = means[types] * bfac[batch]
    mu = mu / mu.sum(1, keepdims=True) * lib[:, None]
    bcv = 0.1 + 1 / np.sqrt(np.maximum(mu, 1e-3))
    shape = 1 / bcv**2
    lam = rng.gamma(shape, mu / shape)
    X = rng.poisson(lam).astype(np.float32)
    return sparse.csr_matrix(X), types.astype(str), np.array([f"b{b}" for b in batch])


def gp_dataset(n_cells, n_types, n_batches, rate, seed, thin=None) -> ad.AnnData:
    X, types, batch = gamma_poisson(n_cells, n_types=n_types, n_batches=n_batches, seed=seed)
    out = inject_doublets(X, types, batch, rate, seed, thin=thin)
    out.var_names = [f"gene{i}" for i in range(out.n_vars)]
    return out


BUILDERS = {
    "pbmc_4pct": lambda: pbmc(0.04),
    "pbmc_4pct_s1": lambda: pbmc(0.04, seed=1),
    "pbmc_4pct_s2": lambda: pbmc(0.04, seed=2),
    "pbmc_1pct": lambda: pbmc(0.01),
    "sergio": lambda: sergio_dataset(0.04),
    "krumsiek11": lambda: krumsiek11(0.04),
    "gp_3batch": lambda: gp_dataset(3000, 8, 3, 0.03, 1),
    "gp_8k": lambda: gp_dataset(8000, 12, 1, 0.06, 2),
    "gp_8k_thinned": lambda: gp_dataset(8000, 12, 1, 0.06, 3, thin=(0.5, 1.0)),
}


# --smoke's dataset (not among the benchmark's): 400 cells, 3 types
SMOKE_BUILDER = lambda: gp_dataset(400, 3, 1, 0.05, 3)  # noqa: E731


def load(name: str) -> ad.AnnData:
    """A built-in dataset, built once and cached under `CACHE`."""
    path = CACHE / f"{name}.h5ad"
    if path.exists():
        return ad.read_h5ad(path)
    a = {**BUILDERS, "gp_smoke": SMOKE_BUILDER}[name]()
    CACHE.mkdir(parents=True, exist_ok=True)
    a.write_h5ad(path)
    return a


def shared_datasets() -> dict[str, Path]:
    """Datasets of benchmarks/datasets.py whose obs has `quality` with doublets."""
    from benchmarks.datasets import DATASETS, ensure

    root = ensure(list(DATASETS))  # built there if missing
    out = {}
    for p in sorted(root.rglob("*.h5ad")):
        a = ad.read_h5ad(p, backed="r")
        if "quality" in a.obs.columns and (a.obs["quality"].astype(str) == "doublet").any():
            out[f"shared:{p.parent.name if p.stem == 'rna' else p.stem}"] = p
        a.file.close()
    return out


# ---------------------------------------------------------------- methods
def run_ours(a, batches, method, seed):
    from scinterp.preprocess.qc import detect_doublets

    return detect_doublets(a, batches, method=method, random_state=seed)[
        "predicted_doublet"
    ].to_numpy(bool)


def run_scanpy_scrublet(a, batches, seed):
    import scanpy as sc

    b = ad.AnnData(a.X.copy(), obs=pd.DataFrame({"batch": batches}, index=a.obs_names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.scrublet(b, batch_key="batch", random_state=seed, verbose=False)
    return b.obs["predicted_doublet"].to_numpy(bool)


METHODS = {
    "ours": lambda a, b, s: run_ours(a, b, None, s),
    "ours_scrublet": lambda a, b, s: run_ours(a, b, "scrublet", s),
    "scanpy_scrublet": run_scanpy_scrublet,
}


def evaluate(a: ad.AnnData, methods, seed: int) -> list[dict]:
    """One row per method: shares of doublets removed and good cells kept, wall time and
    the called cells (``called``, a boolean array)."""
    q = a.obs["quality"].astype(str).to_numpy()
    dbl, good = q == "doublet", q == "good"
    batches = (
        a.obs["batch"].astype(str).to_numpy()
        if "batch" in a.obs.columns
        else np.full(a.n_obs, "all")
    )
    rows = []
    for m in methods:
        sw = Stopwatch()
        try:
            called = METHODS[m](a, batches, seed)
        except (ValueError, AttributeError) as e:
            # scanpy's scrublet: more PCs than genes (sergio, krumsiek11); scipy's
            # csr_array has no getnnz in its kNN step (gp_8k)
            print(f"{m} fails: {type(e).__name__}: {str(e).splitlines()[0]}", flush=True)
            continue
        wall = sw.wall()
        rows.append(
            {
                "method": m,
                "doublets_removed": called[dbl].mean(),
                "good_kept": 1 - called[good].mean(),
                "time_s": wall,
                "called": called,
            }
        )
    return rows


def seed_spread(df: pd.DataFrame, calls: dict) -> pd.DataFrame:
    """Per dataset and method over the seeds: mean, min and sd of doublets removed and of
    good cells kept, and the mean and min Jaccard index of two seeds' called cells."""
    out = []
    for (ds, m), g in df.groupby(["dataset", "method"], sort=False):
        jac = []
        for s1, s2 in itertools.combinations(sorted(g["seed"]), 2):
            a, b = calls[(ds, m, s1)], calls[(ds, m, s2)]
            union = (a | b).sum()
            jac.append((a & b).sum() / union if union else 1.0)
        out.append(
            {
                "dataset": ds,
                "method": m,
                "seeds": len(g),
                "removed_mean": g["doublets_removed"].mean(),
                "removed_min": g["doublets_removed"].min(),
                "removed_sd": g["doublets_removed"].std(ddof=1),
                "kept_mean": g["good_kept"].mean(),
                "kept_min": g["good_kept"].min(),
                "kept_sd": g["good_kept"].std(ddof=1),
                "jaccard_mean": float(np.mean(jac)) if jac else np.nan,
                "jaccard_min": float(np.min(jac)) if jac else np.nan,
            }
        )
    return pd.DataFrame(out)


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="*", default=list(BUILDERS))
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--shared", action="store_true", help="also benchmarks/datasets.py's")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="random_state of each run")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "doublets")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case, seconds (tests/test_benchmarks_smoke.py)",
    )
    args = ap.parse_args(argv)
    if args.smoke:
        # ours_scrublet: the default method (ours) takes minutes even on 400 cells
        args.datasets, args.methods, args.shared = ["gp_smoke"], ["ours_scrublet"], False
    logging.basicConfig(level=logging.WARNING)

    todo = {n: None for n in args.datasets}
    if args.shared:
        todo.update(shared_datasets())
    rows, calls = [], {}
    for name, path in todo.items():
        a = load(name) if path is None else ad.read_h5ad(path)
        if path is not None and "counts" in a.layers:
            a.X = a.layers["counts"]
        if "quality" in a.obs.columns:
            keep = a.obs["quality"].astype(str).isin(["good", "doublet"]).to_numpy()
            a = a[keep].copy()  # low-quality cells are QC's other filters' business
        n_dbl = int((a.obs["quality"].astype(str) == "doublet").sum())
        for seed in args.seeds:
            for r in evaluate(a, args.methods, seed):
                calls[(name, r["method"], seed)] = r.pop("called")
                rows.append(
                    {"dataset": name, "cells": a.n_obs, "genes": a.n_vars, "doublets": n_dbl,
                     "seed": seed, **r}
                )  # fmt: skip
                print(
                    f"{name:<16} {a.n_obs:>6} x {a.n_vars:<6} {n_dbl:>4} dbl  {r['method']:<16} "
                    f"seed {seed}  removed {r['doublets_removed']:.3f}  "
                    f"kept {r['good_kept']:.4f}  {r['time_s']:6.1f} s",
                    flush=True,
                )
    df = pd.DataFrame(rows)
    print()
    print(df.to_markdown(index=False, floatfmt=".3f"))
    if len(args.seeds) > 1:
        print()
        print(seed_spread(df, calls).to_markdown(index=False, floatfmt=".3f"))
    worst = df.groupby("method").agg(
        worst_removed=("doublets_removed", "min"),
        median_removed=("doublets_removed", "median"),
        worst_kept=("good_kept", "min"),
        total_time_s=("time_s", "sum"),
    )
    print()
    print(worst.to_markdown(floatfmt=".3f"))
    roles = {"ours": "ours", "scanpy_scrublet": "peer"}
    rows = [
        result_row("doublets", "per batch", r.dataset, r.method, "doublets_removed", r.doublets_removed,
            Measure(r.time_s, None, None), role=roles.get(r.method), good_kept=r.good_kept,
            seed=r.seed)
        for r in df.itertuples()
    ]  # fmt: skip
    write_results(rows, args.out)
    return df


if __name__ == "__main__":
    main()
