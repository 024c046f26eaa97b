"""Atlas scale: time and peak memory per stage on simulated sparse count atlases.

    python benchmarks/atlas.py                                  # 10k and 100k cells
    python benchmarks/atlas.py --sizes 10000 100000 1000000     # the full ladder
    python benchmarks/atlas.py --sizes 1000000 --stages qc normalize

For each size, a cells x genes count atlas (default 20k genes, 2500 UMIs and ~1.4k detected genes per
cell: UMIs drawn from a Zipf-like gene distribution with cell-type markers, two
batches, mitochondrial genes) is written chunk by chunk straight into an .h5ad (the
generator never holds the whole matrix); ``--tile-from 100000`` builds a 1M atlas
from ten copies of the 100k one instead (same sparsity, minutes instead of an hour
on a busy machine). Then the workflow's stages run, each in its
own subprocess so that its peak RSS is its own:

  qc         scinterp.io.read_counts -> scinterp.qc.run_qc -> write filtered.h5ad
  normalize  read -> scinterp.normalize.run_normalize up to the PCA (counts layer,
             HVGs, normalize_total, log1p, PCA) -> write normalized.h5ad
  embed      the rest of the normalize rule: neighbours, UMAP, Leiden on the PCA
             (scinterp.normalize.embed_and_cluster); skipped above --embed-max-cells
  train      one epoch of mlp_classifier (scinterp.train.run.train_from_files)
  attribute  integrated gradients on a stratified sample of cells
             (scinterp.attribution.stage.attribute_from_files)

It prints, per size and stage, the wall time (and CPU time, which is what to compare
on a shared machine), the peak RSS and cells/s, then the
slope of peak memory against cells (least squares over the sizes run) and the size
a 24 GB machine would hold at that slope. Results are appended to
``<workdir>/atlas.tsv``.

Doublet detection (scrublet) is off by default (``--doublets`` turns it on): it
simulates and embeds as many doublets as there are cells, and is meant per sample,
not per atlas.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
STAGES = ("qc", "normalize", "embed", "train", "attribute")
N_TYPES = 12
N_MITO = 13
N_MARKERS = 40
# Slots of the quantized inverse CDF per type: genes rarer than ~1/_TABLE get too few
# UMIs; the rarest of 20k Zipf genes still spans ~10 slots.
_TABLE = 1 << 22


# ------------------------------------------------------------------ the generator
def _gene_probs(n_genes: int, rng) -> np.ndarray:
    """Per cell type, gene probabilities: a shared Zipf-like profile, type markers x8."""
    base = 1.0 / np.arange(1, n_genes + 1) ** 0.9
    base = base[rng.permutation(n_genes)]
    base[:N_MITO] = base.max() * 0.1  # mitochondrial genes: a few % of the UMIs
    probs = []
    for _ in range(N_TYPES):
        p = base.copy()
        markers = rng.choice(np.arange(N_MITO, n_genes), N_MARKERS, replace=False)
        p[markers] *= 8.0
        probs.append(p / p.sum())
    return np.vstack(probs)


def simulate_atlas(
    path: Path,
    n_cells: int,
    n_genes: int = 20000,
    umis_per_cell: float = 2500.0,
    chunk: int = 2000,
    seed: int = 0,
) -> dict:
    """Write a sparse count atlas to ``path`` (.h5ad), ``chunk`` cells at a time.

    Returns figures of the written matrix: ``nnz``, ``genes_per_cell`` (mean).
    """
    import anndata as ad
    import h5py
    from anndata.io import write_elem

    rng = np.random.default_rng(seed)
    probs = _gene_probs(n_genes, rng)
    cdfs = np.cumsum(probs, axis=1)
    cdfs[:, -1] = 1.0
    mid = (np.arange(_TABLE) + 0.5) / _TABLE
    table = np.concatenate([np.searchsorted(c, mid) for c in cdfs]).astype(np.int32)
    cell_type = rng.integers(0, N_TYPES, n_cells)
    batch = rng.integers(0, 2, n_cells)
    genes = [f"MT-{i}" for i in range(N_MITO)] + [f"G{i}" for i in range(N_MITO, n_genes)]
    tmp = path.with_suffix(".tmp.h5ad")
    nnz = 0
    with h5py.File(tmp, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        x = f.create_group("X")
        x.attrs["encoding-type"] = "csr_matrix"
        x.attrs["encoding-version"] = "0.1.0"
        x.attrs["shape"] = (n_cells, n_genes)
        kw = {"maxshape": (None,), "chunks": (1 << 20,)}
        data = x.create_dataset("data", (0,), dtype="float32", **kw)
        indices = x.create_dataset("indices", (0,), dtype="int32", **kw)
        indptr = np.zeros(n_cells + 1, dtype=np.int64)
        for c0 in range(0, n_cells, chunk):
            c1 = min(c0 + chunk, n_cells)
            n = c1 - c0
            depth = rng.lognormal(np.log(umis_per_cell), 0.35, n).astype(np.int64)
            cells = np.repeat(np.arange(n, dtype=np.int64), depth)
            # Each UMI's gene from its cell's type profile by a quantized inverse CDF
            # (a lookup table: one memory access per UMI instead of a binary search).
            t_of = cell_type[c0:c1][cells].astype(np.int64)
            slot = (rng.random(cells.size) * _TABLE).astype(np.int64)
            g = table[t_of * _TABLE + slot]
            del t_of, slot
            # Counts per (cell, gene): a bincount over the chunk's cells x genes grid
            # (linear time; a sort would be 3x slower).
            grid = np.bincount(cells.astype(np.int64) * n_genes + g, minlength=n * n_genes)
            keys = np.flatnonzero(grid)
            counts = grid[keys]
            del grid
            row = keys // n_genes
            col = (keys % n_genes).astype(np.int32)
            per_row = np.bincount(row, minlength=n)
            indptr[c0 + 1 : c1 + 1] = nnz + np.cumsum(per_row)
            m = len(keys)
            data.resize((nnz + m,))
            indices.resize((nnz + m,))
            data[nnz:] = counts.astype(np.float32)
            indices[nnz:] = col
            nnz += m
        # One index type for indices and indptr, as scipy wants: int32 up to 2^31 values.
        if nnz >= np.iinfo(np.int32).max:
            raise ValueError("more than 2^31 stored values: use fewer cells or UMIs")
        x.create_dataset("indptr", data=indptr.astype(np.int32))
        obs = pd.DataFrame(
            {
                "cell_type": pd.Categorical([f"type{t}" for t in cell_type]),
                "batch": pd.Categorical([f"batch{b}" for b in batch]),
            },
            index=pd.Index([f"cell{i}" for i in range(n_cells)]),
        )
        write_elem(f, "obs", obs)
        write_elem(f, "var", pd.DataFrame(index=pd.Index(genes)))
        for key in ("layers", "obsm", "varm", "obsp", "varp", "uns"):
            write_elem(f, key, {})
    os.replace(tmp, path)
    del ad  # imported to make sure the on-disk format matches the installed anndata
    return {"nnz": int(nnz), "genes_per_cell": nnz / n_cells}


def tile_atlas(path: Path, source: Path, copies: int) -> dict:
    """Write ``copies`` copies of the atlas ``source`` one after the other (new cell
    names) to ``path``: a large atlas with the sparsity of the small one, written in
    minutes where simulating it takes an hour on a busy machine."""
    import h5py
    from anndata.io import read_elem, write_elem

    tmp = path.with_suffix(".tmp.h5ad")
    with h5py.File(source, "r") as src, h5py.File(tmp, "w") as f:
        n0, n_genes = (int(x) for x in src["X"].attrs["shape"])
        data, indices = src["X/data"][:], src["X/indices"][:]
        indptr = src["X/indptr"][:].astype(np.int64)
        nnz0 = int(indptr[-1])
        if nnz0 * copies >= np.iinfo(np.int32).max:
            raise ValueError("more than 2^31 stored values: use fewer copies")
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"
        x = f.create_group("X")
        x.attrs["encoding-type"] = "csr_matrix"
        x.attrs["encoding-version"] = "0.1.0"
        x.attrs["shape"] = (n0 * copies, n_genes)
        d = x.create_dataset("data", (nnz0 * copies,), dtype="float32", chunks=(1 << 20,))
        i = x.create_dataset("indices", (nnz0 * copies,), dtype="int32", chunks=(1 << 20,))
        for c in range(copies):
            d[c * nnz0 : (c + 1) * nnz0] = data
            i[c * nnz0 : (c + 1) * nnz0] = indices
        full = np.concatenate([indptr[:-1] + c * nnz0 for c in range(copies)] + [[nnz0 * copies]])
        x.create_dataset("indptr", data=full.astype(np.int32))
        obs = read_elem(src["obs"])
        obs = pd.concat([obs] * copies)
        obs.index = pd.Index([f"cell{k}" for k in range(len(obs))])
        write_elem(f, "obs", obs)
        write_elem(f, "var", read_elem(src["var"]))
        for key in ("layers", "obsm", "varm", "obsp", "varp", "uns"):
            write_elem(f, key, {})
    os.replace(tmp, path)
    return {"nnz": nnz0 * copies, "genes_per_cell": nnz0 / n0, "tiled_from": n0}


# ------------------------------------------------------------------ the stages
def _stage(name: str, d: Path, args) -> dict:
    """Run one stage in this process; return what it did (peak RSS comes from the caller)."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    if name == "simulate":
        src = Path(args.workdir) / f"cells_{args.tile_from}" / "atlas.h5ad"
        if args.tile_from and args.cells % args.tile_from == 0 and src.exists():
            return tile_atlas(d / "atlas.h5ad", src, args.cells // args.tile_from)
        return simulate_atlas(d / "atlas.h5ad", args.cells, args.genes, args.umis, seed=args.seed)
    if name == "qc":
        from scinterp.io import read_counts, write_h5ad_atomic, write_tsv_atomic
        from scinterp.qc import run_qc

        adata = read_counts(d / "atlas.h5ad", dataset="atlas")
        filtered, metrics, _ = run_qc(adata, {"doublets": args.doublets}, "batch", "atlas")
        del adata
        write_tsv_atomic(metrics, d / "metrics.tsv")
        write_h5ad_atomic(filtered, d / "filtered.h5ad")
        return {"cells_kept": int(filtered.n_obs), "genes_kept": int(filtered.n_vars)}
    if name == "normalize":
        import anndata as ad

        from scinterp.io import write_h5ad_atomic
        from scinterp.normalize import run_normalize

        adata = ad.read_h5ad(d / "filtered.h5ad")
        adata = run_normalize(adata, {}, "batch", "cell_type", "atlas", embed=False)
        write_h5ad_atomic(adata, d / "normalized.h5ad")
        return {"hvgs": int(adata.var["highly_variable"].sum())}
    if name == "embed":
        import anndata as ad

        from scinterp.normalize import embed_and_cluster

        backed = ad.read_h5ad(d / "normalized.h5ad", backed="r")
        small = ad.AnnData(obs=backed.obs.copy(), obsm={"X_pca": backed.obsm["X_pca"][:]})
        backed.file.close()
        embed_and_cluster(small, {})
        return {"clusters": int(small.obs["leiden"].nunique())}
    if name == "train":
        import shutil

        import torch

        shutil.rmtree(d / "model", ignore_errors=True)  # else a finished model is "resumed"

        from scinterp.train.run import train_from_files

        torch.set_num_threads(args.threads)
        from snakemake.utils import validate

        config = {"datasets": {"x": {"rna": "x.h5ad"}}}  # the schema's train defaults
        validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
        params = {**config["train"], "max_epochs": 1}
        h = train_from_files(
            "mlp_classifier", normalized=d / "normalized.h5ad", outdir=d / "model", params=params
        )
        return {"val_loss": float(h["val_loss"].iloc[-1])}
    if name == "attribute":
        import torch

        from scinterp.attribution.stage import attribute_from_files

        torch.set_num_threads(args.threads)
        params = {"max_cells": args.attr_cells, "n_steps": 32, "sanity_cells": 0}
        out = attribute_from_files(
            d / "model", d / "normalized.h5ad", "integrated_gradients", params
        )
        return {"cells_attributed": int(out.n_obs)}
    raise ValueError(name)


def _child(args) -> None:
    if args.max_gb:
        # An allocation beyond the cap fails with MemoryError in this process instead
        # of waking the kernel's OOM killer on a shared machine.
        cap = int(args.max_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    d = Path(args.workdir) / f"cells_{args.cells}"
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = _stage(args.stage, d, args)
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out = {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_mb": ru.ru_maxrss / 1024}
    print("ATLAS " + json.dumps({**out, **info}))  # ru_maxrss is in KiB on Linux


def _run_stage(stage: str, n: int, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        stage,
        "--cells",
        str(n),
        "--genes",
        str(args.genes),
        "--umis",
        str(args.umis),
        "--workdir",
        str(args.workdir),
        "--threads",
        str(args.threads),
        "--attr-cells",
        str(args.attr_cells),
        "--seed",
        str(args.seed),
    ] + (["--doublets"] if args.doublets else [])
    if args.max_gb:
        cmd += ["--max-gb", str(args.max_gb)]
    if args.tile_from:
        cmd += ["--tile-from", str(args.tile_from)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - t0
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-4000:])
        return {"stage": stage, "cells": n, "error": f"exit {res.returncode}", "total_s": total}
    line = [x for x in res.stdout.splitlines() if x.startswith("ATLAS ")][-1]
    out = json.loads(line[6:])
    return {"stage": stage, "cells": n, "total_s": total, **out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--umis", type=float, default=2500.0, help="mean UMIs per cell")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    ap.add_argument("--workdir", default="/tmp/scinterp-atlas")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attr-cells", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--doublets", action="store_true", help="run scrublet in QC")
    ap.add_argument("--keep", action="store_true", help="keep the atlas files afterwards")
    ap.add_argument(
        "--embed-max-cells",
        type=int,
        default=200_000,
        help="skip the embed stage (UMAP is hours on 2 cores at 1M cells) above this size",
    )
    ap.add_argument("--budget-gb", type=float, default=24.0)
    ap.add_argument(
        "--tile-from",
        type=int,
        default=None,
        help="build an atlas whose size is a multiple of this (smaller, existing) one by "
        "repeating it, instead of simulating it",
    )
    ap.add_argument(
        "--max-gb",
        type=float,
        default=None,
        help="cap each stage's address space (GB): a stage that needs more fails with "
        "MemoryError rather than pushing a shared machine into the OOM killer",
    )
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cells", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.stage = args.child
        _child(args)
        return

    rows = []
    for n in args.sizes:
        d = Path(args.workdir) / f"cells_{n}"
        if not (d / "atlas.h5ad").exists():
            r = _run_stage("simulate", n, args)
            print(_fmt(r), flush=True)
            rows.append(r)
        for stage in args.stages:
            if stage == "embed" and n > args.embed_max_cells:
                print(
                    f"{n:>9} cells  embed      skipped (--embed-max-cells {args.embed_max_cells})"
                )
                continue
            r = _run_stage(stage, n, args)
            print(_fmt(r), flush=True)
            rows.append(r)
            if "error" in r:
                break
        if not args.keep:
            for f in ("filtered.h5ad", "normalized.h5ad"):
                (d / f).unlink(missing_ok=True)
    table = pd.DataFrame(rows)
    out = Path(args.workdir) / "atlas.tsv"
    table.to_csv(out, sep="\t", index=False, mode="a", header=not out.exists())
    _report(table, args.budget_gb)


def _fmt(r: dict) -> str:
    if "error" in r:
        return f"{r['cells']:>9} cells  {r['stage']:<10} FAILED ({r['error']})"
    rate = r["cells"] / r["wall_s"] if r["wall_s"] > 0 else float("nan")
    extra = {
        k: v for k, v in r.items() if k not in ("stage", "cells", "wall_s", "total_s", "peak_mb")
    }
    extra.pop("cpu_s", None)
    return (
        f"{r['cells']:>9} cells  {r['stage']:<10} {r['wall_s']:8.1f} s (cpu {r['cpu_s']:7.1f} s)  "
        f"peak {r['peak_mb'] / 1024:6.2f} GB  {rate:10.0f} cells/s  {extra}"
    )


def _report(table: pd.DataFrame, budget_gb: float) -> None:
    ok = table[~table.get("error", pd.Series(index=table.index)).notna()] if len(table) else table
    print("\npeak memory slope (least squares over sizes) and the size that fits:")
    for stage, g in ok.groupby("stage", sort=False):
        if g["cells"].nunique() < 2:
            continue
        slope, icpt = np.polyfit(g["cells"], g["peak_mb"], 1)
        kb_per_cell = slope * 1024
        fits = (budget_gb * 1024 - icpt) / slope if slope > 0 else float("inf")
        tslope = np.polyfit(g["cells"], g["wall_s"], 1)[0]
        print(
            f"  {stage:<10} {kb_per_cell:8.2f} KB/cell (+{icpt / 1024:.2f} GB),"
            f" {tslope * 1e6:8.1f} s per 1M cells; {budget_gb:.0f} GB holds ~{fits:,.0f} cells"
        )


if __name__ == "__main__":
    main()
