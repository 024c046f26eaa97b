"""The whole workflow through snakemake on simulated atlases of 100k to 1M cells (issue 18).

    python -m benchmarks.atlas_workflow --cells 100000                   # simulate, run
    python -m benchmarks.atlas_workflow --cells 300000 1000000 --mem-mb 20000 --drop-h5ad
                                                   # copies of the 100k; one big job at a time
    python -m benchmarks.atlas_workflow --cells 100000 --prepare-only    # data and config only
    python -m benchmarks.atlas_workflow --cells 100000 --dry-run         # snakemake -n
    python -m benchmarks.atlas_workflow --cells 1000000 --collect-only   # the table again
    python -m benchmarks.atlas_workflow --compare \\
        /tmp/scinterp-atlas-wf/cells_1000000/results/atlas /tmp/scinterp-atlas-wf/cells_100000/results/atlas

For each size N, ``<workdir>/cells_N/`` gets

* ``atlas/``: the count atlas (``atlas.h5ad``, 20k genes, 24 cell types, 4 batches,
  16 planted programs) with ``gene_sets.gmt``, ``tfs.txt`` and ``truth/`` beside it,
  written by ``benchmarks/atlas.py`` (:func:`simulate_atlas`); kept and reused when
  present. Sizes that are a multiple of ``--tile-from`` (default 100000) other than
  itself are that many copies of the ``--tile-from`` atlas (:func:`tile_atlas`, made
  first when missing), so the 100k atlas is a subsample of the larger ones: the same
  cells, each repeated;
* ``config.yaml``: a copy of ``config/atlas.yaml`` (its paths are relative to this folder);

then runs ``snakemake -s <repo>/Snakefile -d <workdir>/cells_N --configfile
<workdir>/cells_N/config.yaml --cores C --rerun-incomplete`` (with ``--mem-mb N``, also
``--resources mem_mb=N``, so that two large jobs do not share the memory; log in
``cells_N/snakemake.log``), timing the whole call, and collects every rule's
``benchmark:`` file (``results/atlas/benchmarks/**/*.tsv``: wall seconds, CPU seconds,
peak RSS) into ``cells_N/stages.tsv``, printed as markdown with the total wall time and
the largest peak RSS (``cells_N/run.json`` keeps the call's wall time and exit status).
A run (or ``--collect-only``) writes the harness's rows to ``<workdir>/results.json``:
per size, the whole call's cells/s (wall, CPU and the largest job's peak RSS beside it)
and each job's; no peer.

``--compare A B`` compares two runs' results folders (e.g. 1M against its 100k
subsample): per cell type, the overlap of the top-10 ``consensus`` identity genes
(``identity/genes.tsv`` by rank) and of the top-5 programs by score
(``programs/activity.tsv``, of the method the summary shows), as the share of A's top
found in B's; mean and minimum over the types are printed, the rows written to
``--out`` (default ``<workdir>/compare.tsv``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from benchmarks import harness
from benchmarks.atlas import SIDE_FILES, simulate_atlas, tile_atlas

REPO = harness.REPO

DATASET = "atlas"


# ------------------------------------------------------------------ the data
def _complete(data: Path) -> bool:
    return (data / "atlas.h5ad").exists() and all((data / f).exists() for f in SIDE_FILES)


def prepare_atlas(n: int, args) -> Path:
    """``<workdir>/cells_N/atlas/`` with the atlas and its side files (made if missing)."""
    data = Path(args.workdir) / f"cells_{n}" / "atlas"
    if _complete(data):
        print(f"{n:>9} cells  atlas present: {data}", flush=True)
        return data
    data.mkdir(parents=True, exist_ok=True)
    sw = harness.Stopwatch()
    base = args.tile_from
    if base and n != base and n % base == 0:
        src = prepare_atlas(base, args)
        info = tile_atlas(data / "atlas.h5ad", src / "atlas.h5ad", n // base)
    else:
        info = simulate_atlas(
            data / "atlas.h5ad",
            n,
            n_genes=args.genes,
            seed=args.seed,
            n_types=args.types,
            n_batches=args.batches,
        )
    wall, cpu = sw.wall(), sw.cpu()
    gb = (data / "atlas.h5ad").stat().st_size / 1e9
    print(
        f"{n:>9} cells  atlas written in {wall:.0f} s (cpu {cpu:.0f} s), {gb:.2f} GB, "
        f"{info['genes_per_cell']:.0f} genes per cell: {data}",
        flush=True,
    )
    return data


def write_config(d: Path, source: Path) -> Path:
    """``d/config.yaml``: the atlas config as it is (its paths are relative to ``d``)."""
    out = d / "config.yaml"
    shutil.copyfile(source, out)
    return out


# ------------------------------------------------------------------ the run
# a library edit during a size's run must not rerun its finished jobs
RERUN = ("--rerun-incomplete", "--rerun-triggers", "mtime")


def run_workflow(d: Path, config: Path, args) -> dict:
    """Run snakemake on ``d`` (output to ``d/snakemake.log``); its wall time, CPU seconds,
    peak RSS and status (:func:`benchmarks.harness.run_workflow`)."""
    extra = [*RERUN, *(["--resources", f"mem_mb={args.mem_mb}"] if args.mem_mb else [])]
    log = d / "snakemake.log"
    print(f"running (log {log})", flush=True)
    res = harness.run_workflow(d, config, cores=args.cores, extra=extra, log=log)
    rc = res.rc
    out = {"cells": _cells_of(d), "returncode": rc, **res.measure.as_dict()}
    if rc == 0 and "Nothing to be done" in log.read_text() and (d / "run.json").exists():
        return json.loads((d / "run.json").read_text())  # keep the run that did the work
    if rc == 0:  # the report a user opens: its build time and size
        report = d / "report.html"
        rep = harness.run_workflow(
            d, config, cores=args.cores, extra=[*RERUN, "--report", str(report)],
            log=d / "report.log",
        )  # fmt: skip
        out.update(report_s=rep.measure.wall_s, report_returncode=rep.rc)
        if report.exists():
            out["report_mb"] = report.stat().st_size / 1e6
    (d / "run.json").write_text(json.dumps(out, indent=1) + "\n")
    if rc != 0:
        print(f"snakemake failed (exit {rc}); the end of {log}:", file=sys.stderr)
        print("".join(log.read_text().splitlines(True)[-40:]), file=sys.stderr)
    return out


def dry_run(d: Path, config: Path, args) -> int:
    """``snakemake -n``: print its job counts (the 'Job stats' table)."""
    res = harness.run_workflow(
        d, config, cores=args.cores, extra=[*RERUN, "-n", "--quiet", "rules"], capture=True
    )
    if res.rc != 0:
        print(res.stdout[-12000:], file=sys.stderr)
        return res.rc
    lines = res.stdout.splitlines()
    start = next((i for i, x in enumerate(lines) if x.startswith("Job stats")), 0)
    end = next((i for i, x in enumerate(lines[start:], start) if x.startswith("total")), -1)
    notes = [x for x in lines if x.startswith("scinterp:")]
    print("\n".join([f"{d.name}: snakemake -n", *notes, *lines[start : end + 1]]))
    return 0


def _cells_of(d: Path) -> int | None:
    name = d.name
    return int(name.split("_", 1)[1]) if name.startswith("cells_") else None


def drop_matrices(d: Path) -> None:
    """Remove the run's cells x genes intermediates (qc/filtered.h5ad, normalized.h5ad:
    about 38 GB at 1M cells); the tables, figures and models stay. A later snakemake
    call on ``d`` would remake them and everything after."""
    res = d / "results" / DATASET
    freed = 0
    for f in (res / "qc" / "filtered.h5ad", res / "normalized.h5ad"):
        if f.exists():
            freed += f.stat().st_size
            f.unlink()
    print(f"removed filtered.h5ad and normalized.h5ad of {d.name}: {freed / 1e9:.1f} GB")


# ------------------------------------------------------------------ the table
def collect_benchmarks(results: Path) -> pd.DataFrame:
    """Every benchmark file under ``results/benchmarks``: rule (the path below
    benchmarks/, without .tsv), wall_s, cpu_s, max_rss_mb (the last row of a repeated
    benchmark)."""
    root = results / "benchmarks"
    rows = []
    for f in sorted(root.rglob("*.tsv")):
        b = pd.read_csv(f, sep="\t")
        if not len(b):
            continue
        last = b.iloc[-1]

        def num(col, last=last):
            return float(pd.to_numeric(last.get(col), errors="coerce"))

        rows.append(
            {
                "rule": str(f.relative_to(root).with_suffix("")),
                "wall_s": num("s"),
                "cpu_s": num("cpu_time"),
                "max_rss_mb": num("max_rss"),
            }
        )
    return pd.DataFrame(rows, columns=["rule", "wall_s", "cpu_s", "max_rss_mb"])


def report_run(d: Path) -> pd.DataFrame:
    """Print the stage table of the run in ``d`` and write ``d/stages.tsv``."""
    table = collect_benchmarks(d / "results" / DATASET)
    table.to_csv(d / "stages.tsv", sep="\t", index=False)
    run = json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else {}
    print(f"\n## {d.name}: {len(table)} jobs with a benchmark file ({d / 'stages.tsv'})\n")
    if not len(table):
        return table
    print(table.to_markdown(index=False, floatfmt=".1f"))
    peak = table.loc[table["max_rss_mb"].idxmax()] if table["max_rss_mb"].notna().any() else None
    total = run.get("wall_s")
    print(
        f"\nsnakemake wall {total:.0f} s" if total is not None else "\nsnakemake wall: not timed",
        f"(exit {run.get('returncode')});" if run else ";",
        f"jobs' wall {table['wall_s'].sum():.0f} s, CPU {table['cpu_s'].sum():.0f} s;",
        f"largest peak RSS {peak['max_rss_mb'] / 1024:.2f} GB ({peak['rule']})"
        if peak is not None
        else "",
    )
    if "report_mb" in run:
        print(f"report.html: {run['report_mb']:.1f} MB, built in {run['report_s']:.0f} s")
    return table


# ------------------------------------------------------------------ compare
def _top_identity(results: Path, k: int) -> dict[str, list[str]]:
    cols = ["cell_type", "gene", "rank", "method"]
    genes = pd.read_csv(results / "identity" / "genes.tsv", sep="\t", usecols=cols)
    sub = genes[genes["method"] == "consensus"].sort_values(["cell_type", "rank"], kind="stable")
    return {str(t): g["gene"].astype(str).head(k).tolist() for t, g in sub.groupby("cell_type")}


def _program_method(activity: pd.DataFrame) -> str:
    from scinterp.report.summary import PROGRAM_METHODS

    methods = list(dict.fromkeys(activity["method"].astype(str)))
    return next((m for m in PROGRAM_METHODS if m in methods), methods[0])


def _top_programs(results: Path, k: int, method: str | None) -> tuple[dict, str]:
    act = pd.read_csv(results / "programs" / "activity.tsv", sep="\t")
    method = method or _program_method(act)
    sub = act[act["method"].astype(str) == method]
    top = {
        str(t): g.sort_values("score", ascending=False, kind="stable")["program"]
        .astype(str)
        .head(k)
        .tolist()
        for t, g in sub.groupby("cell_type")
    }
    return top, method


def compare(a: Path, b: Path, out: Path, k_genes: int = 10, k_programs: int = 5) -> pd.DataFrame:
    """Per cell type, the share of A's top genes / programs that are in B's."""
    rows = []

    def add(kind, top_a, top_b, k):
        for t in sorted(top_a):
            ta, tb = top_a[t], top_b.get(t, [])
            rows.append(
                {
                    "kind": kind,
                    "cell_type": t,
                    "k": k,
                    "overlap": len(set(ta) & set(tb)) / max(len(ta), 1),
                    "top_a": ",".join(ta),
                    "top_b": ",".join(tb),
                }
            )

    add("identity_consensus", _top_identity(a, k_genes), _top_identity(b, k_genes), k_genes)
    progs_a, method = _top_programs(a, k_programs, None)
    progs_b, _ = _top_programs(b, k_programs, method)
    add(f"programs_{method}", progs_a, progs_b, k_programs)
    table = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, sep="\t", index=False)
    print(f"A = {a}\nB = {b}\n")
    for kind, g in table.groupby("kind", sort=False):
        k = int(g["k"].iloc[0])
        print(
            f"{kind:<28} top-{k} overlap per cell type: mean {g['overlap'].mean():.2f}, "
            f"min {g['overlap'].min():.2f} ({g.loc[g['overlap'].idxmin(), 'cell_type']}), "
            f"{len(g)} types"
        )
    for name, path in (("A", a), ("B", b)):
        _print_truth_scores(name, path)
    print(f"\nper cell type: {out}")
    return table


def _print_truth_scores(name: str, results: Path) -> None:
    """Each run's own scores against the planted truth, where it wrote them."""
    parts = []
    ev = results / "identity" / "evaluation.tsv"
    if ev.exists():
        e = pd.read_csv(ev, sep="\t")
        e = e[e["method"] == "consensus"]
        if len(e):
            parts.append(f"identity consensus precision@k {e['precision_at_k'].mean():.2f}")
    ev = results / "programs" / "evaluation.tsv"
    if ev.exists():
        e = pd.read_csv(ev, sep="\t")
        parts += [f"programs {r.method} AUROC {r.auroc:.2f}" for r in e.itertuples()]
    if parts:
        print(f"{name} against the truth: " + "; ".join(parts))


