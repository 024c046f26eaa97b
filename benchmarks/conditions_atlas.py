"""The conditions branch at atlas scale (issue 30, item 8): where its time goes, per part.

    python -m benchmarks.conditions_atlas --cells 100000 --threads 2
    python -m benchmarks.conditions_atlas --cells 1000000 --tile-from 100000 --threads 2

The atlas is ``benchmarks.atlas.simulate_atlas`` (20,000 genes, 24 cell types, ~1,580
genes and ~3,000 UMIs per cell; the 1M atlas ten copies of the 100k one with
``--tile-from``), written once under ``--workdir`` and reused. Its counts become
``layers['counts']`` (an HDF5 hard link to ``X``: no copy) and ``--donors`` donors are
added (donor = cell index mod donors; the first half ``healthy``, the rest ``disease``; no
planted change), so the design is 100 samples in 2 conditions at the default. A random
program activity per cell (``--programs`` programs) stands in for the programs branch's.

``scinterp.interpret.conditions.run`` then runs as the rule calls it (the file read
lazily, :class:`~scinterp.interpret.conditions.LazyCells`; ``n_jobs`` = ``--threads``),
with the parts timed by wrapping the package's functions: the pseudobulk and per-cell
feature sums (``gene_sums``), pydeseq2 per cell type (``_deseq``), the model rows
(the rest of ``_one_type``: the moderated-t features and the consensus), the cell-type
classifiers (reading and PCA; the cross-validated fits of the observed labeling;
those of the permuted labelings, ``permutations``), the programs and the abundance. CPU seconds count the process and
its children (pydeseq2's worker processes), sampled with psutil; the peak RSS is the
process tree's, sampled every 0.5 s. The load average is recorded with every run.

Writes ``<out>`` (JSON: one record per run) and, with ``--tables DIR``, the four tables
(to compare two commits: the tables must be identical where a change is only speed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.harness import Measure, write_results
from benchmarks.harness import row as result_row

REPO = Path(__file__).resolve().parents[1]


def prepare(n_cells: int, workdir: Path, donors: int, tile_from: int | None, **atlas) -> Path:
    """The atlas of ``n_cells`` cells with ``layers['counts']``, donor and condition
    (``atlas``: arguments of ``simulate_atlas``, e.g. ``n_genes``, ``n_types``)."""
    import h5py
    from anndata.io import read_elem, write_elem

    from benchmarks.atlas import simulate_atlas, tile_atlas

    d = workdir / f"atlas{n_cells}"
    out = d / f"conditions_{donors}donors.h5ad"
    if out.exists():
        return out
    d.mkdir(parents=True, exist_ok=True)
    raw = d / "raw.h5ad"
    if not raw.exists():
        if tile_from:
            src = prepare_raw(tile_from, workdir, **atlas)
            if n_cells % tile_from:
                raise SystemExit("--cells must be a multiple of --tile-from")
            tile_atlas(raw, src, n_cells // tile_from)
        else:
            simulate_atlas(raw, n_cells, **atlas)
    tmp = d / "conditions.tmp.h5ad"
    os.replace(raw, tmp)  # the matrix is not copied: the raw file becomes this one
    with h5py.File(tmp, "r+") as f:
        obs = read_elem(f["obs"])
        k = np.arange(len(obs)) % donors
        obs["donor"] = pd.Categorical([f"donor{i:03d}" for i in k])
        obs["condition"] = pd.Categorical(
            np.where(k < donors // 2, "healthy", "disease"), categories=["healthy", "disease"]
        )
        del f["obs"]
        write_elem(f, "obs", obs)
        if "counts" not in f["layers"]:
            f["layers"]["counts"] = f["X"]  # a hard link: the same datasets
    os.replace(tmp, out)
    return out


def prepare_raw(n_cells: int, workdir: Path, **atlas) -> Path:
    """A file of ``n_cells`` cells with the raw counts in ``X`` (to tile from)."""
    from benchmarks.atlas import simulate_atlas

    d = workdir / f"atlas{n_cells}"
    for name in ("raw.h5ad", *sorted(p.name for p in d.glob("conditions_*donors.h5ad"))):
        if (d / name).exists():
            return d / name
    d.mkdir(parents=True, exist_ok=True)
    simulate_atlas(d / "raw.h5ad", n_cells, **atlas)
    return d / "raw.h5ad"


class Tree:
    """CPU seconds and peak RSS of this process and its children."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def cpu(self) -> float:
        t = self.proc.cpu_times()
        total = t.user + t.system
        for c in self.proc.children(recursive=True):
            try:
                ct = c.cpu_times()
                self._seen[c.pid] = ct.user + ct.system
            except Exception:  # noqa: BLE001 - gone since: its last reading counts
                pass
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        # children still alive count by their last reading; reaped ones through rusage
        alive = {c.pid for c in self.proc.children(recursive=True)}
        gone_unreaped = sum(v for p, v in self._seen.items() if p not in alive)
        reaped = ru.ru_utime + ru.ru_stime
        return (
            total + sum(v for p, v in self._seen.items() if p in alive) + max(reaped, gone_unreaped)
        )

    def _watch(self):
        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss + sum(
                    c.memory_info().rss for c in self.proc.children(recursive=True)
                )
                self.peak = max(self.peak, rss)
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.5)

    def stop(self):
        self._stop.set()


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed_run(path: Path, threads: int, programs: int, tables: Path | None) -> dict:
    from scinterp.interpret import conditions as C
    from scinterp.interpret.conditions import _celltypes, _genes

    tree = Tree()
    parts: dict[str, list] = {}
    stack: list[str] = []

    def wrap(module, name, part):
        f = getattr(module, name, None)
        if f is None:  # an older commit's code
            return None

        def inner(*a, **k):
            if part in stack or (part == "classifier fits" and "permutations" in stack):
                return f(*a, **k)  # counted by the caller's part
            t0, c0 = time.perf_counter(), tree.cpu()
            stack.append(part)
            try:
                return f(*a, **k)
            finally:
                stack.pop()
                parts.setdefault(part, []).append((time.perf_counter() - t0, tree.cpu() - c0))

        setattr(module, name, inner)
        return f

    originals = [
        (C, "test_genes", wrap(C, "test_genes", "genes (all)")),
        (_genes, "gene_sums", wrap(_genes, "gene_sums", "pseudobulk + feature sums")),
        (_genes, "_deseq", wrap(_genes, "_deseq", "pydeseq2")),
        (_genes, "_one_type", wrap(_genes, "_one_type", "one type (pydeseq2 + model rows)")),
        (C, "test_celltypes", wrap(C, "test_celltypes", "classifiers (all)")),
        (_celltypes, "_cv_auroc", wrap(_celltypes, "_cv_auroc", "classifier fits")),
        (_celltypes, "_null_scores", wrap(_celltypes, "_null_scores", "permutations")),
        (C, "test_programs", wrap(C, "test_programs", "programs")),
        (C, "test_abundance", wrap(C, "test_abundance", "abundance")),
    ]
    try:
        with C.open_cells(str(path)) as cells:
            obs_names = cells.obs.index
        rng = np.random.default_rng(0)
        activity = pd.DataFrame(
            rng.normal(size=(len(obs_names), programs)).astype(np.float32),
            index=obs_names,
            columns=[f"program{i}" for i in range(programs)],
        )
        load0 = _load()
        t0, c0 = time.perf_counter(), tree.cpu()
        out = C.run(
            {"normalized": str(path), "activity": activity},
            label_key="cell_type",
            sample_key="donor",
            condition_key="condition",
            reference="healthy",
            n_jobs=threads,
        )
        wall, cpu = time.perf_counter() - t0, tree.cpu() - c0
        load1 = _load()
    finally:
        for module, name, f in originals:
            if f is not None:
                setattr(module, name, f)
        tree.stop()
    summary = {}
    for part, v in parts.items():
        w = np.array([x[0] for x in v])
        c = np.array([x[1] for x in v])
        summary[part] = dict(
            calls=len(v), wall_s=round(float(w.sum()), 1), cpu_s=round(float(c.sum()), 1)
        )
        if part == "pydeseq2":
            summary[part]["per_type_wall_s"] = [round(float(x), 1) for x in w]
            summary[part]["per_type_cpu_s"] = [round(float(x), 1) for x in c]
    one = summary.get("one type (pydeseq2 + model rows)")
    if one and "pydeseq2" in summary:
        summary["model rows"] = dict(
            wall_s=round(one["wall_s"] - summary["pydeseq2"]["wall_s"], 1),
            cpu_s=round(one["cpu_s"] - summary["pydeseq2"]["cpu_s"], 1),
        )
    cl = summary.get("classifiers (all)")
    if cl and "classifier fits" in summary:
        fits = [summary["classifier fits"], summary.get("permutations", {})]
        summary["classifier reading + PCA"] = dict(
            wall_s=round(cl["wall_s"] - sum(f.get("wall_s", 0) for f in fits), 1),
            cpu_s=round(cl["cpu_s"] - sum(f.get("cpu_s", 0) for f in fits), 1),
        )
    if tables is not None:
        tables.mkdir(parents=True, exist_ok=True)
        for name, t in out.items():
            t.to_csv(tables / f"{name}.tsv", sep="\t", index=False)
    return dict(
        wall_s=round(wall, 1),
        cpu_s=round(cpu, 1),
        peak_rss_gb=round(tree.peak / 2**30, 2),
        parts=summary,
        rows={k: len(v) for k, v in out.items()},
        load_start=load0,
        load_end=load1,
    )


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=100000)
    ap.add_argument("--tile-from", type=int, default=None)
    ap.add_argument("--donors", type=int, default=100)
    ap.add_argument("--programs", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp/scinterp-conditions-atlas")
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--tables", default=None, help="write the four tables here")
    ap.add_argument("--out", default=None, help="append the run's record to this JSON list")
    ap.add_argument(
        "--results", default=None, help="write harness rows (results.json) to this folder"
    )
    ap.add_argument("--smoke", action="store_true", help="1,200 cells, 8 donors, 4 types (seconds)")
    args = ap.parse_args(argv)
    shape = {}
    if args.smoke:
        args.cells, args.donors, args.programs, args.tile_from = 1200, 8, 3, None
        shape = {"n_genes": 1500, "n_types": 4}
        args.results = args.results or args.workdir
    t0 = time.perf_counter()
    path = prepare(args.cells, Path(args.workdir), args.donors, args.tile_from, **shape)
    print(f"atlas {path} ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.prepare_only:
        return {}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    ).stdout.strip()
    rec = dict(
        cells=args.cells,
        donors=args.donors,
        threads=args.threads,
        commit=commit,
        tiled_from=args.tile_from,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(args.threads):  # BLAS / OpenMP threads as the job's
        rec.update(
            timed_run(path, args.threads, args.programs, Path(args.tables) if args.tables else None)
        )
    print(json.dumps(rec, indent=1), flush=True)
    if args.out:
        p = Path(args.out)
        rows = json.loads(p.read_text()) if p.exists() else []
        rows.append(rec)
        p.write_text(json.dumps(rows, indent=1) + "\n")
    if args.results:
        write_results(result_rows(rec), Path(args.results))
    return rec


#: issue 30's bound on the branch at 1M cells and 100 samples, 2 cores
BOUND_S = 15 * 60


def result_rows(rec: dict) -> list[dict]:
    """The harness's rows of one run: the whole branch's wall time against the bound
    (role ``target``) and each part's (no role)."""
    case = f"{rec['cells']} cells, {rec['donors']} donors, {rec['threads']} threads"
    whole = Measure(rec["wall_s"], rec["cpu_s"], rec["peak_rss_gb"] * 1024)
    kw = dict(commit=rec["commit"], load=rec.get("load_start"))
    rows = [
        result_row("conditions_atlas", case, "atlas", "scinterp conditions.run", "wall_s",
                   rec["wall_s"], whole, role="ours", **kw),
        result_row("conditions_atlas", case, "atlas", "issue 30 bound", "wall_s", BOUND_S,
                   role="target", **kw),
    ]  # fmt: skip
    for part, m in rec["parts"].items():
        rows.append(
            result_row("conditions_atlas", case, "atlas", part, "wall_s", m["wall_s"],
                       Measure(m["wall_s"], m["cpu_s"], None), **kw)
        )  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
