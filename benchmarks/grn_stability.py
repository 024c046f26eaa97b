"""Top-edge stability of the GRN consensus between seeds (issue 15 part 4), offline.

``benchmarks/grn.py --ensemble`` trains members and scores a few fixed ensembles; every
fusion rule there costs a rerun. This script splits the two steps:

* ``--train``: grn_sem is trained at seeds 0 .. n-1 on a generalization dataset's
  ``normalized.h5ad`` (``benchmarks/datasets.py``'s data, normalized by the workflow in
  ``<out>/workflow/<dataset>/``; ``train_from_files`` with the dataset's config, as grn.py does),
  each model kept under ``<out>/<dataset>/models/seed<k>``, and each attributed once
  (``infer_grn``, global networks, the config's ``branches.grn``); every member's
  ``integrated_gradients`` and ``deepsem`` scores and the (seed-free) ``spearman`` scores
  are saved as TFs x genes matrices (``<out>/<dataset>/nets.npz``), with the train and
  attribution times;
* ``--evaluate``: any fusion rule over any split of the members into two disjoint
  ensembles A and B is scored from those matrices: top-100 overlap |top A and top B| /
  100 (as grn.py defines it) and the consensus AUPRC ratio (``grn_metrics``), mean over
  several splits.

The ensemble's consensus is ``infer_grn``'s (rule ``infer_grn``, checked against the saved
member consensus): each member's consensus is the weighted mean percentile rank of its
sources, the ensemble's score the mean over members of the percentile ranks of those
consensus scores (``ensemble_edges``). Other rules: ``logrank`` (and ``logrank10``,
``logrank100``, ``probit``) fuse a transform of each source's percentile rank instead,
-log of the rank from the top (a rank product); ``pooled`` and ``rawmean`` average the
members per source first; ``targetnorm`` / ``tfnorm`` scale the attributions per target /
per TF first; a ``2`` suffix (``logrank2``) transforms the members' ranks too. Weights:
a label of ``WEIGHTS`` or ``ig=3,sp=2,ds=1``. ``--split-seed k`` trains members that all
hold out the validation cells of seed k (into ``<dataset>_split<k>``). The same cells as
``infer_grn``'s are attributed (``attributed_cells``, seed 0) for every member; integrated
gradients are deterministic given the model (16 vs 64 steps: identical top 100), so the
seed-to-seed variance is the training's.

Run (1 thread; the overlap is the mean over up to 8 disjoint pairs of member sets)::

    python -m benchmarks.grn_stability --train sergio_mouse_small --members 10 --threads 1
    python -m benchmarks.grn_stability --train sergio_ecoli --members 6 --threads 1
    python -m benchmarks.grn_stability --evaluate sergio_mouse_small sergio_ecoli \\
        --sizes 1 2 3 --rules infer_grn logrank --fusions "3 IG + 2 Sp + 1 DS (default)"

``--evaluate`` writes the harness's rows to ``<out>/results.json``: per dataset, fusion,
rule and ensemble size (the method ``<fusion>, <rule>, x<members>``) the top-100 overlap
and the AUPRC ratio; the peers' AUPRC ratios (Spearman, the workflow's GRNBoost2). The
``ours`` row is the default fusion by the library's rule at the largest size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import harness
from benchmarks.datasets import dataset_config, workflow_output
from benchmarks.harness import Stopwatch

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "grn_stability"


def _matrix(net: pd.DataFrame, tfs, genes) -> np.ndarray:
    """A network's scores as TFs x genes (unlisted candidates NaN)."""
    m = net.set_index(["tf", "target"])["score"]
    index = pd.MultiIndex.from_product([list(tfs), list(genes)], names=["tf", "target"])
    return m.reindex(index).to_numpy(dtype=float).reshape(len(tfs), len(genes))


