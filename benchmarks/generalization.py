"""Generalization benchmark (issue 14): the workflow at its defaults on datasets it has never seen.

For every dataset written by ``benchmarks/datasets.py`` (none made by ``scinterp.simulate``)
this script

1. writes a config holding only that dataset's keys (rna, label_key, batch_key,
   gene_sets, tfs, truth, grn_reference) and ``compare: true`` (every model, attribution
   method and peer beside the findings' own; ``--no-compare`` leaves it at the default,
   false, as a user's first run): every other setting is the schema's default;
2. runs ``snakemake --cores N --keep-going`` on it in its own working directory
   (``<out>/<dataset>/``, so results/, logs/ and .snakemake/ stay there, never in the
   repository's results/);
3. records which jobs failed (rule, log file, the error line) and every line of the
   logs that says something was skipped;
4. reads the branch outputs and prints one table per branch, dataset x method, ours and
   the peers side by side, with a worst and a median row:

   * QC: cells kept, doublets removed and good cells kept (obs ``quality``), against
     scanpy's scrublet alone (run here, per batch, on the same raw counts);
   * identity: precision@k (mean over cell types) per method from identity/evaluation.tsv
     (consensus, each attribution method, Wilcoxon);
   * programs: AUROC of program activity per method from programs/evaluation.tsv;
   * GRN: AUPRC ratio, EPR and AUROC of the global networks from grn/metrics.tsv (ours,
     GRNBoost2, the correlation peers) and of the absolute-Spearman networks computed
     here over all cells and within each cell type (the floors every method should
     clear; ``spearman_floor``).

Run::

    python -m benchmarks.datasets      # optional: missing datasets are built when asked for
    python -m benchmarks.generalization                             # all datasets
    python -m benchmarks.generalization --datasets sergio_panel,krumsiek11 --cores 2
    python -m benchmarks.generalization --no-run                    # tables from the last run

Outputs: ``<out>/tables.md`` (the tables), ``<out>/summary.json`` (every figure, failure
and timing), and per dataset ``<out>/<dataset>/`` (config.yaml, snakemake.log, results/,
logs/).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks import harness
from benchmarks.datasets import DATASETS, dataset_config, root_dir

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "benchmarks" / "out" / "generalization"

# Rules by branch, for the "failed / skipped" column (upstream failures count for all).
UPSTREAM = ("qc", "normalize")
BRANCH_RULES = {
    "qc": ("qc",),
    "identity": ("train_model", "attribute", "rank_identity_genes", "evaluate_identity"),
    "programs": ("train_model", "program_tables", "program_evaluation", "program_figures"),
    "grn": ("train_model", "infer_grn", "grnboost2", "evaluate_grn", "grn_figures"),
}
BRANCH_MODELS = {
    "identity": ("mlp_classifier", "attention_classifier"),  # branches.identity.model + attention
    "programs": ("program_vae", "ldvae", "capsule_classifier"),
    "grn": ("grn_sem",),
}
ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)|Error|ERROR)\b.*")
SKIP_LINE = re.compile(r"\bskip", re.IGNORECASE)
# gene sets too small for the data are dropped on every dataset: listed, not counted
ROUTINE_SKIP = re.compile(r"skipped \d+ gene set\(s\) with fewer than")


# ------------------------------------------------------------------ running
def run_workflow(
    name: str, cfg: dict, workdir: Path, cores: int, timeout: float, dry_run: bool = False
) -> dict:
    """snakemake on one dataset in its own working directory; wall time, CPU seconds, peak
    RSS and exit code (:func:`benchmarks.harness.run_workflow`)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    cfg_path = workdir / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    res = harness.run_workflow(
        workdir, cfg_path, cores=cores, extra=["--keep-going", *(["-n"] if dry_run else [])],
        timeout=timeout,
    )  # fmt: skip
    out = res.as_dict()
    out["wall_s"] = round(res.measure.wall_s, 1)
    return out


