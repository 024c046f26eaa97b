"""GRN branch against its peers over several seeds (issues 6 and 15), on workflow datasets.

The workflow's own figures come from one run at the config's seed; on a small network
(krumsiek11: 26 true edges among 110 candidates) one seed is a noisy sample. This script
repeats both sides at several seeds on the dataset's ``normalized.h5ad`` (made by the
workflow), through the library calls of the rules:

* ours: ``scinterp.train.run.train_from_files("grn_sem", ...)`` (rule train_model) and
  ``scinterp.interpret.grn.infer_grn`` (rule infer_grn), global networks only;
* peers: every network of ``scinterp.grn_peers.PEERS`` (rules grnboost2, regdiffusion,
  spearman: GRNBoost2, RegDiffusion, absolute Spearman) on the same cells, genes and TFs,
  at the same seed;

and scores every network with ``scinterp.evaluate.grn.grn_metrics`` (rule evaluate_grn).
Printed: AUPRC ratio (and EPR, AUROC) per method and seed, their means, each side's
compute time (wall and CPU, in this process: imports and file reading excluded), our
consensus over the best peer, and, where the workflow has run, the wall times from its
benchmark files (whole jobs, process start included). With ``--generalization`` it runs
on the datasets of ``benchmarks/generalization.py`` that have a reference network (SERGIO
networks of 100 to 1,000 genes, krumsiek11) and ends with one table over them, median and
worst rows included.

With ``--ensemble 1 3 5`` it measures edge confidence from seeds instead (issue 15 part 4):
grn_sem is trained at 2 x max(sizes) seeds (base seed + 0, 1, ...), each attributed once
(``infer_grn``, global networks); two disjoint ensembles of each size (the first seeds of
each half) are combined as ``infer_grn`` does with ``member_dirs``
(``ensemble_networks``); printed per size: the top-100 overlap (|A and B| / 100) of the
two ensembles' consensus networks (size 1: two single seeds), the consensus AUPRC ratio
with the ensemble's mean score and with the main model's score (the confidence column
added: the size-1 figure), the precision of the top-100 edges that every member finds
against the others, and the time per member (training + one global integrated-gradients pass);
GRNBoost2's top-100 overlap and AUPRC ratio between two seeds beside it (skipped with
``--peers spearman``).

Run (after ``snakemake --cores 2 [--configfile ...]`` has made normalized.h5ad)::

    python benchmarks/grn.py --configfile config/krumsiek11.yaml --dataset krumsiek11
    python benchmarks/grn.py --dataset demo --seeds 0 1 2
    python benchmarks/grn.py --generalization --seeds 0 1 2      # after generalization.py
    python benchmarks/grn.py --generalization krumsiek11 sergio_panel --ensemble 1 3 5
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


def run_seed(adata, normalized, ds, config, seed, threads, peers):
    from scinterp.evaluate.grn import grn_metrics, read_reference
    from scinterp.grn_peers import run_peer
    from scinterp.interpret.grn import infer_grn, model_genes
    from scinterp.priors import default_tfs
    from scinterp.train.loop import seed_everything
    from scinterp.train.run import train_from_files

    train = {**config["train"], "seed": seed, "device": "cpu"}
    grn = config["branches"]["grn"]
    tfs_file = ds.get("tfs") or default_tfs()  # the workflow's default TF list
    with tempfile.TemporaryDirectory() as model_dir:
        history, t_train, c_train = _timed(
            lambda: train_from_files(
                "grn_sem", normalized=normalized, outdir=model_dir, params=train, tfs=tfs_file
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
    times = {
        "epochs": len(history),
        "ours wall s": t_train + t_infer,
        "ours CPU s": c_train + c_infer,
    }
    nets = [edges]
    for name in peers:
        net, wall, cpu = _timed(
            lambda name=name: run_peer(
                name, adata.X[:, columns], genes, tfs, seed=seed, threads=threads
            )
        )
        nets.append(net)
        times[f"{name} wall s"], times[f"{name} CPU s"] = wall, cpu
    reference = read_reference(ds["grn_reference"], tfs, genes)
    metrics = grn_metrics(pd.concat(nets), reference, tfs, genes).set_index("method")
    out = {"seed": seed, **metrics["auprc_ratio"].to_dict()}
    out.update({f"{m} epr": v for m, v in metrics["epr"].items()})
    out.update({f"{m} auroc": v for m, v in metrics["auroc"].items()})
    return {**out, **times}


def top_overlap(a: pd.DataFrame, b: pd.DataFrame, k: int = 100) -> float:
    """|top k of a and top k of b| / k (edges as TF, target pairs; best first)."""
    top = [set(zip(n["tf"], n["target"], strict=True)) for n in (a.head(k), b.head(k))]
    return len(top[0] & top[1]) / k


def _global(edges: pd.DataFrame, method: str = "consensus") -> pd.DataFrame:
    return edges[(edges["method"] == method) & (edges["cell_type"] == "all")]


def run_ensembles(
    adata, normalized, ds, config, base, sizes, threads, peers, k=100
) -> pd.DataFrame:
    """Edge stability and accuracy of grn_sem ensembles of each size in ``sizes`` (two
    disjoint ensembles each), and of GRNBoost2 at two seeds; one row per size.

    Each seed's model is trained and attributed once (``infer_grn``, global networks);
    the ensembles combine those networks with ``ensemble_networks``, as ``infer_grn``
    does with ``member_dirs``."""
    from scinterp.evaluate.grn import grn_metrics, read_reference
    from scinterp.grn_peers import run_peer
    from scinterp.interpret.grn import ensemble_networks, infer_grn, model_genes
    from scinterp.priors import default_tfs
    from scinterp.train.loop import seed_everything
    from scinterp.train.run import train_from_files

    grn = config["branches"]["grn"]
    tfs_file = ds.get("tfs") or default_tfs()
    half = max(sizes)
    seeds = [base + i for i in range(2 * half)]
    nets, train_wall, train_cpu, infer_wall = {}, [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            train = {**config["train"], "seed": seed, "device": "cpu"}
            outdir = Path(tmp) / f"seed{seed}"
            _, wall, cpu = _timed(
                lambda train=train, outdir=outdir: train_from_files(
                    "grn_sem", normalized=normalized, outdir=outdir, params=train, tfs=tfs_file
                )
            )
            train_wall.append(wall)
            train_cpu.append(cpu)
            seed_everything(base)
            edges, wall, _ = _timed(
                lambda outdir=outdir: infer_grn(
                    adata,
                    outdir,
                    per_cell_type=False,
                    max_cells=grn["max_cells"],
                    n_steps=grn["n_steps"],
                    baseline=grn["baseline"],
                    consensus=grn["consensus"],
                    batch_size=grn["batch_size"],
                    seed=base,
                )
            )
            infer_wall.append(wall)
            nets[seed] = {m: _global(edges, m) for m in edges["method"].unique()}
        meta = json.loads((Path(tmp) / f"seed{seeds[0]}" / "model.json").read_text())["meta"]
    genes, tfs, columns = model_genes(adata, meta)
    reference = read_reference(ds["grn_reference"], tfs, genes)
    true = set(zip(reference["tf"], reference["target"], strict=True))

    def ratio(edges):
        m = grn_metrics(edges, reference, tfs, genes).set_index("method")
        return m.loc["consensus", "auprc_ratio"]

    rows = []
    for size in sorted(sizes):
        sides = [
            pd.concat(ensemble_networks([nets[s] for s in members], tfs, genes, confidence_top=k))
            for members in (seeds[:size], seeds[half : half + size])
        ]
        if size == 1:  # the main models' own networks (as with ensemble_score=False)
            single_ratio = (ratio(sides[0]) + ratio(sides[1])) / 2
        top = _global(sides[0]).head(k)
        sure = top["confidence"] == 1.0
        hit = pd.Series(
            [e in true for e in zip(top["tf"], top["target"], strict=True)], index=top.index
        )
        overlaps = {
            m: top_overlap(_global(sides[0], m), _global(sides[1], m), k)
            for m in ("consensus", "deepsem", "integrated_gradients")
        }
        rows.append(
            {
                "size": size,
                f"ours top-{k} overlap": overlaps.pop("consensus"),
                **{f"{m} overlap": v for m, v in overlaps.items()},
                "ours AUPRC ratio (ensemble mean)": (ratio(sides[0]) + ratio(sides[1])) / 2,
                "ours AUPRC ratio (main model)": single_ratio,
                "top precision, confidence 1": hit[sure].mean() if size > 1 else None,
                "top precision, confidence < 1": hit[~sure].mean() if size > 1 else None,
                "train s per member": sum(train_wall) / len(train_wall),
                "train CPU s per member": sum(train_cpu) / len(train_cpu),
                "global infer s per member": sum(infer_wall) / len(infer_wall),
            }
        )
    table = pd.DataFrame(rows).set_index("size")
    table["candidates"] = len(tfs) * (len(genes) - 1)
    if "grnboost2" not in peers:  # e.g. --peers spearman: ours only
        return table
    boost = []
    for seed in (seeds[0], seeds[half]):
        net, wall, _ = _timed(
            lambda seed=seed: run_peer(
                "grnboost2", adata.X[:, columns], genes, tfs, seed=seed, threads=threads
            )
        )
        boost.append((net, wall))
    table["grnboost2 top-100 overlap"] = top_overlap(boost[0][0], boost[1][0], k)
    table["grnboost2 AUPRC ratio"] = (
        sum(grn_metrics(n, reference, tfs, genes)["auprc_ratio"].iloc[0] for n, _ in boost) / 2
    )
    table["grnboost2 s"] = sum(w for _, w in boost) / 2
    return table


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


def run_dataset(config, name, results, seeds, threads, peers) -> pd.DataFrame:
    from scinterp.io import read_normalized

    ds = config["datasets"][name]
    if not ds.get("grn_reference"):
        raise SystemExit(f"dataset {name} has no grn_reference to score against")
    normalized = results / "normalized.h5ad"
    if not normalized.exists():
        raise SystemExit(f"{normalized} is missing: run the workflow on {name} first")
    adata = read_normalized(normalized)
    rows = []
    for seed in seeds:
        rows.append(run_seed(adata, normalized, ds, config, seed, threads, peers))
        print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).set_index("seed")
    ratio_cols = [c for c in table.columns if " " not in c and c != "epochs"]
    print(f"\n{name}: AUPRC ratio (random = 1) per seed")
    print(table[ratio_cols].round(3).to_string())
    mean = table.mean()
    print("\nmean over seeds:")
    print(mean.round(3).to_string())
    best = max((p for p in peers if p in mean), key=lambda p: mean[p], default=None)
    if best and "consensus" in mean:
        print(
            f"\nconsensus / best peer ({best}) AUPRC ratio: {mean['consensus'] / mean[best]:.2f}; "
            f"per seed {', '.join(f'{v:.2f}' for v in table['consensus'] / table[best])}"
        )
    line = workflow_times(results)
    if line:
        print(line)
    return table


def main(argv=None):
    from scinterp.grn_peers import PEERS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", nargs="*", default=["config/config.yaml"])
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2, help="torch and GRNBoost2 threads")
    ap.add_argument("--results", default="results", help="the workflow's results folder")
    ap.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    ap.add_argument(
        "--generalization",
        nargs="*",
        default=None,
        help="run on these datasets of benchmarks/generalization.py (none named: every one "
        "with a reference network)",
    )
    ap.add_argument(
        "--ensemble",
        type=int,
        nargs="+",
        default=None,
        help="measure edge stability of grn_sem ensembles of these sizes (e.g. 1 3 5) and "
        "GRNBoost2 between seeds, from the first of --seeds, instead of the peer comparison",
    )
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if args.generalization is None:
        config = load_config(args.configfile)
        run_dataset(
            config,
            args.dataset,
            Path(args.results) / args.dataset,
            args.seeds,
            args.threads,
            args.peers,
        )
        return
    root = REPO / "benchmarks" / "out" / "generalization"
    names = args.generalization or sorted(p.parent.name for p in root.glob("*/config.yaml"))
    if args.ensemble:
        sizes = sorted(set(args.ensemble) | {1})
        tables = {}
        for name in names:
            config = load_config([str(root / name / "config.yaml")])
            ds = config["datasets"][name]
            if not ds.get("grn_reference"):
                continue
            print(f"\n=== {name}: ensembles of {sizes}", flush=True)
            from scinterp.io import read_normalized

            normalized = root / name / "results" / name / "normalized.h5ad"
            tables[name] = run_ensembles(
                read_normalized(normalized),
                normalized,
                ds,
                config,
                args.seeds[0],
                sizes,
                args.threads,
                args.peers,
            )
            print(tables[name].round(3).to_string(), flush=True)
        table = pd.concat(tables, names=["dataset"])
        print("\nEdge stability and accuracy by ensemble size (issue 15 part 4)")
        print(table.round(3).to_string())
        return
    summary = []
    for name in names:
        config = load_config([str(root / name / "config.yaml")])
        if not config["datasets"][name].get("grn_reference"):
            continue
        print(f"\n=== {name}", flush=True)
        table = run_dataset(
            config, name, root / name / "results" / name, args.seeds, args.threads, args.peers
        )
        mean = table.mean()
        row = {"dataset": name, "seeds": len(table)}
        for m in ["consensus", "integrated_gradients", "deepsem", *args.peers]:
            row[m] = mean.get(m)
        best = max(args.peers, key=lambda p: mean.get(p, float("-inf")))
        row["best peer"] = best
        row["consensus / best peer"] = mean["consensus"] / mean[best]
        row["consensus / spearman"] = mean["consensus"] / mean.get("spearman", float("nan"))
        for m in ["ours", *args.peers]:
            row[f"{m} wall s"] = mean.get(f"{m} wall s")
        summary.append(row)
    if not summary:
        raise SystemExit(f"no dataset with a reference network under {root}")
    table = pd.DataFrame(summary).set_index("dataset")
    num = table.select_dtypes("number")
    table.loc["median"] = num.median()
    table.loc["worst"] = num.min()
    print("\nAUPRC ratio, mean over seeds, per dataset (the GRN benchmark of issue 15)")
    print(table.round(2).to_string())


if __name__ == "__main__":
    main()