def train(name: str, members: int, threads: int, out: Path, n_steps=None, split_seed=None) -> None:
    """Train and attribute members 0 .. members-1 (see the module's docstring). With
    ``split_seed`` every member holds out the same validation cells (the split of that
    seed; init and batch order still follow the member's seed): models and matrices go
    to ``<dataset>_split<k>``."""
    import torch

    if split_seed is not None:
        import scinterp.train.prepare as prep

        plain = prep.split_indices
        prep.split_indices = lambda n, f, seed, stratify=None: plain(n, f, split_seed, stratify)

    from benchmarks.grn import infer_global, load_config
    from scinterp.interpret.grn import model_genes
    from scinterp.io import read_normalized
    from scinterp.priors import default_tfs
    from scinterp.train.loop import seed_everything
    from scinterp.train.run import train_from_files

    torch.set_num_threads(threads)
    normalized = workflow_output(name, "normalized.h5ad", out / "workflow" / name)
    config = load_config([str(out / "workflow" / name / "config.yaml")])
    ds = config["datasets"][name]
    adata = read_normalized(normalized)
    grn = dict(config["branches"]["grn"])
    if n_steps:
        grn["n_steps"] = n_steps
    root = out / (name if split_seed is None else f"{name}_split{split_seed}")
    root.mkdir(parents=True, exist_ok=True)
    store = root / ("nets.npz" if not n_steps else f"nets_steps{n_steps}.npz")
    saved = dict(np.load(store)) if store.exists() else {}
    times = json.loads((root / "times.json").read_text()) if (root / "times.json").exists() else {}
    for seed in range(members):
        if f"ig{seed}" in saved:
            continue
        model_dir = root / "models" / f"seed{seed}"
        t_train = 0.0
        if not (model_dir / "model.json").exists():
            params = {**config["train"], "seed": seed, "device": "cpu"}
            sw = Stopwatch()
            train_from_files(
                "grn_sem",
                normalized=normalized,
                outdir=model_dir,
                params=params,
                tfs=ds.get("tfs") or default_tfs(),
            )
            t_train = sw.wall()
        seed_everything(0)
        sw = Stopwatch()
        edges = infer_global(adata, model_dir, grn, 0)  # the same cells for every member
        t_infer = sw.wall()
        meta = json.loads((model_dir / "model.json").read_text())["meta"]
        genes, tfs, _ = model_genes(adata, meta)
        g = edges[edges["cell_type"] == "all"]
        pairs = (("integrated_gradients", "ig"), ("deepsem", "deepsem"), ("consensus", "cons"))
        for method, key in pairs:
            saved[f"{key}{seed}"] = _matrix(g[g["method"] == method], tfs, genes)
        if "spearman" not in saved:
            from scinterp.interpret.grn import attributed_cells
            from scinterp.interpret.grn.peers import spearman_network

            _, _, columns = model_genes(adata, meta)
            rows = attributed_cells(None, adata.n_obs, grn["max_cells"], 0)  # infer_grn's
            X = adata.X[rows][:, columns]
            X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
            saved["spearman"] = _matrix(spearman_network(X, genes, tfs), tfs, genes)
            (root / "tfs.txt").write_text("\n".join(tfs) + "\n")
            (root / "genes.txt").write_text("\n".join(genes) + "\n")
        if not n_steps:
            times[str(seed)] = {"train_s": t_train, "infer_s": t_infer}
            (root / "times.json").write_text(json.dumps(times, indent=1))
        np.savez_compressed(store, **saved)
        print(f"{name} seed {seed}: train {t_train:.1f} s, infer {t_infer:.1f} s", flush=True)


# ---------------------------------------------------------------------------- evaluation
def pct(m: np.ndarray) -> np.ndarray:
    """Percentile ranks in (0, 1] over every TF x gene entry, as ``_percentile_ranks``
    (NaN, i.e. self-loops and unlisted edges, share the lowest rank)."""
    flat = np.where(np.isfinite(m), m, -np.inf).ravel()
    return pd.Series(flat).rank(method="average", pct=True).to_numpy().reshape(m.shape)


