"""The headline table of benchmarks/README.md, generated from the results files.

Every ``benchmarks/results/<benchmark>.json`` (rows of :mod:`benchmarks.harness`'s one
schema, each with ``role``: ``ours``, ``peer`` or ``target``) gives one line: what the
benchmark compares, ours against the best peer on the dataset where ours fares worst (and
the median over datasets), the date and the commit measured. A dataset without a peer
row is compared with its ``target`` row (an issue's bound, e.g. the first run's wall
time). ::

    python -m benchmarks.headline            # print the table
    python -m benchmarks.headline --write    # and put it into benchmarks/README.md

A benchmark's rerun replaces its file: ``harness.write_results(rows,
RESULTS_DIR / "<benchmark>.json")`` from the script, or by hand where the figures come
from a table of benchmarks/LOG.md (the file says which commit measured them).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks.harness import REPO, RESULTS_DIR, read_results

README = REPO / "benchmarks" / "README.md"
START, END = "<!-- headline:start -->", "<!-- headline:end -->"
# what each benchmark compares; metric where higher is better unless said
WHAT = {
    "generalization_identity": "identity genes: consensus vs the best DE statistic (Wilcoxon, "
    "pairwise AUC), workflow at its defaults on the six labelled datasets",
    "grn_sergio": "GRN: consensus vs the best of GRNBoost2, RegDiffusion, Spearman on SERGIO "
    "networks of 100-1,000 genes and krumsiek11 (held-out grid)",
    "integration": "batch integration: scaled_harmony (default) vs the best of Harmony and scVI",
    "conditions": "condition genes: consensus vs pydeseq2 pseudobulk (DE AUPRC)",
    "doublets": "doublet calls: ours (classifier) vs scrublet, share of doublets removed",
    "train_throughput": "training: program VAE vs scvi-tools LinearSCVI, cells/s (1 thread)",
    "attribution_throughput": "integrated gradients: ours vs the best of Captum's batched call "
    "(internal_batch_size) and a per-cell Captum loop, cells/s (1 thread)",
    "programs": "program activity: program_vae vs score_genes, AUROC against the planted "
    "programs (programs.py's datasets; the workflow on gp_programs, gp_programs_sparse)",
    "stability": "identity genes across training seeds: top-20 Jaccard of the consensus "
    "between two disjoint ensembles of the largest size vs two single models",
    "identity_sources": "identity genes from the model alone: logistic_weights vs Wilcoxon "
    "(precision@10, the six labelled datasets, 2 seeds)",
    "identity_fusion": "identity consensus: the default fusion vs the run's Wilcoxon, "
    "re-fused from the workflow's sources",
    "grn_views": "GRN, one grn_sem member: consensus vs the correlation floors (Spearman, "
    "within-type Spearman), AUPRC ratio",
    "grn_stability": "GRN ensembles: the default fusion at the largest size vs Spearman and "
    "GRNBoost2, AUPRC ratio",
    "atlas": "time and peak memory per stage on simulated atlases (no peer)",
    "atlas_workflow": "the whole workflow on simulated atlases (no peer)",
    "train_quality": "time to quality: program VAE (workflow defaults, its gene sets) vs "
    "scvi-tools LinearSCVI on gene-program data, best validation -ELBO against the peer's "
    "final (lower is better; seconds to reach it in LOG.md)",
    "first_run": "wall time of `snakemake --cores 2` at the defaults on a fresh copy of the "
    "tree, numba's caches emptied (a first run after install), against issue 32's bound "
    "(ratio: bound / ours)",
}
LOWER_IS_BETTER: set[str] = {"wall_s", "val_elbo"}


def _ratio(ours: float, peer: float, lower: bool) -> float:
    return peer / ours if lower else ours / peer


def summarize(name: str, rows: list[dict]) -> dict:
    """Ours vs the best peer per dataset (each method's mean over the dataset's rows, e.g.
    seeds), or vs its ``target`` row where the dataset has no peer; the worst dataset
    (smallest ratio) and the median. The metric is the first ``ours`` row's; rows of
    other metrics (a file may hold several) are left out."""
    ours_rows = [r for r in rows if r.get("role") == "ours"]
    if not ours_rows:
        raise ValueError(f"{name}: no row with role 'ours'")
    metric = ours_rows[0]["metric"]
    lower = metric in LOWER_IS_BETTER
    values: dict[tuple, list[float]] = {}
    for r in rows:
        if r["metric"] != metric:
            continue
        if r.get("role") in ("ours", "peer", "target") and r["value"] is not None:
            values.setdefault((r["dataset"], r["role"], r["method"]), []).append(r["value"])
    by_ds: dict[str, dict] = {}
    for (ds, role, method), vs in values.items():
        d = by_ds.setdefault(ds, {"ours": None, "peer": {}, "target": {}})
        mean = round(statistics.fmean(vs), 3)
        if role == "ours":
            d["ours"] = (method, mean)
        else:
            d[role][method] = mean
    cmp = []
    for ds, d in by_ds.items():
        against = d["peer"] or d["target"]
        if d["ours"] is None or not against:
            continue
        pick = min if lower else max
        peer, pv = pick(against.items(), key=lambda kv: kv[1])
        cmp.append((_ratio(d["ours"][1], pv, lower), ds, d["ours"], (peer, pv)))
    if not cmp:
        raise ValueError(f"{name}: no dataset with both an ours row and a peer or target row")
    worst = min(cmp)
    return {
        "benchmark": name,
        "what": WHAT.get(name, name),
        "metric": metric,
        "worst": worst,
        "median": statistics.median(c[0] for c in cmp),
        "n": len(cmp),
        "dates": sorted({r["date"] for r in rows if r["metric"] == metric}),
        "commits": sorted({r["commit"] for r in rows if r["metric"] == metric}),
    }


def table(results_dir: Path = RESULTS_DIR) -> str:
    """The markdown table, one line per results file, in name order."""
    lines = [
        "| benchmark | what it compares | metric | ours vs best peer, worst dataset (ratio) "
        "| median ratio (datasets) | date | commit |",
        "| --- | --- | --- | --- | ---: | --- | --- |",
    ]
    for path in sorted(Path(results_dir).glob("*.json")):
        s = summarize(path.stem, read_results(path))
        ratio, ds, (ours, ov), (peer, pv) = s["worst"]
        lines.append(
            f"| {s['benchmark']} | {s['what']} | {s['metric']} | {ours} {ov:g} vs {peer} "
            f"{pv:g} on **{ds}** ({ratio:.2f}x) | {s['median']:.2f}x ({s['n']}) "
            f"| {', '.join(s['dates'])} | {', '.join(s['commits'])} |"
        )
    return "\n".join(lines)


def write_readme(text: str, readme: Path = README) -> None:
    """Replace what lies between the headline markers of ``readme`` with ``text``."""
    body = readme.read_text()
    if START not in body or END not in body:
        raise ValueError(f"{readme} has no {START} ... {END} markers")
    head, rest = body.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}\n{END}{tail}")


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS_DIR)
    ap.add_argument("--write", action="store_true", help="into benchmarks/README.md")
    args = ap.parse_args(argv)
    text = table(args.results)
    print(text)
    if args.write:
        write_readme(text)
    return text


if __name__ == "__main__":
    main()
