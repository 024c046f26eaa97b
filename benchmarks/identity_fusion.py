"""Which sources should the identity consensus fuse? (issue 14)

Reads the per-method identity rankings of the workflow on each labelled dataset of
``benchmarks/datasets.py`` at ``compare: true``, run in its own working directory when
missing (``benchmarks/out/identity_fusion/<dataset>/results/<dataset>/identity/genes.tsv``:
every source's full ranking, as ``rank_identity_genes`` wrote it) and re-fuses them with
:func:`scinterp.interpret.identity.consensus_scores`, for several source lists and RRF
constants, scored by :func:`scinterp.evaluate.identity.evaluate_identity` against the
dataset's ``truth/markers.tsv`` exactly as the ``evaluate_identity`` rule does. Only the
fusion is redone: a candidate list that leaves out a source still uses the in-silico
ablation scores of the run (whose candidates came from the default sources).

Printed: mean precision@10 over cell types per dataset and fusion, the margin over
Wilcoxon, and the worst and mean row. ``--search`` also scores every fusion of two to
four sources (at least one of them a DE statistic) and prints the best by mean margin,
with their worst dataset: how the default was chosen (issue 14). ``<out>/results.json``
holds the harness's rows: precision@10 per dataset and fusion (the ``default`` fusion
``ours``, the run's Wilcoxon the ``peer``).

Run::

    python -m benchmarks.identity_fusion
    python -m benchmarks.identity_fusion --fusion ig+abl:integrated_gradients,ablation
    python -m benchmarks.identity_fusion --search
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pandas as pd

from benchmarks import harness
from benchmarks.datasets import dataset_config, labelled, workflow_output

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "identity_fusion"

FUSIONS = {
    "default": ["contrastive_ig", "logistic_weights", "pairwise_auc", "wilcoxon"],
    "default before issue 33": ["contrastive_ig", "pairwise_auc", "wilcoxon"],
    "former default": ["integrated_gradients", "gradient_shap", "ablation", "wilcoxon"],
    "pairwise+wilcoxon": ["pairwise_auc", "wilcoxon"],
    "ig+pairwise+wilcoxon": ["integrated_gradients", "pairwise_auc", "wilcoxon"],
    "attr+wilcoxon": ["integrated_gradients", "gradient_shap", "wilcoxon"],
    "ig+wilcoxon": ["integrated_gradients", "wilcoxon"],
    "all_attr+wilcoxon": [
        "integrated_gradients",
        "gradient_shap",
        "deeplift",
        "input_x_gradient",
        "ablation",
        "wilcoxon",
    ],
    "attr_only": ["integrated_gradients", "gradient_shap", "ablation"],
}


def load(
    out: Path, names: list[str] | None = None, compare: bool = True, overrides=None
) -> list[dict]:
    """Each labelled dataset of datasets.py (or ``names``) with its identity/genes.tsv, made by
    the workflow (``compare: true``: every source) in ``out/<dataset>/`` when missing."""
    found = []
    for name in names or labelled():
        keys = dataset_config(name)["datasets"][name]
        truth = Path(keys.get("truth") or "") / "markers.tsv"
        if not keys.get("truth") or not truth.exists():
            continue
        genes = workflow_output(
            name, "identity/genes.tsv", out / name, compare=compare, cores=2, overrides=overrides
        )
        workflow_output(name, "normalized.h5ad", out / name, compare=compare, overrides=overrides)
        results = genes.parent.parent
        found.append({"name": name, "genes": genes, "truth": truth, "results": results})
    return found


def fuse(genes: pd.DataFrame, include: list[str], k: float) -> pd.DataFrame:
    from scinterp.interpret.identity import consensus_scores, long_table

    sources = {
        m: g.pivot(index="cell_type", columns="gene", values="score")
        for m, g in genes.groupby("method")
        if m != "consensus"
    }
    return long_table(consensus_scores(sources, include, k=k), "fused")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="the workflow's runs, one a dataset")
    ap.add_argument("--datasets", default=None, help="comma-separated (default: all labelled)")
    ap.add_argument("--fusion", action="append", default=None, help="name:method,method")
    ap.add_argument("--k", type=float, nargs="*", default=[10.0], help="RRF constants")
    ap.add_argument("--precision-k", type=int, default=10)
    ap.add_argument("--search", action="store_true", help="score every 2-4 source fusion")
    ap.add_argument("--top", type=int, default=15, help="fusions printed by --search")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case (tests/test_benchmarks_smoke.py)",
    )
    args = ap.parse_args(argv)
    if args.smoke:  # gp_programs_sparse (no SERGIO needed) at compare: false (default sources)
        args.datasets, compare = "gp_programs_sparse", False
        overrides = {"train": {"max_epochs": 2}}  # seconds, not the figures
    else:
        compare, overrides = True, None

    from scinterp.evaluate.identity import evaluate_identity
    from scinterp.io import read_var

    fusions = dict(FUSIONS)
    for text in args.fusion or []:
        name, _, methods = text.partition(":")
        fusions[name] = methods.split(",")
    rows = []
    names = args.datasets.split(",") if args.datasets else None
    for ds in load(args.out, names, compare, overrides):
        genes = pd.read_csv(ds["genes"], sep="\t")
        markers = pd.read_csv(ds["truth"], sep="\t")
        universe = list(read_var(ds["results"] / "normalized.h5ad").index)
        row = {"dataset": ds["name"]}
        base = evaluate_identity(genes, markers, universe, k=args.precision_k)
        per = base.groupby("method")["precision_at_k"].mean()
        for m in ("wilcoxon", "consensus"):
            row[f"run:{m}"] = per.get(m)
        have = set(genes["method"])
        if args.search:
            pool = sorted(have - {"consensus"})
            for r in (2, 3, 4):
                for combo in itertools.combinations(pool, r):
                    if not {"wilcoxon", "pairwise_auc"} & set(combo):
                        continue
                    fusions.setdefault("+".join(combo), list(combo))
        for name, include in fusions.items():
            if not set(include) <= have:
                continue
            for k in args.k:
                fused = fuse(genes, include, k)
                ev = evaluate_identity(fused, markers, universe, k=args.precision_k)
                row[name if len(args.k) == 1 else f"{name}@k{k:g}"] = ev["precision_at_k"].mean()
        rows.append(row)
    table = pd.DataFrame(rows).set_index("dataset")
    margin = table.drop(columns=["run:wilcoxon"]).sub(table["run:wilcoxon"], axis=0)
    summary = pd.DataFrame({"worst": margin.min(), "mean": margin.mean()})
    asked = set(FUSIONS) | {t.partition(":")[0] for t in args.fusion or []}
    named = [c for c in summary.index if c.startswith("run:") or c in asked]
    print(f"mean precision@{args.precision_k} over cell types")
    print(table[["run:wilcoxon", *named]].round(3).to_string())
    print("\nmargin over Wilcoxon")
    print(margin[named].round(3).to_string())
    print("\nworst / mean margin")
    print(summary.loc[named].round(3).to_string())
    if args.search:
        print(f"\nbest {args.top} fusions by mean margin")
        print(summary.sort_values("mean", ascending=False).head(args.top).round(3).to_string())
    rows = result_rows(table, args.precision_k, compare)
    print(f"rows: {harness.write_results(rows, args.out)}")
    return rows


ROLES = {"default": "ours", "run:wilcoxon": "peer"}


def result_rows(table: pd.DataFrame, precision_k: int, compare: bool) -> list[dict]:
    """The table (dataset x fusion) as the harness's rows, precision@k."""
    case = f"the workflow's sources at compare: {str(compare).lower()}, re-fused"
    return [
        harness.row(
            "identity_fusion", case, dataset, fusion, f"precision_at_{precision_k}", value,
            role=ROLES.get(fusion),
        )
        for dataset, r in table.iterrows()
        for fusion, value in r.items()
        if pd.notna(value)
    ]  # fmt: skip


if __name__ == "__main__":
    main()