# ------------------------------------------------------------------ what went wrong
def _error_of(log_path: Path) -> str:
    """The line of a job's log that says why it failed (the exception), else its last lines."""
    if not log_path.exists():
        return "(no log file)"
    lines = [x.rstrip() for x in log_path.read_text(errors="replace").splitlines() if x.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if ERROR_LINE.match(lines[i]):
            return " ".join(lines[i : i + 3])[:700]
    return " | ".join(lines[-3:])[:400] if lines else "(empty log)"


def failures(workdir: Path) -> list[dict]:
    """Failed jobs from snakemake's output: rule, job (from its log path) and the error line.

    Snakemake's "Error in rule" block names no wildcards; the job's log path does
    (``logs/{dataset}/train_model/{model}.log``), so the job is named after it.
    """
    text = (workdir / "snakemake.log").read_text(errors="replace")
    out = []
    for m in re.finditer(r"^Error in rule (\w+):\n((?:[ \t]+.*\n?)*)", text, re.MULTILINE):
        block = m.group(2)
        log = re.search(r"^\s+log: (\S+)", block, re.MULTILINE)
        log_path = workdir / log.group(1) if log else None
        job = m.group(1)
        if log:
            parts = Path(log.group(1)).with_suffix("").parts  # logs, dataset, rule[, ...]
            job = "/".join(parts[2:]) if len(parts) > 2 else job
        out.append(
            {
                "rule": m.group(1),
                "job": job,
                "log": log.group(1) if log else "",
                "error": _error_of(log_path) if log_path else _snakemake_error(block),
            }
        )
    if not out and not (workdir / "results").exists() and re.search(r"Error|Exception", text):
        # stopped before any job ran: config validation, the DAG, an input check
        out.append(
            {"rule": "(workflow)", "job": "(workflow)", "log": "snakemake.log",
             "error": _snakemake_error(text)}
        )  # fmt: skip
    return out


def _snakemake_error(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    for i, line in enumerate(lines):
        if ERROR_LINE.match(line) or "Error" in line:
            return " ".join(lines[i : i + 4])[:400]
    return " | ".join(lines[-3:])[:400]


def skipped(workdir: Path) -> list[dict]:
    """Lines of the job logs that say a model, branch or method was skipped."""
    rows, seen = [], set()
    for log in sorted((workdir / "logs").rglob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if SKIP_LINE.search(line):
                text = re.sub(r"^(DEBUG|INFO|WARNING|ERROR):[\w.]+:", "", line.strip())[:300]
                key = (log.name, text)
                if key not in seen:
                    seen.add(key)
                    rows.append({"log": str(log.relative_to(workdir)), "line": text})
    return rows


def rule_times(results: Path) -> dict[str, float]:
    """Wall seconds per job from the workflow's benchmark files."""
    out = {}
    for f in sorted((results / "benchmarks").rglob("*.tsv")):
        try:
            out[str(f.relative_to(results / "benchmarks").with_suffix(""))] = float(
                pd.read_csv(f, sep="\t")["s"].iloc[-1]
            )
        except (OSError, KeyError, IndexError, ValueError, pd.errors.ParserError):
            pass
    return out


# ------------------------------------------------------------------ peers computed here
def _read_raw(ds: dict):
    from scinterp.io import read_counts

    return read_counts(ds["rna"], dataset=None, counts_layer=ds.get("counts_layer"))


def scrublet_peer(ds: dict) -> dict:
    """scanpy's scrublet alone (its defaults, per batch) on all cells of the raw counts."""
    import anndata as ad
    import scanpy as sc

    a = _read_raw(ds)
    obs = ad.read_h5ad(ds["rna"], backed="r").obs
    if "quality" not in obs or not (obs["quality"].astype(str) == "doublet").any():
        return {}
    q = obs["quality"].astype(str).reindex(a.obs_names).to_numpy()
    batch = ds.get("batch_key")
    if batch:
        a.obs[batch] = obs[batch].reindex(a.obs_names).astype(str).to_numpy()
    note = "defaults"
    try:
        sc.pp.scrublet(a, batch_key=batch, random_state=0)
    except ValueError as e:
        # a panel keeps fewer genes than scrublet's 30 principal components: the peer
        # gets as many components as it can have, and the table says so
        n_pcs = max(2, min(30, int(a.n_vars * 0.2)))
        note = f"defaults failed ({str(e)[:80]}); n_prin_comps={n_pcs}"
        try:
            sc.pp.scrublet(a, batch_key=batch, random_state=0, n_prin_comps=n_pcs)
        except Exception as e2:  # noqa: BLE001  (the peer failing is a result, not a crash)
            return {"error": f"{type(e2).__name__}: {e2}"[:200]}
    called = a.obs["predicted_doublet"].to_numpy(dtype=bool)
    return {
        "doublets_removed": float(called[q == "doublet"].mean()),
        "good_kept": float((~called[q == "good"]).mean()),
        "note": note,
    }


def spearman_floor(ds: dict, results: Path) -> dict | None:
    """The correlation floors, scored like the workflow's networks: |Spearman| of every
    TF with every gene over all cells (``abs_spearman (bench)``) and within each cell
    type, the best type's (``within_type_spearman (bench)``; the labels, or the Leiden
    clusters the workflow wrote; :mod:`scinterp.interpret.grn.peers`).

    On the workflow's universe (grn_sem's TFs and features, from its model.json) and its
    normalized.h5ad where those exist; otherwise on the raw counts (normalize_total +
    log1p, genes in >= 3 cells) with the dataset's TF list (or the default) matched
    case-insensitively, and the dataset's labels (no within-type floor without them).
    Returns method -> figures (or one ``error``).
    """
    if not ds.get("grn_reference"):
        return None
    import scanpy as sc

    from scinterp.evaluate.grn import grn_metrics, read_reference
    from scinterp.interpret.grn.peers import run_peer
    from scinterp.io import read_normalized
    from scinterp.priors import default_tfs, read_tfs

    meta_path = results / "models" / "grn_sem" / "model.json"
    normalized = results / "normalized.h5ad"
    if meta_path.exists() and normalized.exists():
        meta = json.loads(meta_path.read_text())["meta"]
        tfs, genes = list(meta["tfs"]), list(meta["features"])
        a = read_normalized(normalized, var_names=genes)
        a = a[:, genes]
        key = a.uns.get("scinterp", {}).get("label_key")
        where = "workflow universe"
    else:
        a = _read_raw(ds)
        sc.pp.filter_genes(a, min_cells=3)
        sc.pp.normalize_total(a, target_sum=1e4)
        sc.pp.log1p(a)
        genes = list(a.var_names)
        tfs = read_tfs(ds.get("tfs") or default_tfs(), genes)
        key = ds.get("label_key")
        where = "raw counts (no workflow universe)"
    if not tfs:
        return {"abs_spearman (bench)": {"error": "no TF of the list among the genes"}}
    labels = a.obs[key].astype(str).to_numpy() if key in a.obs else None
    peers = {"abs_spearman (bench)": "spearman"}
    if labels is not None:
        peers["within_type_spearman (bench)"] = "within_type_spearman"
    nets = [
        run_peer(peer, a.X, genes, tfs, labels=labels).assign(method=name)
        for name, peer in peers.items()
    ]
    reference = read_reference(ds["grn_reference"], tfs, genes)
    m = grn_metrics(pd.concat(nets), reference, tfs, genes).set_index("method")
    return {
        name: {
            "auprc_ratio": float(m.loc[name, "auprc_ratio"]),
            "epr": float(m.loc[name, "epr"]),
            "auroc": float(m.loc[name, "auroc"]),
            "where": where,
        }
        for name in peers
    }


# ------------------------------------------------------------------ collecting figures
def collect(name: str, ds: dict, workdir: Path, run: dict | None) -> dict:
    results = workdir / "results" / name
    rec: dict = {"dataset": name, "run": run or {}, "workdir": str(workdir)}
    rec["failed"] = failures(workdir) if (workdir / "snakemake.log").exists() else []
    rec["skipped"] = skipped(workdir) if (workdir / "logs").exists() else []
    rec["rule_s"] = rule_times(results)

    metrics = results / "qc" / "metrics.tsv"
    qc: dict = {}
    if metrics.exists():
        m = pd.read_csv(metrics, sep="\t")
        keep = m["keep"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
        qc.update(cells_in=len(m), cells_kept=int(keep.sum()))
        if "quality" in m:
            q = m["quality"].astype(str).to_numpy()
            for label, key, removed in (
                ("doublet", "doublets_removed", True),
                ("good", "good_kept", False),
                ("low_quality", "low_quality_removed", True),
            ):
                if (q == label).any():
                    qc[key] = float(
                        ((~keep if removed else keep) & (q == label)).sum() / (q == label).sum()
                    )
            if "predicted_doublet" in m and (q == "good").any():
                # the doublet call alone (good cells can also fall to the other QC filters)
                called = m["predicted_doublet"].astype(str).str.lower().isin(["true", "1"])
                qc["good_not_called_doublet"] = float((~called.to_numpy())[q == "good"].mean())
    qc["scrublet"] = scrublet_peer(ds)
    rec["qc"] = qc

    ev = results / "identity" / "evaluation.tsv"
    if ev.exists():
        e = pd.read_csv(ev, sep="\t")
        rec["identity"] = e.groupby("method")["precision_at_k"].mean().to_dict()
    ev = results / "programs" / "evaluation.tsv"
    if ev.exists():
        e = pd.read_csv(ev, sep="\t")
        rec["programs"] = e.set_index("method")["auroc"].to_dict()
    grn: dict = {}
    ev = results / "grn" / "metrics.tsv"
    if ev.exists():
        e = pd.read_csv(ev, sep="\t")
        e = e[e["cell_type"].fillna("all").astype(str) == "all"]
        grn = {
            r.method: {"auprc_ratio": r.auprc_ratio, "epr": r.epr, "auroc": r.auroc}
            for r in e.itertuples()
        }
    try:
        floors = spearman_floor(ds, results)
    except Exception as e:  # noqa: BLE001
        floors = {"abs_spearman (bench)": {"error": f"{type(e).__name__}: {e}"[:200]}}
    grn.update(floors or {})
    rec["grn"] = grn
    rec["has"] = {
        "identity_truth": bool(ds.get("truth")) and (Path(ds["truth"]) / "markers.tsv").exists(),
        "programs_truth": bool(ds.get("truth")) and (Path(ds["truth"]) / "programs.tsv").exists(),
        "grn_reference": bool(ds.get("grn_reference")),
    }
    return rec


# ------------------------------------------------------------------ tables
def _fmt(x, digits=2) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "-"
    if isinstance(x, (int, np.integer)):
        return f"{x:,}"
    if isinstance(x, (float, np.floating)):
        return f"{x:.{digits}f}"
    return str(x)


def _notes(rec: dict, branch: str) -> str:
    """failed / skipped: the failed rules that concern a branch, and its skip lines."""
    models = BRANCH_MODELS.get(branch, ())
    parts = []
    for f in rec["failed"]:
        r, job = f["rule"], f.get("job", f["rule"])
        upstream = r in UPSTREAM or r == "(workflow)"
        ours = r in BRANCH_RULES[branch] and (r != "train_model" or any(m in job for m in models))
        if r == "attribute":
            ours = branch == "identity" and any(m in job for m in models)
        if upstream or ours:
            parts.append(f"FAILED {job}")
    counts: dict[str, int] = {}
    for p in parts:
        counts[p] = counts.get(p, 0) + 1
    parts = [p if n == 1 else f"{p} x{n}" for p, n in counts.items()]
    logs = {"qc": ("qc",), "identity": ("train_model", "rank_identity", "evaluate_identity"),
            "programs": ("train_model", "program"), "grn": ("train_model/grn_sem", "infer_grn", "grnboost2", "evaluate_grn")}  # fmt: skip
    n_skip = sum(
        1
        for s in rec["skipped"]
        if any(k in s["log"] for k in logs[branch]) and not ROUTINE_SKIP.search(s["line"])
    )
    if n_skip:
        parts.append(f"{n_skip} skip line(s)")
    return "; ".join(parts) or "ok"


def _table(
    rows: list[dict],
    columns: list[str],
    notes: dict[str, str],
    digits=2,
    no_summary: tuple[str, ...] = (),
) -> str:
    head = ["dataset", *columns, "failed / skipped"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        vals = [_fmt(r.get(c), digits) for c in columns]
        lines.append("| " + " | ".join([r["dataset"], *vals, notes[r["dataset"]]]) + " |")
    for label, fn in (("worst", np.nanmin), ("median", np.nanmedian)):
        vals = []
        for c in columns:
            if c in no_summary:
                vals.append("")
                continue
            xs = [
                r.get(c)
                for r in rows
                if isinstance(r.get(c), (int, float, np.floating))
                and not isinstance(r.get(c), bool)
            ]
            xs = [float(x) for x in xs if not np.isnan(x)]
            vals.append(_fmt(float(fn(xs)), digits) if xs else "-")
        lines.append("| " + " | ".join([f"**{label}**", *vals, ""]) + " |")
    # a failed dataset has no figure: worst and median are over the datasets scored
    n = [
        "" if c in no_summary else str(sum(isinstance(r.get(c), (int, float)) for r in rows))
        for c in columns
    ]
    lines.append("| " + " | ".join(["**datasets scored**", *n, ""]) + " |")
    return "\n".join(lines)


def _order(methods: set[str], first: list[str], last: list[str]) -> list[str]:
    mid = sorted(m for m in methods if m not in first and m not in last)
    return [m for m in first if m in methods] + mid + [m for m in last if m in methods]


def tables(recs: list[dict]) -> str:
    """Markdown tables, one per branch (every dataset a row; worst and median rows)."""
    out = []
    # QC
    rows, notes = [], {}
    for r in recs:
        q, s = r["qc"], r["qc"].get("scrublet", {})
        rows.append(
            {
                "dataset": r["dataset"],
                "cells in": q.get("cells_in"),
                "kept": q.get("cells_kept"),
                "doublets removed": q.get("doublets_removed"),
                "good kept": q.get("good_kept"),
                "good not called doublet": q.get("good_not_called_doublet"),
                "low-quality removed": q.get("low_quality_removed"),
                "scrublet: doublets removed": s.get("doublets_removed"),
                "scrublet: good kept": s.get("good_kept"),
            }
        )
        extra = []
        if s.get("error"):
            extra.append(f"scrublet failed: {s['error'][:80]}")
        elif s.get("note", "defaults") != "defaults":
            extra.append("scrublet: " + s["note"].split("; ")[-1] + " (defaults fail)")
        elif not s:
            extra.append("no injected doublets")
        notes[r["dataset"]] = "; ".join([_notes(r, "qc"), *extra])
    cols = [c for c in rows[0] if c != "dataset"]
    out.append("### QC (ours: rule qc; peer: scanpy scrublet alone, run by the benchmark)\n")
    out.append(_table(rows, cols, notes, no_summary=("cells in", "kept")))

    def truthless(r, key, what):
        note = _notes(r, key)
        return note if r["has"][what] else f"no truth; {note}"

    # identity
    methods = set().union(*[set(r.get("identity", {})) for r in recs])
    cols = _order(methods, ["consensus"], ["wilcoxon"]) + ["consensus - wilcoxon"]
    rows = [{"dataset": r["dataset"], **r.get("identity", {})} for r in recs]
    for row in rows:
        if "consensus" in row and "wilcoxon" in row:
            row["consensus - wilcoxon"] = row["consensus"] - row["wilcoxon"]

    def output_notes(key, truth, output):
        """Per dataset: the branch's notes, and whether the workflow wrote ``output``."""
        notes = {}
        for r in recs:
            produced = (Path(r["workdir"]) / "results" / r["dataset"] / output).exists()
            note = truthless(r, key, truth)
            notes[r["dataset"]] = note + ("" if produced else f"; no {output}")
        return notes

    notes = output_notes("identity", "identity_truth", "identity/genes.tsv")
    out.append("\n### Identity: precision@10 of the true markers (mean over cell types)\n")
    out.append(_table(rows, cols, notes))
    # programs
    methods = set().union(*[set(r.get("programs", {})) for r in recs])
    cols = _order(methods, ["program_vae", "ldvae", "capsule"], ["score_genes"])
    rows = [{"dataset": r["dataset"], **r.get("programs", {})} for r in recs]
    notes = output_notes("programs", "programs_truth", "programs/activity.tsv")
    out.append(
        "\n### Programs: AUROC of program activity against the active (program, cell type) pairs\n"
    )
    out.append(_table(rows, cols, notes))
    # GRN
    methods = set().union(*[set(r.get("grn", {})) for r in recs])
    cols = _order(
        methods,
        ["consensus", "integrated_gradients", "deepsem"],
        ["grnboost2", "abs_spearman (bench)", "within_type_spearman (bench)"],
    )
    notes = {}
    for r in recs:
        note = truthless(r, "grn", "grn_reference")
        floor = r.get("grn", {}).get("abs_spearman (bench)", {})
        if floor.get("where", "").startswith("raw"):
            note += "; floor on raw counts (no workflow universe)"
        if floor.get("error"):
            note += f"; floor: {floor['error']}"
        notes[r["dataset"]] = note
    for metric, title in (
        ("auprc_ratio", "AUPRC ratio (random = 1)"),
        ("epr", "EPR"),
        ("auroc", "AUROC"),
    ):
        rows = [
            {"dataset": r["dataset"], **{m: v.get(metric) for m, v in r.get("grn", {}).items()}}
            for r in recs
        ]
        out.append(f"\n### GRN: {title} of the global networks\n")
        out.append(_table(rows, cols, notes))
    # runtime
    out.append("\n### Runtime and failures per dataset\n")
    out.append(
        "| dataset | wall s | snakemake rc | failed jobs | slowest jobs (s) | commit, date |"
    )
    out.append("| --- | ---: | --- | ---: | --- | --- |")
    for r in recs:
        slow = sorted(r["rule_s"].items(), key=lambda kv: -kv[1])[:3]
        out.append(
            f"| {r['dataset']} | {_fmt(r['run'].get('wall_s'), 0)} | {r['run'].get('rc', '-')} | "
            f"{len(r['failed'])} | {', '.join(f'{k} {v:.0f}' for k, v in slow) or '-'} | "
            f"{r['run'].get('commit', '-')}, {r['run'].get('date', '-')} |"
        )
    out.append("\n### Failed jobs (job: the error line of its log)\n")
    for r in recs:
        for f in r["failed"]:
            out.append(
                f"- {r['dataset']}: `{f.get('job', f['rule'])}` (rule {f['rule']}): {f['error']}"
            )
    out.append("\n### Skip lines in the logs (one line per text; the logs that printed it)\n")
    for r in recs:
        by_line: dict[str, list[str]] = {}
        for s in r["skipped"]:
            by_line.setdefault(s["line"], []).append(s["log"].split("/", 2)[-1])
        for line, logs in by_line.items():
            where = ", ".join(logs[:3]) + (f" (+{len(logs) - 3})" if len(logs) > 3 else "")
            out.append(f"- {r['dataset']}: {line} [{where}]")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=None, help="comma-separated names (default: all built)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per dataset")
    ap.add_argument("--datasets-dir", default=None, help="default: datasets.root_dir()")
    ap.add_argument("--out", default=str(OUT_DIR))
    ap.add_argument("--no-run", action="store_true", help="only collect the last run's outputs")
    ap.add_argument(
        "--no-compare",
        action="store_true",
        help="run at compare: false (the findings' models and methods only, no peers)",
    )
    ap.add_argument("--dry-run", action="store_true", help="snakemake -n: the jobs, no run")
    ap.add_argument(
        "--train-seed",
        type=int,
        default=None,
        help="train.seed of the runs (default: the config's). A default change is judged over "
        "several: identity precision@10 moves by a marker gene with the training seed alone",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case (tests/test_benchmarks_smoke.py)",
    )
    args = ap.parse_args(argv)
    if args.smoke:  # krumsiek11, compare: false, snakemake -n
        args.datasets, args.no_compare, args.dry_run = "krumsiek11", True, True

    datasets_dir, out = root_dir(args.datasets_dir), Path(args.out).resolve()
    names = args.datasets.split(",") if args.datasets else list(DATASETS)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    commit = harness.git_commit()
    for name in names:
        cfg = dataset_config(name, datasets_dir, compare=not args.no_compare)
        if args.train_seed is not None:
            cfg["train"] = {"seed": args.train_seed}
        workdir = out / name
        run = None
        if not args.no_run:
            print(f"[{time.strftime('%H:%M:%S')}] {name}: snakemake ...", flush=True)
            run = run_workflow(name, cfg, workdir, args.cores, args.timeout, args.dry_run)
            run.update(commit=commit, date=started)
        elif name in summary:
            run = summary[name]["run"]
        rec = collect(name, cfg["datasets"][name], workdir, run)
        summary[name] = rec
        summary_path.write_text(json.dumps(summary, indent=1, default=float))
        print(f"  {name}: rc {rec['run'].get('rc')}, {rec['run'].get('wall_s')} s, "
              f"{len(rec['failed'])} failed job(s), {len(rec['skipped'])} skip line(s)", flush=True)  # fmt: skip
    recs = [summary[n] for n in DATASETS if n in summary]
    text = (
        f"Measured at commit {commit}, {started}; `--cores {args.cores}`"
        f"{', compare: false' if args.no_compare else ''}.\n\n" + tables(recs)
    )
    (out / "tables.md").write_text(text)
    harness.write_results(result_rows(recs, commit), out)
    print("\n" + text)


def result_rows(recs: list[dict], commit: str) -> list[dict]:
    """The identity figures as the harness's rows (``generalization_identity`` in the
    headline): precision@k per dataset and method, the consensus ours, the statistics the
    peers; the run's wall time, CPU seconds and peak RSS beside each."""
    roles = {"consensus": "ours", "wilcoxon": "peer", "pairwise_auc": "peer"}
    rows = []
    for rec in recs:
        run = rec.get("run") or {}
        measure = (
            harness.Measure(run["wall_s"], run.get("cpu_s"), run.get("peak_rss_mb"))
            if "wall_s" in run
            else None
        )
        for method, value in (rec.get("identity") or {}).items():
            rows.append(harness.row(
                "generalization_identity", "workflow defaults", rec["dataset"], method,
                "precision_at_10", value, measure, commit=commit, role=roles.get(method),
            ))  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