class Data:
    """One dataset's saved member matrices, its universe and its reference."""

    def __init__(self, name: str, out: Path = OUT, store: str = "nets.npz"):
        from scinterp.evaluate.grn import read_reference

        root = out / name
        name = name.split("_split")[0]
        self.name, self.out = name, out
        z = np.load(root / store)
        self.tfs = (root / "tfs.txt").read_text().split()
        self.genes = (root / "genes.txt").read_text().split()
        self.seeds = sorted(int(k[2:]) for k in z.files if k.startswith("ig"))
        self.ig = {s: z[f"ig{s}"] for s in self.seeds}
        self.integrated_gradients = self.ig
        self.deepsem = {s: z[f"deepsem{s}"] for s in self.seeds}
        self.cons = {s: z[f"cons{s}"] for s in self.seeds if f"cons{s}" in z.files}
        self.spearman = z["spearman"]
        self.self_loop = np.asarray(self.tfs)[:, None] == np.asarray(self.genes)[None, :]
        ds = dataset_config(name)["datasets"][name]
        self.reference = read_reference(ds["grn_reference"], self.tfs, self.genes)
        ti = {t: i for i, t in enumerate(self.tfs)}
        gi = {g: i for i, g in enumerate(self.genes)}
        self.truth = np.zeros(self.self_loop.shape, bool)
        for t, g in zip(self.reference["tf"], self.reference["target"], strict=True):
            self.truth[ti[t], gi[g]] = True
        self._pct = {}
        self.ig_norm = {"targetnorm": {}, "tfnorm": {}}

    def ranked(self, key, s=None):
        """Cached percentile ranks of a source (of member s)."""
        k = (key, s)
        if k not in self._pct:
            m = self.spearman if key == "spearman" else getattr(self, key)[s]
            self._pct[k] = pct(m)
        return self._pct[k]

    def top(self, score: np.ndarray, k: int = 100) -> set:
        """The k best candidate edges, ties by TF then target name (``edges_from_matrix``)."""
        return set(self.table(score).head(k).itertuples(index=False, name=None))

    def table(self, score: np.ndarray, method: str = "consensus") -> pd.DataFrame:
        from scinterp.interpret.grn import edges_from_matrix

        s = np.where(self.self_loop, np.nan, score)
        return edges_from_matrix(s, self.tfs, self.genes, method)[["tf", "target"]]

    def auprc_ratio(self, score: np.ndarray) -> float:
        """BEELINE's AUPRC ratio as ``grn_metrics`` computes it (every candidate edge)."""
        from scinterp.evaluate.grn import grn_metrics
        from scinterp.interpret.grn import edges_from_matrix

        s = np.where(self.self_loop, np.nan, score)
        net = edges_from_matrix(s, self.tfs, self.genes, "x")
        return float(grn_metrics(net, self.reference, self.tfs, self.genes)["auprc_ratio"].iloc[0])


TRANSFORMS = {
    "pct": lambda p, n: p,
    # rank product: -log of the rank from the top (over n candidates)
    "logrank": lambda p, n: -np.log(1.0 - p + 0.5 / n),
    "logrank10": lambda p, n: -np.log(1.0 - p + 10.0 / n),
    "logrank100": lambda p, n: -np.log(1.0 - p + 100.0 / n),
    "probit": lambda p, n: __import__("scipy.stats").stats.norm.ppf(p - 0.5 / n),
}


def member_consensus(d: Data, s: int, w: dict, transform: str = "pct") -> np.ndarray:
    """One member's consensus score: the weighted mean of its sources' percentile ranks
    (``pct``, the library's) or of a transform of them."""
    f, n = TRANSFORMS[transform], d.self_loop.size
    total = sum(
        v * f(d.ranked("spearman" if k == "spearman" else k, None if k == "spearman" else s), n)
        for k, v in w.items()
        if v
    )
    return total / sum(w.values())


def ensemble_score(d: Data, members, w: dict, rule: str = "infer_grn") -> np.ndarray:
    """The ensemble's consensus score over ``members``.

    ``infer_grn``: the mean over members of each member's consensus percentile rank (the
    library's until ac33ed3, which fuses log ranks: ``logrank``); ``pooled``: each source's member mean percentile rank first, then the
    weighted mean of those (re-ranked) source ranks; ``rawmean``: the members' raw
    integrated-gradients (and adjacency) scores, each divided by its member's mean,
    averaged, then ranked and fused."""
    if rule == "infer_grn":
        return np.mean([pct(member_consensus(d, s, w)) for s in members], axis=0)
    if rule in TRANSFORMS:
        return np.mean([pct(member_consensus(d, s, w, rule)) for s in members], axis=0)
    if rule.endswith("2") and rule[:-1] in TRANSFORMS:  # the members' mean transformed too
        f, n = TRANSFORMS[rule[:-1]], d.self_loop.size
        return np.mean([f(pct(member_consensus(d, s, w, rule[:-1])), n) for s in members], 0)
    if rule in ("targetnorm", "tfnorm"):  # IG scaled per target gene (per TF) first
        axis = 0 if rule == "targetnorm" else 1
        for s in members:
            if s not in d.ig_norm[rule]:
                ig = np.abs(d.ig[s])
                d.ig_norm[rule][s] = ig / np.nansum(ig, axis=axis, keepdims=True)
        key = f"ig_{rule}"
        setattr(d, key, d.ig_norm[rule])
        w2 = {(key if k == "integrated_gradients" else k): v for k, v in w.items()}
        return np.mean([pct(member_consensus(d, s, w2)) for s in members], axis=0)
    parts = {}
    for k, v in w.items():
        if not v:
            continue
        if k == "spearman":
            parts[k] = d.ranked("spearman")
        elif rule == "pooled":
            parts[k] = pct(np.mean([d.ranked(k, s) for s in members], axis=0))
        elif rule == "rawmean":
            mats = [np.abs(getattr(d, k)[s]) for s in members]
            parts[k] = pct(np.mean([m / np.nanmean(m) for m in mats], axis=0))
        else:
            raise ValueError(rule)
    return sum(w[k] * parts[k] for k in parts) / sum(w[k] for k in parts)


