"""How much do identity genes move with the training seed, and what does an ensemble buy? (issue 19)

For each dataset (``benchmarks/datasets.py``'s, normalized by the workflow at its defaults
in ``benchmarks/out/stability/workflow/<dataset>/``), this
trains the identity classifier (``branches.identity.model`` of that run's config) at
``--seeds`` seeds with the run's ``train`` section, computes every consensus source once
per seed with the library's own functions (:mod:`scinterp.interpret.identity`), and
compares *ensembles*: the identity table built from K members (seeds ``0..K-1``) against
the one built from K other members (seeds ``K..2K-1``, and so on: every pair of
disjoint seed sets), for K = 1, 2, 3, 5 (``--ks``). The class attributions of each seed
are cached next to its model (``benchmarks/out/stability/<dataset>/seed<N>/``), so a
rerun with another ``--contrast`` (``mean``, the default, or ``min``) or ``--ks`` only
re-fuses the sources. Printed per dataset and K:

* ``jaccard_consensus``: top-20 Jaccard of the consensus genes per cell type between the
  two disjoint ensembles (mean over types, then over the disjoint pairs of seed sets);
* ``jaccard_contrastive_ig``: the same for the model's own source alone;
* ``precision_at_10`` of the consensus against ``truth/markers.tsv`` (when the dataset
  has ground truth), mean over types and ensembles;
* ``calibration``: precision of the consensus top-20 rows by confidence band
  (confidence = the share of members whose own consensus puts the gene in the top 20,
  :func:`scinterp.interpret.identity.ensemble_confidence`);
* ``s_per_member``: training + contrastive attribution time of one member on this machine.

Run::

    python -m benchmarks.stability                      # pbmc10x, sergio_1k_batches, gp_programs
    python -m benchmarks.stability --datasets pbmc10x,sergio_1k_batches --seeds 20 --ks 1,3,5,10
    python -m benchmarks.stability --contrast min ...          # the stricter contrast
    python -m benchmarks.stability --programs --datasets pbmc10x,gp_programs_sparse --seeds 4

``<out>/results.json`` holds the harness's rows (identity runs): per dataset and K, the
top-20 Jaccard of the consensus (``consensus xK``) and of contrastive_ig alone, and the
consensus precision@10; the largest K's consensus Jaccard is ``ours``, one model's
(K = 1) the ``peer`` it is compared with.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks import harness
from benchmarks.datasets import ensure, workflow_output
from benchmarks.harness import Measure, Stopwatch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "stability"
TOP = 20
TRAIN_OVERRIDES: dict = {}  # --smoke only


CLASS_ATTRIBUTIONS = "class_attributions.npz"  # beside the model: a rerun only re-fuses


def cached_class_attributions(model_dir: Path, model, meta, data, cells, labels) -> dict:
    """:func:`scinterp.interpret.identity.class_attributions` of one model on ``cells``,
    computed once and kept in ``model_dir/class_attributions.npz``."""
    from scinterp.interpret import identity

    cache = Path(model_dir) / CLASS_ATTRIBUTIONS
    if not cache.exists():
        X = data[cells, list(meta["features"])].X
        att = identity.class_attributions([model], X, labels[cells], meta["classes"])
        np.savez(cache, **att)
    with np.load(cache) as z:
        return {t: z[t] for t in z.files}


def _top(scores: pd.DataFrame, k: int = TOP) -> dict[str, set]:
    return {t: set(row.dropna().nlargest(k).index) for t, row in scores.iterrows()}


def _jaccard(a: dict, b: dict) -> float:
    """Mean over the cell types both have of scinterp.sweep.jaccard (the sweep's figure)."""
    from scinterp.sweep import jaccard

    vals = [jaccard(a[t], b[t]) for t in a if t in b]
    return float(np.mean(vals)) if vals else np.nan


def _workflow_run(name: str) -> Path:
    """``results/<name>/`` of the workflow on datasets.py's dataset, in this benchmark's own
    working directory (``<OUT>/workflow/<name>/``): normalized.h5ad and the run's config."""
    workdir = OUT / "workflow" / name
    for target in ("normalized.h5ad", "run/config.yaml"):
        workflow_output(name, target, workdir)
    return workdir / "results" / name


def run_dataset(
    name: str, n_seeds: int, ks: list[int], mean_scores: bool = False, contrast: str = "mean"
) -> list[dict]:
    import torch

    from scinterp.data.cells import sample_cells
    from scinterp.interpret import identity
    from scinterp.io import read_normalized
    from scinterp.models.registry import load_model
    from scinterp.train.run import train_from_files

    run = _workflow_run(name)
    cfg = yaml.safe_load((run / "run" / "config.yaml").read_text())
    icfg = cfg["branches"]["identity"]
    model_name = icfg["model"]
    data = read_normalized(run / "normalized.h5ad")
    label_key = data.uns.get("scinterp", {}).get("label_key") or "label"
    labels = data.obs[label_key].astype(str).to_numpy()
    cells = sample_cells(labels, icfg.get("max_cells", 2000), cfg["train"]["seed"])
    fixed = {
        "wilcoxon": identity.wilcoxon_scores(data, label_key),
        "pairwise_auc": identity.pairwise_auc_scores(
            data[cells].X, labels[cells], list(data.var_names)
        ),
    }
    torch.set_num_threads(2)
    per_seed, models, seconds = [], [], []  # models: each seed's class attributions
    for s in range(n_seeds):
        sw = Stopwatch()
        outdir = OUT / name / f"seed{s}"
        params = {**cfg["train"], "seed": s, "device": "cpu", **TRAIN_OVERRIDES}
        timing = outdir / "seconds.json"
        if not (outdir / "model.pt").exists() or not timing.exists():
            train_from_files(
                model_name,
                normalized=run / "normalized.h5ad",
                outdir=outdir,
                params=params,
                batch_key=cfg["datasets"][name].get("batch_key"),
                dataset=name,
            )
            timing.write_text(json.dumps({"train_s": sw.wall()}))
        train_s = json.loads(timing.read_text())["train_s"]
        sw = Stopwatch()
        model, meta = load_model(outdir, "cpu")
        fresh = not (outdir / CLASS_ATTRIBUTIONS).exists()
        models.append(cached_class_attributions(outdir, model, meta, data, cells, labels))
        if fresh:
            timing.write_text(json.dumps({"train_s": train_s, "attribute_s": sw.wall()}))
        attribute_s = json.loads(timing.read_text()).get("attribute_s", 0.0)
        per_seed.append(
            identity.contrast_scores(models[-1], meta["classes"], meta["features"], contrast)[0]
        )
        seconds.append(train_s + attribute_s)
        print(f"  {name} seed {s}: {seconds[-1]:.1f} s", flush=True)

    truth = None
    markers = ensure([name]) / name / "truth" / "markers.tsv"
    if markers.exists():
        m = pd.read_csv(markers, sep="\t")
        truth = m.groupby("cell_type")["gene"].apply(set).to_dict()
    include = list(icfg["consensus"])

    def build(members):
        if mean_scores:
            ens = identity.ensemble_scores([per_seed[i] for i in members])
        else:  # the workflow's way: class attributions averaged before the contrast
            att = {t: np.concatenate([models[i][t] for i in members]) for t in models[0]}
            ens = identity.contrast_scores(att, meta["classes"], meta["features"], contrast)[0]
        cons = identity.consensus_scores({**fixed, "contrastive_ig": ens}, include)
        member_cons = [
            identity.consensus_scores({**fixed, "contrastive_ig": per_seed[i]}, include)
            for i in members
        ]
        conf = identity.ensemble_confidence(member_cons, TOP)
        return ens, cons, conf

    rows = []
    for k in ks:
        if 2 * k > n_seeds:
            continue
        sets = [list(range(i, i + k)) for i in range(0, n_seeds - k + 1, k)]
        built = [build(s) for s in sets]
        jc, ji, prec, conf_rows = [], [], [], []
        for a, b in itertools.combinations(range(len(built)), 2):
            jc.append(_jaccard(_top(built[a][1]), _top(built[b][1])))
            ji.append(_jaccard(_top(built[a][0]), _top(built[b][0])))
        if truth is not None:
            for _, cons, conf in built:
                top10 = _top(cons, 10)
                prec.append(np.mean([len(top10[t] & truth[t]) / 10 for t in top10 if t in truth]))
                for t, genes in _top(cons).items():
                    if t not in truth:
                        continue
                    for g in genes:
                        conf_rows.append((float(conf.loc[t, g]), g in truth[t]))
        row = {
            "dataset": name,
            "K": k,
            "contrast": contrast,
            "ensemble": "mean of scores" if mean_scores else "mean of class attributions",
            "n_ensembles": len(sets),
            "jaccard_consensus": float(np.mean(jc)),
            "jaccard_contrastive_ig": float(np.mean(ji)),
            "precision_at_10": float(np.mean(prec)) if prec else np.nan,
            "s_per_member": float(np.mean(seconds)),
        }
        if conf_rows and k > 1:
            c = pd.DataFrame(conf_rows, columns=["confidence", "true"])
            hi = c[c["confidence"] >= 0.8]
            lo = c[c["confidence"] < 0.8]
            row["precision_conf_ge_0.8"] = float(hi["true"].mean()) if len(hi) else np.nan
            row["precision_conf_lt_0.8"] = float(lo["true"].mean()) if len(lo) else np.nan
            row["share_conf_ge_0.8"] = len(hi) / len(c)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def run_programs(name: str, n_seeds: int, top: int = 5) -> list[dict]:
    """program_vae at ``n_seeds`` seeds: top-``top`` gene-set programs per cell type,
    Jaccard between single seeds and between two disjoint ensembles of n_seeds // 2."""
    from scinterp.interpret.programs import compute_programs
    from scinterp.io import read_normalized
    from scinterp.priors import default_gene_sets
    from scinterp.train.run import train_from_files

    run = _workflow_run(name)
    cfg = yaml.safe_load((run / "run" / "config.yaml").read_text())
    ds = cfg["datasets"][name]
    gene_sets = ds.get("gene_sets") or str(default_gene_sets())
    adata = read_normalized(run / "normalized.h5ad")
    dirs, seconds = [], []
    for s in range(n_seeds):
        outdir = OUT / name / "program_vae" / f"seed{s}"
        timing = outdir / "seconds.json"
        if not (outdir / "model.pt").exists() or not timing.exists():
            sw = Stopwatch()
            train_from_files(
                "program_vae",
                normalized=run / "normalized.h5ad",
                outdir=outdir,
                params={**cfg["train"], "seed": s, "device": "cpu"},
                gene_sets=gene_sets,
                batch_key=ds.get("batch_key"),
                dataset=name,
            )
            timing.write_text(json.dumps({"train_s": sw.wall()}))
        seconds.append(json.loads(timing.read_text())["train_s"])
        dirs.append(str(outdir))
        print(f"  {name} program_vae seed {s}: {seconds[-1]:.1f} s", flush=True)

    def tops(members):
        act = compute_programs(
            adata,
            gene_sets,
            {"program_vae": members[0]},
            member_dirs={"program_vae": members[1:]},
            seed=cfg["train"]["seed"],
            dataset=name,
        )["activity"]
        act = act[
            (act["method"] == "program_vae") & act["confidence"].notna()
            if len(members) > 1
            else act["method"] == "program_vae"
        ]
        act = act[~act["program"].astype(str).str.startswith("denovo")]
        return {t: set(g.nlargest(top, "score")["program"]) for t, g in act.groupby("cell_type")}

    single = [tops([d]) for d in dirs]
    half = n_seeds // 2
    rows = [
        {
            "dataset": name,
            "K": 1,
            f"jaccard_top{top}": float(
                np.mean([_jaccard(a, b) for a, b in itertools.combinations(single, 2)])
            ),
            "s_per_member": float(np.mean(seconds)),
        }
    ]
    if half >= 2:
        rows.append(
            {
                "dataset": name,
                "K": half,
                f"jaccard_top{top}": _jaccard(tops(dirs[:half]), tops(dirs[half : 2 * half])),
                "s_per_member": float(np.mean(seconds)),
            }
        )
    for r in rows:
        print(json.dumps(r), flush=True)
    return rows


def main(argv=None) -> list[dict] | None:
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case (tests/test_benchmarks_smoke.py)",
    )
    ap.add_argument("--datasets", default="pbmc10x,sergio_1k_batches,gp_programs")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--ks", default="1,2,3,5")
    ap.add_argument("--contrast", default="mean", choices=["mean", "min"])
    ap.add_argument(
        "--mean-scores",
        action="store_true",
        help="ensemble = mean of the members' contrastive scores (min taken per member)",
    )
    ap.add_argument(
        "--programs",
        action="store_true",
        help="the program VAE instead (top-5 gene-set programs per type; --seeds 4)",
    )
    args = ap.parse_args(argv)
    OUT = Path(args.out)
    if args.smoke:  # gp_programs_sparse (no SERGIO needed), two seeds, K = 1
        args.datasets, args.seeds, args.ks = "gp_programs_sparse", 2, "1"
        TRAIN_OVERRIDES["max_epochs"] = 2  # seconds, not the figures
    logging.basicConfig(level=logging.WARNING)
    if args.programs:
        rows = [r for n in args.datasets.split(",") for r in run_programs(n, args.seeds)]
        OUT.mkdir(parents=True, exist_ok=True)
        df = pd.DataFrame(rows)
        df.to_csv(OUT / "programs.tsv", sep="\t", index=False)
        print(df.to_markdown(index=False, floatfmt=".3f"))
        return
    ks = [int(k) for k in args.ks.split(",")]
    rows = []
    for name in args.datasets.split(","):
        rows += run_dataset(name, args.seeds, ks, args.mean_scores, args.contrast)
    df = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    tag = f"_{args.contrast}" + ("_mean_scores" if args.mean_scores else "")
    df.to_csv(OUT / f"identity{tag}.tsv", sep="\t", index=False)
    print(df.to_markdown(index=False, floatfmt=".3f"))
    results = result_rows(rows)
    print(f"rows: {harness.write_results(results, OUT)}")
    return results


def result_rows(rows: list[dict]) -> list[dict]:
    """:func:`run_dataset`'s rows as the harness's: Jaccard and precision@10 per dataset,
    method and K (``consensus x5``); one member's time beside each."""
    out = []
    largest = {}
    for r in rows:
        largest[r["dataset"]] = max(largest.get(r["dataset"], 0), r["K"])
    for r in rows:
        k, ds = r["K"], r["dataset"]
        role = "ours" if k == largest[ds] and k > 1 else "peer" if k == 1 else None
        case = f"contrast {r['contrast']}, {r['ensemble']}"
        m = Measure(r["s_per_member"], None, None)
        for method, metric, key, rl in (
            ("consensus", "jaccard_top20", "jaccard_consensus", role),
            ("contrastive_ig", "jaccard_top20", "jaccard_contrastive_ig", None),
            ("consensus", "precision_at_10", "precision_at_10", None),
        ):
            if not np.isnan(r[key]):
                out.append(harness.row(
                    "stability", case, ds, f"{method} x{k}", metric, r[key], m, role=rl
                ))  # fmt: skip
    return out


if __name__ == "__main__":
    main()
