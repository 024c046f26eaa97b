"""What each view of the GRN adds, and the levers of issue 33, at library level.

One grn_sem member (seed 0) per network, on a generalization dataset
(``<datasets>/<name>``, ``benchmarks/datasets.py``) or a network of ``grn.py --sergio``
(simulated by its ``simulate``); normalized as ``grn.py`` does. Per network it writes to
``<out>/<name>/`` every network over all candidates (tsv.gz) and ``levers.json``
(AUPRC ratios):

* ``base``: the member's global integrated gradients, deepsem and consensus
  (``infer_grn`` at the config's defaults, global networks);
* the correlation floors: ``spearman`` and ``within_type_spearman`` (``combine`` mean,
  the default, and max);
* ``typeagg``: integrated gradients of the same model within each cell type (baseline =
  the type's mean cell; up to 400 cells a type), averaged over the types weighted by
  their cells (what ``infer_grn`` now writes as ``integrated_gradients_within_type``);
* ``centred``: grn_sem retrained on expression with each cell type's mean removed,
  attributed on the centred cells.

``--views`` then fuses the saved networks (log-rank consensus) into the table of
benchmarks/LOG.md "What each view adds" (``<out>/views.tsv``).

The harness's rows (AUPRC ratio per network and method; the consensus ``ours``, the
correlation floors the ``peer``) go to ``<out>/results.json`` (levers) and
``<out>/views.json`` (``--views``).

Run::

    python -m benchmarks.grn_views krumsiek11 sergio_panel sergio_mouse_small sergio_ecoli
    python -m benchmarks.grn_views --views krumsiek11 sergio_panel sergio_mouse_small sergio_ecoli
"""

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import datasets, harness
from benchmarks import grn as G
from benchmarks.harness import Stopwatch
from scinterp.evaluate.grn import grn_metrics, read_reference
from scinterp.interpret.grn import (
    consensus_edges,
    edges_from_matrix,
    integrated_gradients_grn,
    model_genes,
)
from scinterp.interpret.grn._infer import _load_grn
from scinterp.interpret.grn.peers import run_peer
from scinterp.io import read_normalized, write_h5ad_atomic
from scinterp.priors import default_tfs
from scinterp.train.loop import seed_everything
from scinterp.train.run import train_from_files

OUT = G.REPO / "benchmarks" / "out" / "grn_views"
DATASETS = None  # --datasets: datasets.root_dir() unless given


def centre(X, labels):
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float32).copy()
    for t in np.unique(labels):
        m = labels == t
        X[m] -= X[m].mean(axis=0)
    return X


def typeagg(model, X, tf_index, labels, n_steps, seed, max_per_type=400):
    rng = np.random.default_rng(seed)
    total = 0
    n = 0
    for t in np.unique(labels):
        cells = np.flatnonzero(labels == t)
        if len(cells) < 30:
            continue
        if len(cells) > max_per_type:
            cells = np.sort(rng.choice(cells, max_per_type, replace=False))
        a = integrated_gradients_grn(
            model, X[cells], tf_index, baseline=X[cells].mean(axis=0), n_steps=n_steps
        )["all"]
        total = total + a * len(cells)
        n += len(cells)
    return total / n