def splits(seeds, size: int, n: int, rng) -> list[tuple[tuple, tuple]]:
    """Up to n distinct pairs of disjoint member sets of ``size`` (the first is grn.py's:
    the first seeds against those from the middle)."""
    half = len(seeds) // 2
    out = [(tuple(seeds[:size]), tuple(seeds[half : half + size]))]
    tries = 0
    while len(out) < n and tries < 50 * n:
        tries += 1
        perm = list(rng.permutation(seeds))
        a, b = tuple(sorted(perm[:size])), tuple(sorted(perm[size : 2 * size]))
        if (a, b) not in out and (b, a) not in out:
            out.append((a, b))
    return out


def evaluate_variant(d: Data, w: dict, size: int, rule="infer_grn", n_splits=8, k=100):
    rng = np.random.default_rng(0)
    overlaps, ratios, cache = [], [], {}

    def score(members):
        if members not in cache:
            sc = ensemble_score(d, list(members), w, rule)
            cache[members] = (d.top(sc, k), d.auprc_ratio(sc))
        return cache[members]

    for a, b in splits(d.seeds, size, n_splits, rng):
        (ta, ra), (tb, rb) = score(a), score(b)
        overlaps.append(len(ta & tb) / k)
        ratios += [ra, rb]
    return {
        "overlap": float(np.mean(overlaps)),
        "overlap min": float(np.min(overlaps)),
        "AUPRC ratio": float(np.mean(ratios)),
        "splits": len(overlaps),
    }


def peers(d: Data) -> dict:
    """Spearman (the saved matrix) and the workflow's GRNBoost2 network, AUPRC ratio."""
    from scinterp.evaluate.grn import grn_metrics

    out = {"spearman": d.auprc_ratio(d.spearman)}
    # the workflow's GRNBoost2 network, made in this benchmark's own working directory
    path = workflow_output(d.name, "grn/grnboost2.tsv", d.out / "workflow" / d.name)
    if path.exists():
        net = pd.read_csv(path, sep="\t")
        net["method"] = "grnboost2"
        out["grnboost2"] = float(
            grn_metrics(net, d.reference, d.tfs, d.genes)["auprc_ratio"].iloc[0]
        )
    return out


WEIGHTS = {
    "3 IG + 2 Sp + 1 DS (default)": {"integrated_gradients": 3, "spearman": 2, "deepsem": 1},
    "3 IG + 2 Sp + 0.5 DS": {"integrated_gradients": 3, "spearman": 2, "deepsem": 0.5},
    "3 IG + 2 Sp": {"integrated_gradients": 3, "spearman": 2},
    "3 IG + 3 Sp": {"integrated_gradients": 3, "spearman": 3},
    "3 IG + 3 Sp + 1 DS": {"integrated_gradients": 3, "spearman": 3, "deepsem": 1},
    "3 IG + 4 Sp + 1 DS": {"integrated_gradients": 3, "spearman": 4, "deepsem": 1},
    "3 IG + 1 Sp": {"integrated_gradients": 3, "spearman": 1},
    "1 IG + 1 Sp": {"integrated_gradients": 1, "spearman": 1},
    "2 IG + 3 Sp": {"integrated_gradients": 2, "spearman": 3},
    "3 IG + 2 Sp + 0.25 DS": {"integrated_gradients": 3, "spearman": 2, "deepsem": 0.25},
    "IG": {"integrated_gradients": 1},
    "DS": {"deepsem": 1},
    "Sp": {"spearman": 1},
}


