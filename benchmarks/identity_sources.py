"""Which model-based source ranks identity genes as well as Wilcoxon? (issue 33)

On every labelled generalization dataset (``benchmarks/datasets.py`` wrote a
``truth/markers.tsv``), this script

1. runs the workflow up to ``results/<dataset>/normalized.h5ad`` only (its defaults, the
   dataset's own keys, as ``benchmarks/generalization.py`` writes them), once;
2. computes the statistics once: scanpy's Wilcoxon (``rank_genes_groups``), the pairwise
   AUC and, for reference, the smallest difference of mean log-expression against each
   other type (``mean_difference``: what a ridge-penalized linear classifier tends to as
   its penalty grows);
3. for each ``--seeds`` seed, trains the candidates through the library
   (:func:`scinterp.train.run.train_from_files`, the config's ``train`` defaults with that
   seed) and reads each one's source with the library's functions:

   * ``mlp_classifier`` (the identity model today): integrated gradients of each cell's
     own class (``integrated_gradients``), contrastive IG (``contrastive_ig``, the
     consensus source; ``contrastive_ig_min`` the stricter contrast), contrastive IG
     against references drawn from the other class (``contrastive_ig_classref``: for
     type t and class u, IG of ``f_t - f_u`` from the mean cell of u, the smallest over
     u), and the seeds' ensemble (``contrastive_ig xN seeds``);
   * ``logistic_classifier`` (multinomial logistic regression, ridge penalty ``l2``):
     its coefficients, each class's minus each other class's, the smallest over the
     others (``logistic_weights``, the default) or their mean, for each ``--l2``; with a
     group lasso on the input layer (``--group-l1``, a sparse input layer) and a lasso
     (``--l1``);

4. fuses the consensus as ``rank_identity_genes`` does (today's default, the default
   plus ``logistic_weights``, and the fusion without the model, pairwise AUC +
   Wilcoxon), and scores every source by precision@10 (mean over cell types) against
   the truth with :func:`scinterp.evaluate.identity.evaluate_identity`.

Printed: dataset x source (mean over seeds), the worst and median row, the margin over
Wilcoxon; ``<out>/scores.tsv`` holds every (dataset, source, seed) figure,
``<out>/summary.md`` the tables and ``<out>/results.json`` the harness's rows
(precision@10 per dataset and source, mean over seeds: the model alone,
``logistic_weights`` at ``--l2-default`` and the smallest contrast, is ``ours``, Wilcoxon
the ``peer``). Models are cached under ``<out>/<dataset>/models``: a
rerun only scores.

Run::

    python -m benchmarks.identity_sources --seeds 0,1     # builds missing datasets first
    python -m benchmarks.identity_sources --datasets sergio_panel --l2 0.03,0.3 --no-classref
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import harness
from benchmarks.datasets import dataset_config, labelled, root_dir, workflow_output
from benchmarks.stability import cached_class_attributions

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "benchmarks" / "out" / "identity_sources"


def _library_l2() -> float:
    import inspect

    from scinterp.models.logistic import LogisticClassifier

    return inspect.signature(LogisticClassifier).parameters["l2"].default


LIBRARY_L2 = _library_l2()  # logistic_weights' ridge penalty in the workflow (was 0.3 here)
os.environ.setdefault("TQDM_DISABLE", "1")  # no per-epoch bars from the training loop


# ------------------------------------------------------------------ data
def config_of(name: str, datasets_dir: Path) -> dict:
    """The dataset's keys, every other section at the schema's default (as Snakemake
    validates it)."""
    from snakemake.utils import validate

    cfg = dataset_config(name, datasets_dir)
    full = json.loads(json.dumps(cfg))
    validate(full, str(REPO / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    return cfg, full


def mean_difference_scores(X, labels, features) -> pd.DataFrame:
    """Cell types x genes: the smallest, over the other types, of the difference of mean
    log-expression (a statistic: the limit of ``logistic_weights`` as ``l2`` grows)."""
    from scinterp.interpret.identity._attribution import _dense

    X = _dense(X)
    labels = np.asarray(labels, dtype=object).astype(str)
    types = sorted(pd.unique(labels))
    means = np.vstack([X[labels == t].mean(axis=0) for t in types])
    rows = [(means[i][None] - np.delete(means, i, axis=0)).min(axis=0) for i in range(len(types))]
    return pd.DataFrame(np.vstack(rows), index=types, columns=list(features))


# ------------------------------------------------------------------ model sources
def classref_scores(model, X, labels, classes, features, n_steps: int = 16) -> pd.DataFrame:
    """Contrastive IG from the other classes: for type t and class u, IG of ``f_t - f_u``
    (by linearity IG of f_t minus IG of f_u, one path) from the mean cell of u, mean over
    t's cells; the smallest over u."""
    from scinterp.attribution import attribute
    from scinterp.interpret.identity._attribution import _dense

    X = _dense(X)
    labels = np.asarray(labels, dtype=object).astype(str)
    cls = {c: i for i, c in enumerate(classes)}
    types = [t for t in sorted(pd.unique(labels)) if t in cls]
    out = pd.DataFrame(np.nan, index=types, columns=list(features))
    for t in types:
        cells = X[labels == t]
        diffs = []
        for u in types:
            if u == t:
                continue
            base = np.repeat(X[labels == u].mean(axis=0, keepdims=True), len(cells), axis=0)
            a = [
                attribute(
                    model, cells, "integrated_gradients", cls[c], baseline=base,
                    n_steps=n_steps, device="cpu",
                ).mean(axis=0)
                for c in (t, u)
            ]  # fmt: skip
            diffs.append(a[0] - a[1])
        out.loc[t] = np.min(diffs, axis=0)
    return out