def run_levers(name, levers):
    seed = 0
    root = OUT / name
    root.mkdir(parents=True, exist_ok=True)
    if name in datasets.DATASETS:  # benchmarks/datasets.py's, built there if missing
        cfgf = datasets.ensure([name], DATASETS) / name / "config.yaml"
    else:  # a network of benchmarks/grn.py --sergio, simulated here at seed 0
        cfgf = G.simulate(name, seed, root / "data")
    cfg = G.load_config([str(cfgf)])
    ds = cfg["datasets"][name]
    grn = cfg["branches"]["grn"]
    norm = root / "normalized.h5ad"
    if not norm.exists():
        G.normalize(cfg, name, norm, 1)
    adata = read_normalized(norm)
    labels = G.cell_labels(adata)
    train = {**cfg["train"], "seed": seed, "device": "cpu"}
    tfs_file = ds.get("tfs") or default_tfs()
    res, t = {}, {}
    mdir = root / "models" / "seed0"
    if not (mdir / "model.pt").exists():
        sw = Stopwatch()
        train_from_files(
            "grn_sem",
            normalized=norm,
            outdir=mdir,
            params=train,
            tfs=tfs_file,
            batch_key=ds.get("batch_key"),
            dataset=name,
        )
        t["train s"] = sw.wall()
    seed_everything(seed)
    sw = Stopwatch()
    edges = G.infer_global(adata, mdir, grn, seed)
    t["global IG s"] = sw.wall()
    model, meta = _load_grn(mdir, "cpu", None)
    genes, tfs, cols = model_genes(adata, meta)
    X = adata.X[:, cols]
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float32)
    ref = read_reference(ds["grn_reference"], tfs, genes)
    nets = {
        f"base {m}": G._global(edges, m) for m in ("integrated_gradients", "deepsem", "consensus")
    }
    for p in ("spearman", "within_type_spearman"):
        nets[p] = run_peer(p, X, genes, tfs, labels=labels)
    nets["within_type_spearman max"] = run_peer(
        "within_type_spearman", X, genes, tfs, labels=labels, combine="max"
    )
    tf_index = [genes.index(x) for x in tfs]
    if "typeagg" in levers:
        sw = Stopwatch()
        A = typeagg(model, X, tf_index, labels, grn["n_steps"], seed)
        nets["typeagg integrated_gradients"] = edges_from_matrix(A, tfs, genes, "x")
        t["typeagg s"] = sw.wall()
    if "centred" in levers:
        c = read_normalized(norm)
        c.X = centre(c.X, labels)
        path = root / "normalized_centred.h5ad"
        write_h5ad_atomic(c, path)
        cdir = root / "models_centred" / "seed0"
        sw = Stopwatch()
        if not (cdir / "model.pt").exists():
            train_from_files(
                "grn_sem",
                normalized=path,
                outdir=cdir,
                params=train,
                tfs=tfs_file,
                batch_key=ds.get("batch_key"),
                dataset=name,
            )
        seed_everything(seed)
        ce = G.infer_global(read_normalized(path), cdir, grn, seed)
        for m in ("integrated_gradients", "deepsem", "consensus"):
            nets[f"centred {m}"] = G._global(ce, m)
        t["centred s"] = sw.wall()
    m = grn_metrics(
        pd.concat(n.assign(method=k) for k, n in nets.items()), ref, tfs, genes
    ).set_index("method")
    res = {
        **m["auprc_ratio"].round(3).to_dict(),
        **{k: round(v, 1) for k, v in t.items()},
        "cells": adata.n_obs,
        "tfs": len(tfs),
        "genes": len(genes),
    }
    (root / "levers.json").write_text(json.dumps(res, indent=1))
    print(name, json.dumps(res), flush=True)
    # keep the matrices for re-scoring fusions offline
    for k, n in nets.items():
        n[["tf", "target", "score"]].to_csv(
            root / f"{k.replace(' ', '_')}.tsv.gz", sep="\t", index=False
        )
    ref.to_csv(root / "reference.tsv", sep="\t", index=False)
    (root / "tfs.txt").write_text("\n".join(tfs))
    (root / "genes.txt").write_text("\n".join(genes))
    return res


# the consensus at the library's defaults against the correlation floors
ROLES = {
    "base consensus": "ours",
    "spearman": "peer",
    "within_type_spearman": "peer",
    "consensus (IG 3, Spearman 2, deepsem 1)": "ours",
    "Spearman": "peer",
    "within-type Spearman": "peer",
}


def result_rows(ratios: dict[str, dict], case: str) -> list[dict]:
    """AUPRC ratios per network (``{network: {method: ratio}}``) as the harness's rows."""
    return [
        harness.row("grn_views", case, name, method, "auprc_ratio", v, role=ROLES.get(method))
        for name, r in ratios.items()
        for method, v in r.items()
        if not pd.isna(v)
    ]


