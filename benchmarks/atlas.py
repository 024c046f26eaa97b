"""Atlas scale: time and peak memory per stage on simulated sparse count atlases.

    python -m benchmarks.atlas                                  # 10k and 100k cells
    python -m benchmarks.atlas --sizes 10000 100000 1000000     # the full ladder
    python -m benchmarks.atlas --sizes 1000000 --stages qc normalize

For each size, a cells x genes count atlas (default 20k genes, 2500 UMIs and ~1.5k
detected genes per cell: UMIs drawn from a Zipf-like gene distribution with 24 cell
types and their markers, 16 gene programs each raised in 2 to 4 types, 4 batches of
slightly different depth, mitochondrial genes) is written chunk by chunk straight into
an .h5ad (the generator never holds the whole matrix), with gene sets (the programs
and decoys), TFs and the truth beside it (the inputs of benchmarks/atlas_workflow.py,
which runs the whole workflow on it); ``--tile-from 100000`` builds a 1M atlas
from ten copies of the 100k one instead (same sparsity, minutes instead of an hour
on a busy machine). Then the workflow's stages run, each in its
own subprocess so that its peak RSS is its own:

  qc         scinterp.io.read_counts -> scinterp.preprocess.qc.run_qc -> write filtered.h5ad
  normalize  the rule's normalize_to_file up to the integration (read, HVGs, the counts
             written, normalize_total + log1p in place, PCA, integration) -> normalized.h5ad
  integrate  (on request) the default normalize.integration alone, on the HVG columns and
             PCA of normalized.h5ad (with --tile-from: the smaller atlas's, repeated to
             the size; needs --keep on its normalize stage); normalize reports it as well
  embed      the rest of the normalize rule: neighbours, UMAP, Leiden on the PCA
             (scinterp.preprocess.normalize.embed_and_cluster); skipped above --embed-max-cells
  train      one epoch of mlp_classifier (scinterp.train.run.train_from_files)
  attribute  integrated gradients on a stratified sample of cells
             (scinterp.attribution.stage.attribute_from_files)

It prints, per size and stage, the wall time (and CPU time, which is what to compare
on a shared machine), the peak RSS and cells/s, then the
slope of peak memory against cells (least squares over the sizes run) and the size
a 24 GB machine would hold at that slope. Results are appended to
``<workdir>/atlas.tsv``; the run's rows (:func:`benchmarks.harness.row`: cells/s per size
and stage, with the stage's wall, CPU and peak RSS; no peer) go to
``<workdir>/results.json``.

Doublet detection (scrublet) is off by default (``--doublets`` turns it on): it
simulates and embeds as many doublets as there are cells, and is meant per sample,
not per atlas.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import harness

REPO = Path(__file__).resolve().parents[1]
STAGES = ("qc", "normalize", "embed", "train", "attribute")
# run on request only (--stages integrate): the default integration alone, see _integrate_stage
EXTRA_STAGES = ("integrate",)
N_TYPES = 24
N_BATCHES = 4
N_MITO = 13
N_MARKERS = 40
N_PROGRAMS = 16  # planted programs: PROGRAM_SIZE genes x4 in 2 to 4 types each
N_DECOYS = 16  # gene sets of random genes, never co-regulated
PROGRAM_SIZE = 30
N_TFS = 150
# Slots of the quantized inverse CDF per type: genes rarer than ~1/_TABLE get too few
# UMIs; the rarest of 20k Zipf genes still spans ~10 slots. The table is one int32 per
# slot and type; _TABLE_SLOTS caps it at 24 types x 4M slots (384 MiB): with more types,
# each gets fewer slots.
_TABLE = 1 << 22
_TABLE_SLOTS = 24 << 22

TRUTH_README = """\
# Ground truth of the simulated atlas (benchmarks/atlas.py simulate_atlas)

Tab-separated with a header, the format scinterp.simulate writes.

- `markers.tsv` (`cell_type, gene`): the identity genes planted per cell type (x8 in
  that type only; disjoint between types).