def frame(values: np.ndarray, classes, features) -> pd.DataFrame:
    return pd.DataFrame(values, index=list(classes), columns=list(features))


def train(name, norm, outdir, train_params, seed, dataset, model_kwargs=None) -> float:
    """train_from_files once (cached); its CPU seconds."""
    from scinterp.train.run import train_from_files

    stamp = outdir / "seconds.json"
    if (outdir / "model.pt").exists() and stamp.exists():
        return json.loads(stamp.read_text())["cpu_s"]
    sw = harness.Stopwatch()
    train_from_files(
        name,
        normalized=norm,
        outdir=outdir,
        params={**train_params, "seed": seed, "device": "cpu"},
        dataset=dataset,
        model_kwargs=model_kwargs,
    )
    cpu = sw.cpu()
    stamp.write_text(json.dumps({"cpu_s": cpu}))
    return cpu


# ------------------------------------------------------------------ one dataset
def run_dataset(name: str, args) -> list[dict]:
    import torch

    from scinterp.data.cells import sample_cells
    from scinterp.evaluate.identity import evaluate_identity
    from scinterp.interpret import identity
    from scinterp.io import read_normalized
    from scinterp.models.registry import load_model

    torch.set_num_threads(1)
    cfg, full = config_of(name, args.datasets_dir)
    work = args.out / name
    norm = workflow_output(name, "normalized.h5ad", work, root=args.datasets_dir)
    icfg, tcfg = full["branches"]["identity"], full["train"]
    data = read_normalized(norm)
    label_key = data.uns.get("scinterp", {}).get("label_key") or "label"
    labels = data.obs[label_key].astype(str).to_numpy()
    markers = pd.read_csv(args.datasets_dir / name / "truth" / "markers.tsv", sep="\t")
    universe = list(data.var_names)
    rows: list[dict] = []

    def score(source: str, scores: pd.DataFrame, seed, cpu_s=np.nan):
        ev = evaluate_identity(identity.long_table(scores, source), markers, universe, k=10)
        rows.append(
            {
                "dataset": name,
                "source": source,
                "seed": seed,
                "precision_at_10": float(ev["precision_at_k"].mean()),
                "auroc": float(ev["auroc"].mean()),
                "cpu_s": cpu_s,
            }
        )

    cells = sample_cells(labels, icfg["max_cells"], tcfg["seed"])
    X_all = data.X
    fixed = {
        "wilcoxon": identity.wilcoxon_scores(data, label_key),
        "pairwise_auc": identity.pairwise_auc_scores(X_all[cells], labels[cells], universe),
        "mean_difference": mean_difference_scores(X_all[cells], labels[cells], universe),
    }
    for m, s in fixed.items():
        score(m, s, "-")
    members_att, meta = [], None
    for seed in args.seeds:
        sources = dict(fixed)
        mdir = work / "models" / "mlp_classifier" / f"seed{seed}"
        cpu = train("mlp_classifier", norm, mdir, tcfg, seed, name)
        model, meta = load_model(mdir, "cpu")
        X = data[cells, list(meta["features"])].X
        att = cached_class_attributions(mdir, model, meta, data, cells, labels)
        members_att.append(att)
        cls = {c: i for i, c in enumerate(meta["classes"])}
        own = pd.DataFrame(
            {t: a[0, cls[t]] for t, a in att.items()}, index=list(meta["features"])
        ).T
        score("integrated_gradients", own, seed, cpu)
        for contrast, label in (("mean", "contrastive_ig"), ("min", "contrastive_ig_min")):
            s = identity.contrast_scores(att, meta["classes"], meta["features"], contrast)[0]
            score(label, s, seed, cpu)
            if contrast == icfg["contrast"]:
                sources["contrastive_ig"] = s
        if args.classref:
            sw = harness.Stopwatch()
            s = classref_scores(model, X, labels[cells], meta["classes"], meta["features"])
            score("contrastive_ig_classref", s, seed, cpu + sw.cpu())
        for l2 in args.l2:
            variants = [({"l2": l2}, f"l2={l2:g}")]
            if l2 == args.l2_default:
                variants += [
                    ({"l2": l2, "group_l1": g}, f"l2={l2:g},group_l1={g:g}") for g in args.group_l1
                ]
                variants += [({"l2": l2, "l1": g}, f"l2={l2:g},l1={g:g}") for g in args.l1]
            for kwargs, tag in variants:
                ldir = work / "models" / "logistic_classifier" / tag / f"seed{seed}"
                cpu = train("logistic_classifier", norm, ldir, tcfg, seed, name, kwargs)
                lm, lmeta = load_model(ldir, "cpu")
                for contrast in ("min", "mean"):
                    s = frame(lm.marker_scores(contrast), lmeta["classes"], lmeta["features"])
                    score(f"logistic_weights {tag} {contrast}", s, seed, cpu)
                    if tag == f"l2={args.l2_default:g}" and contrast == "min":
                        sources["logistic_weights"] = s
        include = list(icfg["consensus"])
        for label, fused in {
            "consensus (today's default)": include,
            "consensus + logistic_weights": [*include, "logistic_weights"],
            "fusion without the model (pairwise_auc + wilcoxon)": ["pairwise_auc", "wilcoxon"],
            "logistic_weights + pairwise_auc + wilcoxon": [
                "logistic_weights", "pairwise_auc", "wilcoxon",
            ],
        }.items():  # fmt: skip
            if set(fused) <= set(sources):
                score(label, identity.consensus_scores(sources, fused), seed)
    if len(args.seeds) > 1 and meta is not None:
        ens = {t: np.concatenate([a[t] for a in members_att]) for t in members_att[0]}
        s = identity.contrast_scores(ens, meta["classes"], meta["features"], icfg["contrast"])[0]
        score(f"contrastive_ig x{len(args.seeds)} seeds", s, "ensemble")
    return rows