# ------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case (tests/test_benchmarks_smoke.py)",
    )
    ap.add_argument("--cells", type=int, nargs="+", default=[100000])
    ap.add_argument("--workdir", default="/tmp/scinterp-atlas-wf")
    ap.add_argument(
        "--tile-from",
        type=int,
        default=100000,
        help="sizes that are a multiple of this one are copies of its atlas (0: simulate "
        "every size)",
    )
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument(
        "--mem-mb",
        type=int,
        default=None,
        help="snakemake --resources mem_mb=N: jobs run together only while their mem_mb "
        "(which grows with their input) sums to at most N; a larger job runs alone",
    )
    ap.add_argument("--config", default=str(REPO / "config" / "atlas.yaml"))
    ap.add_argument(
        "--drop-h5ad",
        action="store_true",
        help="after a successful run, remove its filtered.h5ad and normalized.h5ad (disk: "
        "a 1M run writes about 50 GB)",
    )
    ap.add_argument("--genes", type=int, default=20000)
    ap.add_argument("--types", type=int, default=24)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--prepare-only", action="store_true", help="data and config, no run")
    mode.add_argument("--dry-run", action="store_true", help="data, config and snakemake -n")
    mode.add_argument("--collect-only", action="store_true", help="the stage table only")
    mode.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two results folders")
    ap.add_argument("--out", default=None, help="--compare's table (default <workdir>/compare.tsv)")
    args = ap.parse_args(argv)
    if args.smoke:  # a 1,000-cell atlas, its config and snakemake -n
        args.cells, args.tile_from, args.genes, args.types, args.batches = [1000], 0, 2000, 4, 2
        args.dry_run = True

    if args.compare:
        out = Path(args.out) if args.out else Path(args.workdir) / "compare.tsv"
        compare(Path(args.compare[0]), Path(args.compare[1]), out)
        return 0
    failed, rows = False, []
    for n in args.cells:
        d = Path(args.workdir) / f"cells_{n}"
        if args.collect_only:
            rows += result_rows(d, report_run(d))
            continue
        prepare_atlas(n, args)
        config = write_config(d, Path(args.config))
        if args.prepare_only:
            continue
        if args.dry_run:
            failed |= dry_run(d, config, args) != 0
            continue
        run = run_workflow(d, config, args)
        failed |= run["returncode"] != 0
        rows += result_rows(d, report_run(d))
        if args.drop_h5ad and run["returncode"] == 0:
            drop_matrices(d)
    if rows:
        print(f"rows: {harness.write_results(rows, Path(args.workdir))}")
    return 1 if failed else 0


def result_rows(d: Path, table: pd.DataFrame) -> list[dict]:
    """A finished run in ``d`` as the harness's rows: cells/s of the whole snakemake call
    (``run.json``; CPU seconds summed over the jobs, the largest job's peak RSS) and of
    each job (its benchmark file)."""
    run = json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else {}
    cells = _cells_of(d)
    if not run or run.get("returncode") != 0 or not cells or not len(table):
        return []
    dataset, case = f"{cells:,} cells", "config/atlas.yaml"
    jobs_cpu, peak = float(table["cpu_s"].sum()), float(table["max_rss_mb"].max())
    rows = [harness.row(
        "atlas_workflow", case, dataset, "workflow", "cells_per_s", cells / run["wall_s"],
        harness.Measure(run["wall_s"], jobs_cpu, peak),
    )]  # fmt: skip
    for r in table.itertuples(index=False):
        rows.append(harness.row(
            "atlas_workflow", case, dataset, r.rule, "cells_per_s", cells / r.wall_s,
            harness.Measure(r.wall_s, r.cpu_s, r.max_rss_mb),
        ))  # fmt: skip
    return rows


if __name__ == "__main__":
    sys.exit(main())