- `programs.tsv` (`program, cell_type, active, decoy`): every gene set of
  `gene_sets.gmt` x every cell type; `active` is true where the program's genes are
  raised (x4). Decoys are random genes that are never co-regulated (`active` always
  false).

`atlas.h5ad` `obs`: `cell_type`, `batch` (batch b scales each cell's UMIs by 1 + 0.1 b).
`tfs.txt` holds two markers of each type, two genes of each program and random genes.
"""


# ------------------------------------------------------------------ the generator
def _design(n_genes: int, n_types: int, rng) -> dict:
    """Per cell type, gene probabilities (a shared Zipf-like profile, the type's markers
    x8, the genes of the programs active in the type x4) and what was planted: marker
    indices per type, programs (gene indices, active types), decoy sets and TFs."""
    base = 1.0 / np.arange(1, n_genes + 1) ** 0.9
    base = base[rng.permutation(n_genes)]
    base[:N_MITO] = base.max() * 0.1  # mitochondrial genes: a few % of the UMIs
    pool = np.arange(N_MITO, n_genes)
    need = n_types * N_MARKERS + (N_PROGRAMS + N_DECOYS) * PROGRAM_SIZE + N_TFS
    if need > pool.size:
        raise ValueError(f"{n_genes} genes are too few for {n_types} types' markers and sets")
    # markers: disjoint between types, anywhere in the expression range
    markers = rng.choice(pool, n_types * N_MARKERS, replace=False).reshape(n_types, N_MARKERS)
    rest = np.setdiff1d(pool, markers)
    # program genes among the better expressed half (x4 on a gene seen once in 30 cells
    # would be no program to find), disjoint from markers and from each other
    expressed = rest[base[rest] >= np.median(base[rest])]
    prog_genes = rng.choice(expressed, N_PROGRAMS * PROGRAM_SIZE, replace=False)
    prog_genes = prog_genes.reshape(N_PROGRAMS, PROGRAM_SIZE)
    programs = [
        (prog_genes[k], np.sort(rng.choice(n_types, rng.integers(2, 5), replace=False)))
        for k in range(N_PROGRAMS)
    ]
    rest = np.setdiff1d(rest, prog_genes)
    decoys = [rng.choice(rest, PROGRAM_SIZE, replace=False) for _ in range(N_DECOYS)]
    probs = np.empty((n_types, n_genes))
    for t in range(n_types):
        p = base.copy()
        p[markers[t]] *= 8.0
        for genes, types in programs:
            if t in types:
                p[genes] *= 4.0
        probs[t] = p / p.sum()
    planted = np.concatenate([markers[:, :2].ravel(), prog_genes[:, :2].ravel()])
    others = rng.choice(np.setdiff1d(pool, planted), max(N_TFS - planted.size, 0), replace=False)
    tfs = np.sort(np.concatenate([planted, others]))
    # the GMT names the sets in this order: planted programs and decoys shuffled
    slot = rng.permutation(N_PROGRAMS + N_DECOYS)
    return {
        "probs": probs,
        "markers": markers,
        "programs": programs,
        "decoys": decoys,
        "tfs": tfs,
        "slot": slot,
    }


def _write_side_files(outdir: Path, genes: list[str], design: dict, n_types: int) -> None:
    """gene_sets.gmt (planted programs and decoys under shuffled names), tfs.txt and
    truth/{markers,programs}.tsv beside the atlas."""
    from scinterp.io import write_tsv_atomic
    from scinterp.io._atomic import atomic_path

    genes = np.asarray(genes, dtype=object)
    types = [f"type{t}" for t in range(n_types)]
    members = [(g, a) for g, a in design["programs"]] + [(g, None) for g in design["decoys"]]
    names = [f"GENESET_{i + 1:02d}" for i in range(len(members))]
    slot = design["slot"]  # a set's name says nothing of what it is
    sets, rows = {}, []
    for i in np.argsort(slot):
        idx, active = members[i]
        name = names[slot[i]]
        sets[name] = sorted(genes[idx].tolist())
        for t, label in enumerate(types):
            on = active is not None and t in active
            rows.append((name, label, str(on).lower(), str(active is None).lower()))
    with atomic_path(outdir / "gene_sets.gmt") as tmp:
        tmp.write_text("".join(f"{n}\tna\t" + "\t".join(g) + "\n" for n, g in sets.items()))
    with atomic_path(outdir / "tfs.txt") as tmp:
        tmp.write_text("".join(f"{g}\n" for g in genes[design["tfs"]]))
    truth = outdir / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    markers = pd.DataFrame(
        [(types[t], genes[g]) for t in range(n_types) for g in design["markers"][t]],
        columns=["cell_type", "gene"],
    )
    write_tsv_atomic(markers, truth / "markers.tsv")
    programs = pd.DataFrame(rows, columns=["program", "cell_type", "active", "decoy"])
    write_tsv_atomic(programs, truth / "programs.tsv")
    with atomic_path(truth / "README.md") as tmp:
        tmp.write_text(TRUTH_README)


SIDE_FILES = ("gene_sets.gmt", "tfs.txt", "truth/markers.tsv", "truth/programs.tsv")


def simulate_atlas(
    path: Path,
    n_cells: int,
    n_genes: int = 20000,
    umis_per_cell: float = 2500.0,
    chunk: int = 2000,
    seed: int = 0,
    n_types: int = N_TYPES,
    n_batches: int = N_BATCHES,
) -> dict:
    """Write a sparse count atlas to ``path`` (.h5ad), ``chunk`` cells at a time, and its
    gene sets, TFs and ground truth beside it (:data:`SIDE_FILES`).

    ``n_types`` cell types of about equal size, each with N_MARKERS planted markers;
    N_PROGRAMS programs of PROGRAM_SIZE genes raised x4 in 2 to 4 types each;
    ``n_batches`` batches, batch b scaling a cell's UMIs by 1 + 0.1 b. Returns figures
    of the written matrix: ``nnz``, ``genes_per_cell`` (mean).
    """
    import anndata as ad
    import h5py
    from anndata.io import write_elem

    path = Path(path)
    rng = np.random.default_rng(seed)
    design = _design(n_genes, n_types, rng)
    cdfs = np.cumsum(design.pop("probs"), axis=1)
    cdfs[:, -1] = 1.0
    slots = min(_TABLE, _TABLE_SLOTS // n_types)
    mid = (np.arange(slots) + 0.5) / slots
    table = np.empty(n_types * slots, dtype=np.int32)  # filled in place: int32 only
    for t, c in enumerate(cdfs):
        table[t * slots : (t + 1) * slots] = np.searchsorted(c, mid)
    del mid, cdfs
    cell_type = rng.integers(0, n_types, n_cells)
    batch = rng.integers(0, n_batches, n_cells)
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
            # a mild batch effect in depth: batch b scales the cell's UMIs by 1 + 0.1 b
            scale = 1.0 + 0.1 * batch[c0:c1]
            depth = (rng.lognormal(np.log(umis_per_cell), 0.35, n) * scale).astype(np.int64)
            cells = np.repeat(np.arange(n, dtype=np.int64), depth)
            # Each UMI's gene from its cell's type profile by a quantized inverse CDF
            # (a lookup table: one memory access per UMI instead of a binary search).
            t_of = cell_type[c0:c1][cells].astype(np.int64)
            slot = (rng.random(cells.size) * slots).astype(np.int64)
            g = table[t_of * slots + slot]
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
    _write_side_files(path.parent, genes, design, n_types)
    del ad  # imported to make sure the on-disk format matches the installed anndata
    return {"nnz": int(nnz), "genes_per_cell": nnz / n_cells}


def tile_atlas(path: Path, source: Path, copies: int) -> dict:
    """Write ``copies`` copies of the atlas ``source`` one after the other (new cell
    names) to ``path``: a large atlas with the sparsity of the small one, written in
    minutes where simulating it takes an hour on a busy machine. The gene sets, TFs and
    truth beside ``source`` (:data:`SIDE_FILES`; the same genes) are copied beside
    ``path``."""
    import shutil

    import h5py
    from anndata.io import read_elem, write_elem

    path, source = Path(path), Path(source)
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
    if source.parent.resolve() != path.parent.resolve():
        for name in (*SIDE_FILES, "truth/README.md"):
            if (source.parent / name).exists():
                (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source.parent / name, path.parent / name)
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
        return simulate_atlas(
            d / "atlas.h5ad",
            args.cells,
            args.genes,
            args.umis,
            seed=args.seed,
            n_types=args.types,
            n_batches=args.batches,
        )
    if name == "qc":
        from scinterp.io import read_counts, write_h5ad_atomic, write_tsv_atomic
        from scinterp.preprocess.qc import run_qc

        adata = read_counts(d / "atlas.h5ad", dataset="atlas")
        filtered, metrics, _ = run_qc(adata, {"doublets": args.doublets}, "batch", "atlas")
        del adata
        write_tsv_atomic(metrics, d / "metrics.tsv")
        write_h5ad_atomic(filtered, d / "filtered.h5ad")
        return {"cells_kept": int(filtered.n_obs), "genes_kept": int(filtered.n_vars)}
    if name == "normalize":
        import scinterp.preprocess.integrate as integrate_module
        from scinterp.preprocess.defaults import NORMALIZE_DEFAULTS
        from scinterp.preprocess.normalize import normalize_to_file

        # the rule's own path (counts written first on an atlas, normalized in place),
        # with the integration's wall time taken on its own
        timed = {}
        real = integrate_module.integrate

        def integrate(*a, **k):
            sw = harness.Stopwatch()
            real(*a, **k)
            timed["s"] = sw.wall()

        integrate_module.integrate = integrate
        small = normalize_to_file(
            d / "filtered.h5ad",
            d / "normalized.h5ad",
            {},
            "batch",
            "cell_type",
            "atlas",
            embed=False,
        )
        return {
            "n_top_genes": int(small.uns["scinterp"]["normalize"]["n_top_genes"]),
            "integration": NORMALIZE_DEFAULTS["integration"],
            "integration_s": round(timed.get("s", float("nan")), 1),
        }
    if name == "integrate":
        return _integrate_stage(d, args)
    if name == "embed":
        import anndata as ad

        from scinterp.preprocess.normalize import embed_and_cluster

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


def _integrate_stage(d: Path, args) -> dict:
    """The default integration (``normalize.integration``) alone on ``args.cells`` cells:
    the HVG columns, PCA and batches of ``normalized.h5ad`` (this size's, or, with
    ``--tile-from``, the smaller atlas's repeated to ``args.cells`` rows, as
    :func:`tile_atlas` repeats its counts). What the step needs of the normalize job's
    matrices, without the counts and the other genes: its wall time, and its peak RSS
    over the HVG matrix it starts from (``start_rss_mb``)."""
    import anndata as ad
    import h5py
    from anndata.io import read_elem
    from scipy import sparse

    from scinterp.preprocess.defaults import NORMALIZE_DEFAULTS
    from scinterp.preprocess.integrate import integrate

    src = d / "normalized.h5ad"
    if not src.exists() and args.tile_from:
        src = Path(args.workdir) / f"cells_{args.tile_from}" / "normalized.h5ad"
    if not src.exists():
        raise FileNotFoundError(f"{src}: run the normalize stage with --keep first")
    with h5py.File(src, "r") as f:
        var = read_elem(f["var"])
        obs = read_elem(f["obs"])[["batch"]]
        pca = f["obsm/X_pca"][:]
    backed = ad.read_h5ad(src, backed="r")
    hv = np.flatnonzero(var["highly_variable"].to_numpy(dtype=bool))
    X = sparse.csr_matrix(backed.X[:, hv], dtype=np.float32)  # row chunks: anndata's
    backed.file.close()
    n0 = X.shape[0]
    copies, rest = divmod(args.cells, n0)
    tiled = src != d / "normalized.h5ad"
    if tiled:  # whole copies, then the first rows once more: one allocation
        X = sparse.vstack([X] * copies + ([X[:rest]] if rest else []), format="csr")
        pca = np.concatenate([pca] * copies + [pca[:rest]])
        obs = pd.concat([obs] * copies + [obs.iloc[:rest]])
        obs.index = pd.Index([f"cell{k}" for k in range(len(obs))])
    adata = ad.AnnData(X, obs=obs, var=var.iloc[hv].copy(), obsm={"X_pca": pca})
    start_mb = harness.peak_rss_mb()
    method = NORMALIZE_DEFAULTS["integration"]
    sw = harness.Stopwatch()
    integrate(adata, "batch", method, n_jobs=args.threads)
    return {
        "integration": method,
        "integration_s": round(sw.wall(), 1),
        "hvg_nnz": int(X.nnz),
        "start_rss_mb": round(start_mb),
        "tiled_from": n0 if tiled else None,
    }


def _child(args) -> None:
    if args.max_gb:
        # An allocation beyond the cap fails with MemoryError in this process instead
        # of waking the kernel's OOM killer on a shared machine.
        cap = int(args.max_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    d = Path(args.workdir) / f"cells_{args.cells}"
    d.mkdir(parents=True, exist_ok=True)
    sw = harness.Stopwatch()
    info = _stage(args.stage, d, args)
    # the stage's own wall time; CPU and peak RSS are the whole child's (_run_stage)
    print("ATLAS " + json.dumps({"wall_s": sw.wall(), **info}))


def _run_stage(stage: str, n: int, args) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.atlas",
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
        "--types",
        str(args.types),
        "--batches",
        str(args.batches),
    ] + (["--doublets"] if args.doublets else [])
    if args.max_gb:
        cmd += ["--max-gb", str(args.max_gb)]
    if args.tile_from:
        cmd += ["--tile-from", str(args.tile_from)]
    res = harness.run(cmd, capture=True, cwd=REPO)  # the child's own CPU and peak RSS
    total = res.measure.wall_s
    if res.rc != 0:
        sys.stderr.write(res.stdout[-4000:])
        return {"stage": stage, "cells": n, "error": f"exit {res.rc}", "total_s": total}
    line = [x for x in res.stdout.splitlines() if x.startswith("ATLAS ")][-1]
    out = json.loads(line[6:])
    out.update(cpu_s=res.measure.cpu_s, peak_mb=res.measure.peak_rss_mb)
    return {"stage": stage, "cells": n, "total_s": total, **out}


def main(argv=None) -> list[dict] | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case (tests/test_benchmarks_smoke.py)",
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--umis", type=float, default=2500.0, help="mean UMIs per cell")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES + EXTRA_STAGES)
    ap.add_argument("--workdir", default="/tmp/scinterp-atlas")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attr-cells", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--types", type=int, default=N_TYPES, help="cell types of the atlas")
    ap.add_argument("--batches", type=int, default=N_BATCHES, help="batches of the atlas")
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
    args = ap.parse_args(argv)
    if args.smoke:  # simulate and QC 1,000 cells (each in its child process)
        args.sizes, args.genes, args.types, args.batches, args.stages = [1000], 2000, 4, 2, ["qc"]
    if args.child:
        args.stage = args.child
        _child(args)
        return

    rows = []
    for n in args.sizes:
        d = Path(args.workdir) / f"cells_{n}"
        # the integrate stage alone reads normalized.h5ad (or its --tile-from's), no atlas
        needs_atlas = set(args.stages) != {"integrate"}
        if needs_atlas and not (d / "atlas.h5ad").exists():
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
    results = result_rows(rows, args)
    print(f"rows: {harness.write_results(results, Path(args.workdir))}")
    return results


def result_rows(rows: list[dict], args) -> list[dict]:
    """The stages that ran as the harness's rows: cells/s of the stage's own wall time,
    the child's wall (start-up included), CPU seconds and peak RSS."""
    out = []
    for r in rows:
        if "error" in r:
            continue
        measure = harness.Measure(r["total_s"], r["cpu_s"], r["peak_mb"])
        out.append(harness.row(
            "atlas", f"{args.genes:,} genes, {args.threads} thread(s)", f"{r['cells']:,} cells",
            r["stage"], "cells_per_s", r["cells"] / r["wall_s"], measure,
        ))  # fmt: skip
    return out


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