def parse_weights(spec: str) -> dict:
    """Weights from a spec such as ``ig=3,sp=2,ds=1``."""
    full = {"ig": "integrated_gradients", "sp": "spearman", "ds": "deepsem"}
    return {full[k]: float(v) for k, v in (p.split("=") for p in spec.split(","))}


def evaluate(names, sizes, out: Path, weights=None, rules=("infer_grn",), n_splits=8):
    """The table of every fusion, rule and size, and each dataset's peers (AUPRC ratio)."""
    rows, peer_ratios = [], {}
    for name in names:
        d = Data(name, out)
        if d.cons:  # the reconstruction against infer_grn's own member consensus
            s = d.seeds[0]
            # the library fuses log ranks since ac33ed3 (the mean percentile rank before)
            w = WEIGHTS["3 IG + 2 Sp + 1 DS (default)"]
            mine = member_consensus(d, s, w, "logrank")
            assert d.top(mine) == d.top(d.cons[s]), "consensus reconstruction differs"
        p = peer_ratios[name] = peers(d)
        print(f"{name}: {len(d.seeds)} members; peers {p}", flush=True)
        for label, w in (weights or WEIGHTS).items():
            for rule in rules:
                for size in sizes:
                    if 2 * size > len(d.seeds):
                        continue
                    r = evaluate_variant(d, w, size, rule, n_splits)
                    row = {"dataset": name, "fusion": label, "rule": rule, "members": size, **r}
                    row["/ Spearman"] = r["AUPRC ratio"] / p["spearman"]
                    if "grnboost2" in p:
                        row["/ GRNBoost2"] = r["AUPRC ratio"] / p["grnboost2"]
                    rows.append(row)
                    print(
                        pd.DataFrame([row]).round(3).to_string(index=False, header=len(rows) == 1),
                        flush=True,
                    )
    return pd.DataFrame(rows), peer_ratios


DEFAULT = ("3 IG + 2 Sp + 1 DS (default)", "infer_grn")  # the library's fusion and rule


def result_rows(table: pd.DataFrame, peer_ratios: dict) -> list[dict]:
    """:func:`evaluate`'s table and peers as the harness's rows (see the docstring)."""
    out = []
    for name, p in peer_ratios.items():
        for method, ratio in p.items():
            out.append(harness.row(
                "grn_stability", "peer, one network", name, method, "auprc_ratio", ratio,
                role="peer",
            ))  # fmt: skip
    for r in table.to_dict("records"):
        largest = table.loc[table["dataset"] == r["dataset"], "members"].max()
        ours = (r["fusion"], r["rule"]) == DEFAULT and r["members"] == largest
        method = f"{r['fusion']}, {r['rule']}, x{r['members']}"
        case = f"mean over {r['splits']} split(s)"
        for metric, value, role in (
            ("auprc_ratio", r["AUPRC ratio"], "ours" if ours else None),
            ("top100_overlap", r["overlap"], None),
        ):
            out.append(harness.row(
                "grn_stability", case, r["dataset"], method, metric, value, role=role
            ))  # fmt: skip
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", nargs="*", default=None)
    ap.add_argument("--evaluate", nargs="*", default=None)
    ap.add_argument("--members", type=int, default=6)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--fusions", nargs="+", default=None, help="labels of WEIGHTS")
    ap.add_argument("--rules", nargs="+", default=["infer_grn"])
    ap.add_argument("--n-steps", type=int, default=None)
    ap.add_argument("--split-seed", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case (tests/test_benchmarks_smoke.py)",
    )
    args = ap.parse_args(argv)
    if args.smoke:  # krumsiek11: two members, ensembles of one
        args.train, args.evaluate, args.members, args.sizes = ["krumsiek11"], ["krumsiek11"], 2, [1]
        from benchmarks import grn

        grn.CONFIG_OVERRIDES.update(grn.SMOKE_CONFIG)
    for name in args.train or []:
        train(name, args.members, args.threads, Path(args.out), args.n_steps, args.split_seed)
    if args.evaluate is not None:
        weights = {k: WEIGHTS.get(k) or parse_weights(k) for k in args.fusions or []} or None
        table, peer_ratios = evaluate(
            args.evaluate, args.sizes, Path(args.out), weights, args.rules
        )
        print(table.round(3).to_string(index=False))
        rows = result_rows(table, peer_ratios)
        print(f"rows: {harness.write_results(rows, Path(args.out))}")
        return rows


if __name__ == "__main__":
    main()