def load(root, k):
    return pd.read_csv(root / f"{k}.tsv.gz", sep="\t")


def views(roots):
    rows = {}
    for root in roots:
        root = Path(root)
        if not (root / "base_integrated_gradients.tsv.gz").exists():
            continue
        tfs = (root / "tfs.txt").read_text().split()
        genes = (root / "genes.txt").read_text().split()
        ref = pd.read_csv(root / "reference.tsv", sep="\t")
        ig, ds, sp, wt = (
            load(root, k)
            for k in (
                "base_integrated_gradients",
                "base_deepsem",
                "spearman",
                "within_type_spearman",
            )
        )
        nets = {
            "consensus (IG 3, Spearman 2, deepsem 1)": load(root, "base_consensus"),
            "integrated gradients": ig,
            "deepsem": ds,
            "Spearman": sp,
            "within-type Spearman": wt,
            "fusion without the model (Spearman + within-type)": consensus_edges(
                [sp, wt], tfs, genes
            ),
            "consensus with within-type (IG 3, within 2, deepsem 1)": consensus_edges(
                [ig, wt, ds], tfs, genes, weights=[3, 2, 1]
            ),
            "consensus + within-type (IG 3, Spearman 2, within 2, deepsem 1)": consensus_edges(
                [ig, sp, wt, ds], tfs, genes, weights=[3, 2, 2, 1]
            ),
        }
        if (root / "typeagg_integrated_gradients.tsv.gz").exists():
            ta = load(root, "typeagg_integrated_gradients")
            nets["IG within type, aggregated"] = ta
            nets["IG global + within type (model only)"] = consensus_edges([ig, ta], tfs, genes)
            nets["model only: IG 1.5 + IG within 1.5 + deepsem 1"] = consensus_edges(
                [ig, ta, ds], tfs, genes, weights=[1.5, 1.5, 1]
            )
            nets["model only: IG 1 + IG within 2"] = consensus_edges(
                [ig, ta], tfs, genes, weights=[1, 2]
            )
            nets["consensus, IG = global + within type"] = consensus_edges(
                [ig, ta, sp, ds], tfs, genes, weights=[1.5, 1.5, 2, 1]
            )
        nets["model only: IG 3 + deepsem 1"] = consensus_edges([ig, ds], tfs, genes, weights=[3, 1])
        m = grn_metrics(
            pd.concat(n.assign(method=k) for k, n in nets.items()), ref, tfs, genes
        ).set_index("method")
        rows[root.name] = m["auprc_ratio"].round(2).to_dict()
    t = pd.DataFrame(rows)
    print(t.to_string())
    t.to_csv(OUT / "views.tsv", sep="\t")
    return result_rows(rows, "views, one grn_sem member, seed 0")


def main(argv=None):
    global OUT, DATASETS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--levers", default="typeagg,centred")
    ap.add_argument("--views", action="store_true", help="tables from the saved networks")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--datasets", default=None, help="default: datasets.root_dir()")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case (tests/test_benchmarks_smoke.py)",
    )
    args = ap.parse_args(argv)
    if args.smoke:  # krumsiek11, the base member only
        args.names, args.levers = ["krumsiek11"], ""
        G.CONFIG_OVERRIDES.update(G.SMOKE_CONFIG)
    if not args.names:
        ap.error("name at least one network")
    OUT, DATASETS = Path(args.out), datasets.root_dir(args.datasets)
    if args.views:
        rows = views([OUT / n for n in args.names])
        print(f"rows: {harness.write_results(rows, OUT / 'views.json')}")
        return rows
    ratios = {}
    for name in args.names:
        res = run_levers(name, [x for x in args.levers.split(",") if x])
        ratios[name] = {k: v for k, v in res.items() if not k.endswith(" s")}
        for k in ("cells", "tfs", "genes"):
            ratios[name].pop(k)
    rows = result_rows(ratios, "levers, one grn_sem member, seed 0")
    print(f"rows: {harness.write_results(rows, OUT)}")
    return rows


if __name__ == "__main__":
    main()