# ------------------------------------------------------------------ tables
def tables(scores: pd.DataFrame) -> str:
    per = scores.groupby(["source", "dataset"])["precision_at_10"].mean().unstack("dataset")
    per["worst"] = per.min(axis=1)
    per["median"] = per.drop(columns="worst").median(axis=1)
    margin = per.drop(columns=["worst", "median"]).sub(
        per.loc["wilcoxon"].drop(["worst", "median"])
    )
    per["worst margin"] = margin.min(axis=1)
    per["median margin"] = margin.median(axis=1)
    per["datasets >= wilcoxon"] = (margin >= -1e-9).sum(axis=1).astype(str) + f"/{margin.shape[1]}"
    per = per.sort_values("worst margin", ascending=False)
    cpu = scores.groupby("source")["cpu_s"].mean()
    per["cpu s / model"] = cpu.reindex(per.index).round(1)
    seeds = sorted({str(s) for s in scores["seed"] if str(s).isdigit()})
    head = (
        f"precision@10, mean over cell types, mean over seeds {', '.join(seeds)} "
        f"(statistics: one value)\n\n"
    )
    return head + per.round(3).to_markdown()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets-dir", type=Path, default=None, help="default: datasets.root_dir()")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    ap.add_argument("--datasets", default=None, help="comma-separated (default: all labelled)")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument(
        "--l2", default="0.01,0.03,0.1,0.3,1", help="logistic_classifier ridge penalties"
    )
    ap.add_argument(
        "--l2-default", type=float, default=LIBRARY_L2,
        help="the l2 the fusions use (default: the library's, LogisticClassifier's)",
    )  # fmt: skip
    ap.add_argument("--group-l1", default="0.01", help="group lasso variants at --l2-default")
    ap.add_argument("--l1", default="0.001", help="lasso variants at --l2-default")
    ap.add_argument("--no-classref", dest="classref", action="store_false")
    ap.add_argument("--no-run", action="store_true", help="tables from <out>/scores.tsv")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case (tests/test_benchmarks_smoke.py)",
    )
    args = ap.parse_args(argv)
    if args.smoke:  # gp_programs_sparse (no benchmark-only extra), one seed, one ridge penalty
        args.datasets, args.seeds, args.classref = "gp_programs_sparse", "0", False
        args.l2 = f"{LIBRARY_L2:g}"
        args.group_l1 = args.l1 = ""
    args.datasets_dir = root_dir(args.datasets_dir)
    args.out = args.out.resolve()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    floats = lambda text: [float(v) for v in text.split(",") if v]  # noqa: E731
    args.l2, args.group_l1, args.l1 = floats(args.l2), floats(args.group_l1), floats(args.l1)
    if args.l2_default not in args.l2:
        args.l2.append(args.l2_default)
    path = args.out / "scores.tsv"
    if not args.no_run:
        names = args.datasets.split(",") if args.datasets else labelled(args.datasets_dir)
        if not names:
            raise SystemExit(f"no labelled dataset in {args.datasets_dir}: run datasets.py")
        args.out.mkdir(parents=True, exist_ok=True)
        old = pd.read_csv(path, sep="\t") if path.exists() else None
        for name in names:
            sw = harness.Stopwatch()
            rows = pd.DataFrame(run_dataset(name, args))
            if old is not None:
                old = old[~((old["dataset"] == name) & old["source"].isin(rows["source"]))]
            old = pd.concat([old, rows], ignore_index=True) if old is not None else rows
            old.to_csv(path, sep="\t", index=False)
            print(f"{name}: {sw.wall():.0f} s ({sw.cpu():.0f} CPU s)", flush=True)
    scores = pd.read_csv(path, sep="\t")
    text = tables(scores)
    (args.out / "summary.md").write_text(text + "\n")
    print(text)
    rows = result_rows(scores, args.l2_default)
    print(f"rows: {harness.write_results(rows, args.out)}")
    return rows


def result_rows(scores: pd.DataFrame, l2_default: float) -> list[dict]:
    """``scores.tsv`` as the harness's rows: precision@10 per dataset and source (mean
    over seeds), each model source's mean CPU seconds per model beside it."""
    roles = {f"logistic_weights l2={l2_default:g} min": "ours", "wilcoxon": "peer"}
    per = scores.groupby(["dataset", "source"], sort=False)
    out = []
    for (dataset, source), g in per:
        seeds = sorted({str(s) for s in g["seed"]})
        cpu = g["cpu_s"].mean()
        out.append(harness.row(
            "identity_sources", f"seeds {', '.join(seeds)}", dataset, source, "precision_at_10",
            g["precision_at_10"].mean(),
            None if np.isnan(cpu) else harness.Measure(None, cpu, None),
            role=roles.get(source),
        ))  # fmt: skip
    return out


if __name__ == "__main__":
    main()
