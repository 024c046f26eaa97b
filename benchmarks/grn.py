"""GRN branch against GRNBoost2 over several seeds (issue 6), on a workflow dataset.

The workflow's own figures come from one run at the config's seed; on a small network
(krumsiek11: 26 true edges among 110 candidates) one seed is a noisy sample. This script
repeats both sides at several seeds on the dataset's ``normalized.h5ad`` (made by the
workflow), through the library calls of the rules:

* ours: ``scinterp.train.run.train_from_files("grn_sem", ...)`` (rule train_model) and
  ``scinterp.interpret.grn.infer_grn`` (rule infer_grn), global networks only;
* peer: ``scinterp.grnboost.run_grnboost2`` (rule grnboost2, arboreto's GRNBoost2) on the
  same cells, genes and TFs, at the same seed;

and scores every network with ``scinterp.evaluate.grn.grn_metrics`` (rule evaluate_grn).
Printed: AUPRC ratio per method and seed, their means, each side's compute time (wall and
CPU, in this process: imports and file reading excluded), and, where the workflow has
run, the wall times from its benchmark files (whole jobs, process start included).

Run (after ``snakemake --cores 2 [--configfile ...]`` has made normalized.h5ad)::

    python benchmarks/grn.py --configfile config/krumsiek11.yaml --dataset krumsiek11
    python benchmarks/grn.py --dataset demo --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def load_config(paths: list[str]) -> dict:
    """The config files merged in order, with the schema's defaults (as Snakemake does)."""
    from snakemake.utils import update_config, validate

    config: dict = {}
    for path in paths:
        update_config(config, yaml.safe_load(Path(path).read_text()))
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run_seed(adata, normalized, ds, config, seed, threads):
    from scinterp.evaluate.grn import grn_metrics, read_reference
    from scinterp.grnboost import run_grnboost2
    from scinterp.interpret.grn import infer_grn, model_genes
    from scinterp.train.loop import seed_everything
    from scinterp.train.run import train_from_files

    train = {**config["train"], "seed": seed, "device": "cpu"}
    grn = config["branches"]["grn"]
    with tempfile.TemporaryDirectory() as model_dir:
        history, t_train, c_train = _timed(
            lambda: train_from_files(
                "grn_sem", normalized=normalized, outdir=model_dir, params=train, tfs=ds["tfs"]
            )
        )
        seed_everything(seed)
        edges, t_infer, c_infer = _timed(
            lambda: infer_grn(
                adata,
                model_dir,
                per_cell_type=False,
                max_cells=grn["max_cells"],
                n_steps=grn["n_steps"],
                baseline=grn["baseline"],
                consensus=grn["consensus"],
                batch_size=grn["batch_size"],
                seed=seed,
            )
        )
        meta = json.loads((Path(model_dir) / "model.json").read_text())["meta"]
    genes, tfs, columns = model_genes(adata, meta)
    peer, t_peer, c_peer = _timed(
        lambda: run_grnboost2(adata.X[:, columns], genes, tfs, seed=seed, threads=threads)
    )
    edges = pd.concat([edges, peer.assign(method="grnboost2", cell_type="all")])
    reference = read_reference(ds["grn_reference"], tfs, genes)
    metrics = grn_metrics(edges, reference, tfs, genes).set_index("method")["auprc_ratio"]
    times = {
        "epochs": len(history),
        "ours wall s": t_train + t_infer,
        "ours CPU s": c_train + c_infer,
        "grnboost2 wall s": t_peer,
        "grnboost2 CPU s": c_peer,
    }
    return {"seed": seed, **metrics.to_dict(), **times}


def workflow_times(results: Path) -> str | None:
    files = {
        "train_model/grn_sem": results / "benchmarks/train_model/grn_sem.tsv",
        "infer_grn": results / "benchmarks/infer_grn.tsv",
        "grnboost2": results / "benchmarks/grnboost2.tsv",
    }
    if not all(f.exists() for f in files.values()):
        return None
    s = {k: float(pd.read_csv(f, sep="\t")["s"].iloc[-1]) for k, f in files.items()}
    ours = s["train_model/grn_sem"] + s["infer_grn"]
    return (
        f"workflow benchmark files: train_model/grn_sem {s['train_model/grn_sem']:.1f} s + "
        f"infer_grn {s['infer_grn']:.1f} s = {ours:.1f} s; grnboost2 {s['grnboost2']:.1f} s "
        f"(ours / grnboost2 = {ours / s['grnboost2']:.2f})"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="*", default=["config/config.yaml"])
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2, help="torch and GRNBoost2 threads")
    ap.add_argument("--results", default="results", help="the workflow's results folder")
    args = ap.parse_args(argv)

    import torch

    from scinterp.io import read_normalized

    torch.set_num_threads(args.threads)
    config = load_config(args.configfile)
    ds = config["datasets"][args.dataset]
    if not ds.get("grn_reference"):
        raise SystemExit(f"dataset {args.dataset} has no grn_reference to score against")
    results = Path(args.results) / args.dataset
    normalized = results / "normalized.h5ad"
    if not normalized.exists():
        raise SystemExit(f"{normalized} is missing: run the workflow on {args.dataset} first")
    adata = read_normalized(normalized)
    rows = []
    for seed in args.seeds:
        rows.append(run_seed(adata, normalized, ds, config, seed, args.threads))
        print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).set_index("seed")
    methods = [c for c in table.columns if not c.endswith(" s") and c != "epochs"]
    print(f"\n{args.dataset}: AUPRC ratio (random = 1) and compute time per seed")
    print(table.round(3).to_string())
    mean = table.mean()
    print("\nmean over seeds:")
    print(mean.round(3).to_string())
    if {"consensus", "grnboost2"} <= set(methods):
        print(
            f"\nconsensus / grnboost2 AUPRC ratio: mean {mean['consensus'] / mean['grnboost2']:.2f}, "
            f"seeds {', '.join(f'{v:.2f}' for v in table['consensus'] / table['grnboost2'])}"
        )
    line = workflow_times(results)
    if line:
        print(line)


if __name__ == "__main__":
    main()
