"""Gene-program activity (issue 14): program_vae and capsule against score_genes on data
that ``scinterp.simulate`` did not make.

Datasets (made here, cached under ``--out``):

* ``gp_4k``: 4,000 cells x 2,000 genes, 6 cell types, 2 donors.
* ``gp_small``: 1,500 cells x 800 genes, 4 cell types, 1 donor, small sets.
* ``gp_weak``: 3,000 cells x 1,500 genes, 5 cell types, 3 donors, weak programs
  (1.3-1.5x) and overlapping sets (true sets share genes, decoys borrow from them).
* ``pbmc_planted``: celltypist's real 10x sample (559 cells x 32,786 genes), labels =
  Leiden clusters, programs planted in chosen clusters by adding Poisson counts.

The synthetic ones come from a gamma-Poisson (Splatter-like) model: gene means from a
gamma with a few high outliers, cell-type differential expression (up and down),
per-donor gene factors, log-normal library sizes, a negative binomial per gene (BCV ~0.4).
A program is a gene set of which 50-80% of the genes (its "participating" genes) rise
1.5-3x in the cells of its active cell types, each cell to a random degree. 10 true sets
(15 active (program, cell type) pairs) and 30 decoy sets of random genes go to the GMT;
``truth/programs.tsv`` lists every set x every type with ``active`` and ``decoy``, the
format :func:`scinterp.evaluate.programs.read_truth` reads.

Per dataset and variant the script runs the workflow's library calls: ``run_normalize``
(rule normalize), ``train_from_files`` for program_vae and capsule_classifier (rule
train_model, the config's train section with the schema's defaults), ``compute_programs``
(rule program_tables) and ``evaluate_activity`` (rule program_evaluation), and prints the
activity AUROC per method. Also scored: the datasets of ``benchmarks/datasets.py`` that
have ``truth/programs.tsv`` (with ``--shared``; built when missing).

Run::

    python -m benchmarks.programs                          # defaults, every dataset
    python -m benchmarks.programs --datasets gp_small --variant lr3e-3:learning_rate=0.003
    python -m benchmarks.programs --variant kl0.1:kl_weight=0.1 --variant base:

A variant is ``name:key=value,key=value``: keys of the config's train section override
it, other keys are ProgramVAE constructor arguments (``kl_weight``, ``l1_denovo``...).

``<out>/results.json`` holds the harness's rows: activity AUROC per dataset, variant
(the row's case) and method; program_vae ``ours``, score_genes the ``peer``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmarks import harness
from benchmarks.harness import Measure, Stopwatch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "out" / "programs"


# ------------------------------------------------------------------ generator
@dataclass(frozen=True)
class Spec:
    """Shape and difficulty of one synthetic dataset."""

    name: str
    n_cells: int = 4000
    n_genes: int = 2000
    n_types: int = 6
    n_donors: int = 2
    n_true: int = 10
    n_decoy: int = 30
    n_single: int = 5  # true programs active in one type; the others in two (15 pairs)
    fold: tuple[float, float] = (1.5, 3.0)
    participation: tuple[float, float] = (0.5, 0.8)
    set_size: tuple[int, int] = (15, 60)
    overlap: float = 0.0  # fraction of a true set's genes shared with the previous set
    decoy_borrow: float = 0.0  # fraction of a decoy's genes drawn from the true sets
    de_prob: float = 0.08
    de_loc: float = 0.5
    de_scale: float = 0.4
    donor_sd: float = 0.15
    lib_loc: float = float(np.log(2500))
    lib_scale: float = 0.45
    bcv: float = 0.4
    seed: int = 0


SPECS = {
    "gp_4k": Spec("gp_4k", seed=11),
    "gp_small": Spec(
        "gp_small", n_cells=1500, n_genes=800, n_types=4, n_donors=1, set_size=(10, 30), seed=12
    ),
    "gp_weak": Spec(
        "gp_weak",
        n_cells=3000,
        n_genes=1500,
        n_types=5,
        n_donors=3,
        fold=(1.3, 1.5),
        overlap=0.3,
        decoy_borrow=0.3,
        seed=13,
    ),
}
# --smoke's dataset (tests/test_benchmarks_smoke.py): not among the benchmark's datasets
SMOKE_SPEC = Spec(
    "gp_smoke", n_cells=300, n_genes=200, n_types=3, n_donors=1, n_true=4, n_decoy=4,
    n_single=2, set_size=(10, 20), seed=14,
)  # fmt: skip


def _draw_sets(rng, spec: Spec, n_genes: int, pool: np.ndarray | None = None):
    """True and decoy gene sets (gene indices), overlapping as the spec says."""
    pool = np.arange(n_genes) if pool is None else pool
    true_sets: list[np.ndarray] = []
    for k in range(spec.n_true):
        size = int(rng.integers(spec.set_size[0], spec.set_size[1] + 1))
        shared = np.array([], dtype=np.int64)
        if k > 0 and spec.overlap > 0:
            prev = true_sets[-1]
            shared = rng.choice(prev, min(len(prev), int(round(spec.overlap * size))), False)
        rest = rng.choice(np.setdiff1d(pool, shared), size - len(shared), replace=False)
        true_sets.append(np.concatenate([shared, rest]))
    union = np.unique(np.concatenate(true_sets))
    decoys = []
    for _ in range(spec.n_decoy):
        size = int(rng.integers(spec.set_size[0], spec.set_size[1] + 1))
        n_borrow = int(round(spec.decoy_borrow * size))
        borrowed = rng.choice(union, n_borrow, replace=False)
        rest = rng.choice(np.setdiff1d(pool, borrowed), size - n_borrow, replace=False)
        decoys.append(np.concatenate([borrowed, rest]))
    return true_sets, decoys


def _active_pairs(rng, spec: Spec, types: list[str]) -> dict[int, list[int]]:
    """True program -> the cell types (indices) it is switched on in."""
    return {
        k: sorted(rng.choice(len(types), 1 if k < spec.n_single else 2, replace=False).tolist())
        for k in range(spec.n_true)
    }


def _truth_table(names, n_true, active, types) -> pd.DataFrame:
    rows = []
    for k, name in enumerate(names):
        for t, cell_type in enumerate(types):
            rows.append((name, cell_type, k < n_true and t in active.get(k, []), k >= n_true))
    return pd.DataFrame(rows, columns=["program", "cell_type", "active", "decoy"])


def _program_names(rng, n_true, n_decoy):
    # Shuffled names: a method cannot tell true from decoy sets by name or GMT position.
    names = [f"GS_{i:02d}" for i in range(n_true + n_decoy)]
    order = rng.permutation(len(names))
    return [names[i] for i in order]


def simulate_programs(spec: Spec):
    """Counts (AnnData), gene sets and truth of one synthetic dataset.

    Returns
    -------
    (adata, gene_sets, truth)
        ``adata.X`` integer counts (CSR), ``obs`` with ``cell_type``, ``donor``,
        ``quality``; ``gene_sets`` name -> genes (true and decoy, GMT order shuffled);
        ``truth`` as ``truth/programs.tsv``.
    """
    import anndata as ad
    from scipy import sparse

    rng = np.random.default_rng(spec.seed)
    G, N = spec.n_genes, spec.n_cells
    genes = [f"MT-{i}" for i in range(3)] + [f"GENE{i:04d}" for i in range(G - 3)]
    base = rng.gamma(0.6, 1 / 0.3, G)
    outlier = rng.random(G) < 0.05
    base[outlier] *= rng.lognormal(1.5, 0.5, outlier.sum())
    types = [f"type_{t}" for t in range(spec.n_types)]
    donors = [f"donor_{d}" for d in range(spec.n_donors)]
    # cell-type differential expression: up or down by a log-normal factor
    de = np.ones((spec.n_types, G))
    for t in range(spec.n_types):
        hit = rng.random(G) < spec.de_prob
        fac = rng.lognormal(spec.de_loc, spec.de_scale, hit.sum())
        de[t, hit] = np.where(rng.random(hit.sum()) < 0.5, fac, 1 / fac)
    donor_fac = rng.lognormal(0.0, spec.donor_sd, (spec.n_donors, G))
    # unequal type proportions, and unequal between donors
    props = rng.dirichlet(np.full(spec.n_types, 5.0), spec.n_donors)
    donor = rng.integers(0, spec.n_donors, N)
    cell_type = np.array([rng.choice(spec.n_types, p=props[d]) for d in donor])

    true_sets, decoys = _draw_sets(rng, spec, G - 3, pool=np.arange(3, G))
    active = _active_pairs(rng, spec, types)
    w = base[None, :] * de[cell_type] * donor_fac[donor]
    for k, genes_k in enumerate(true_sets):
        part = rng.choice(
            genes_k, int(round(rng.uniform(*spec.participation) * len(genes_k))), False
        )
        fold = rng.uniform(*spec.fold, len(part))
        on = np.isin(cell_type, active[k])
        level = rng.uniform(0.6, 1.0, on.sum())  # cells carry the program to varying degrees
        w[np.ix_(on, part)] *= 1.0 + (fold[None, :] - 1.0) * level[:, None]
    lib = rng.lognormal(spec.lib_loc, spec.lib_scale, N)
    mu = w / w.sum(1, keepdims=True) * lib[:, None]
    bcv = spec.bcv * rng.lognormal(0.0, 0.2, G)
    theta = 1.0 / bcv**2
    counts = rng.poisson(rng.gamma(theta[None, :], mu / theta[None, :]))

    names = _program_names(rng, spec.n_true, spec.n_decoy)
    all_sets = true_sets + decoys
    gene_sets = {names[k]: [genes[g] for g in all_sets[k]] for k in range(len(all_sets))}
    truth = _truth_table(names, spec.n_true, active, types)
    order = sorted(gene_sets)
    gene_sets = {k: gene_sets[k] for k in order}
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical([types[t] for t in cell_type]),
            "donor": pd.Categorical([donors[d] for d in donor]),
            "quality": "good",
        },
        index=[f"cell{i:05d}" for i in range(N)],
    )
    adata = ad.AnnData(
        sparse.csr_matrix(counts.astype(np.float32)), obs=obs, var=pd.DataFrame(index=genes)
    )
    return adata, gene_sets, truth


def planted_real(seed: int = 14, fold=(1.5, 3.0), participation=(0.5, 0.8)):
    """celltypist's real PBMC counts with programs planted in Leiden clusters.

    Labels are Leiden clusters of the unmodified counts (scanpy's standard recipe). Set
    genes are drawn among genes detected in >= 5% of the cells. A participating gene g of
    a program active in cluster c gains ``Poisson((fold - 1) * m_gc * lib_i / median
    lib)`` counts in each cell i of c, ``m_gc`` being its mean count in c at median depth:
    the counts rise by ``fold`` in expectation, zeros included.
    """
    import scanpy as sc
    from scipy import sparse

    from benchmarks.datasets import read_celltypist_sample

    rng = np.random.default_rng(seed)
    adata = read_celltypist_sample()
    sc.pp.filter_genes(adata, min_cells=3)
    tmp = adata.copy()
    sc.pp.normalize_total(tmp, target_sum=1e4)
    sc.pp.log1p(tmp)
    sc.pp.highly_variable_genes(tmp, n_top_genes=2000)
    sc.pp.pca(tmp, n_comps=30, mask_var="highly_variable", random_state=0)
    sc.pp.neighbors(tmp, n_neighbors=15, random_state=0)
    sc.tl.leiden(tmp, resolution=0.8, random_state=0, flavor="igraph", n_iterations=2)
    clusters = tmp.obs["leiden"].astype(str).to_numpy()
    sizes = pd.Series(clusters).value_counts()
    keep_types = sorted(sizes.index[sizes >= 25])  # clusters large enough to carry programs
    cells = np.isin(clusters, keep_types)
    adata = adata[cells].copy()
    clusters = clusters[cells]
    types = [f"cluster_{c}" for c in keep_types]
    cell_type = np.array([keep_types.index(c) for c in clusters])

    X = adata.X.toarray()
    detected = (X > 0).mean(0)
    pool = np.flatnonzero(detected >= 0.05)
    spec = Spec("pbmc_planted", n_types=len(types), set_size=(15, 50), seed=seed)
    true_sets, decoys = _draw_sets(rng, spec, adata.n_vars, pool=pool)
    active = _active_pairs(rng, spec, types)
    lib = X.sum(1)
    scale = lib / np.median(lib)
    for k, genes_k in enumerate(true_sets):
        part = rng.choice(genes_k, int(round(rng.uniform(*participation) * len(genes_k))), False)
        fold_k = rng.uniform(*fold, len(part))
        for t in active[k]:
            on = np.flatnonzero(cell_type == t)
            m = (X[np.ix_(on, part)] / scale[on, None]).mean(0)
            level = rng.uniform(0.6, 1.0, len(on))
            extra = (fold_k - 1.0)[None, :] * m[None, :] * scale[on, None] * level[:, None]
            X[np.ix_(on, part)] += rng.poisson(extra)
    names = _program_names(rng, spec.n_true, spec.n_decoy)
    genes = adata.var_names.to_numpy()
    all_sets = true_sets + decoys
    gene_sets = {names[k]: [str(genes[g]) for g in all_sets[k]] for k in range(len(all_sets))}
    gene_sets = {k: gene_sets[k] for k in sorted(gene_sets)}
    truth = _truth_table(names, spec.n_true, active, types)
    adata.X = sparse.csr_matrix(X)
    adata.obs["cell_type"] = pd.Categorical([types[t] for t in cell_type])
    adata.obs["quality"] = "good"
    return adata, gene_sets, truth


def write_dataset(folder: Path, adata, gene_sets, truth) -> None:
    """``rna.h5ad``, ``gene_sets.gmt``, ``truth/programs.tsv`` (the workflow's inputs)."""
    (folder / "truth").mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(folder / "rna.h5ad")
    with open(folder / "gene_sets.gmt", "w") as fh:
        for name, genes in gene_sets.items():
            fh.write("\t".join([name, "benchmark", *genes]) + "\n")
    truth.to_csv(folder / "truth" / "programs.tsv", sep="\t", index=False)


def ensure_dataset(name: str, out: Path) -> dict:
    """Make (once) and normalize one dataset; returns its paths and keys."""
    folder = out / name
    if not (folder / "truth" / "programs.tsv").exists():
        if name == "pbmc_planted":
            adata, sets, truth = planted_real()
        else:
            adata, sets, truth = simulate_programs({**SPECS, "gp_smoke": SMOKE_SPEC}[name])
        write_dataset(folder, adata, sets, truth)
    batch_key = "donor" if name in SPECS and SPECS[name].n_donors > 1 else None
    ds = {
        "name": name,
        "folder": folder,
        "rna": folder / "rna.h5ad",
        "gene_sets": folder / "gene_sets.gmt",
        "truth": folder / "truth" / "programs.tsv",
        "label_key": "cell_type",
        "batch_key": batch_key,
    }
    _normalize(ds)
    return ds


def shared_datasets(config: dict) -> list[dict]:
    """Datasets of ``benchmarks/datasets.py`` that carry program ground truth.

    Their ``config.yaml`` gives the dataset keys. Unlike the datasets made here (good
    cells only) they hold low-quality cells and doublets, so they go through the
    workflow's QC (``run_qc``, the schema's ``qc`` defaults) before normalization.
    """
    from benchmarks.datasets import DATASETS, dataset_config, ensure

    root = ensure(list(DATASETS))  # built there if missing
    found = []
    for folder in sorted(root / n for n in DATASETS):
        entries = dataset_config(folder.name, root)["datasets"]
        for name, keys in entries.items():
            truth = Path(keys.get("truth") or folder / "truth") / "programs.tsv"
            if not truth.exists() or not keys.get("gene_sets"):
                continue
            ds = {
                "name": name,
                "folder": DEFAULT_OUT / f"shared_{name}",
                "rna": Path(keys["rna"]),
                "gene_sets": Path(keys["gene_sets"]),
                "truth": truth,
                "label_key": keys.get("label_key"),
                "batch_key": keys.get("batch_key"),
                "counts_layer": keys.get("counts_layer"),
            }
            ds["folder"].mkdir(parents=True, exist_ok=True)
            _normalize(ds, qc=config["qc"])
            found.append(ds)
    return found


def _normalize(ds: dict, qc: dict | None = None) -> None:
    import anndata as ad

    from scinterp.io import read_counts
    from scinterp.preprocess.normalize import run_normalize
    from scinterp.preprocess.qc import run_qc

    path = ds["folder"] / "normalized.h5ad"
    ds["normalized"] = path
    if path.exists():
        return
    if qc is None:
        adata = ad.read_h5ad(ds["rna"])
    else:
        raw = read_counts(ds["rna"], dataset=ds["name"], counts_layer=ds.get("counts_layer"))
        adata, _, _ = run_qc(raw, dict(qc), ds["batch_key"], ds["name"])
    embed = ds["label_key"] is None  # Leiden labels need the neighbour graph
    adata = run_normalize(adata, {}, ds["batch_key"], ds["label_key"], ds["name"], embed=embed)
    adata.write_h5ad(path)


# ------------------------------------------------------------------ running the methods
def load_defaults() -> dict:
    """The train and branches.programs sections with the schema's defaults."""
    from snakemake.utils import validate

    config: dict = {"datasets": {"x": {"rna": "x.h5ad"}}}  # a dataset is required
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config


@dataclass
class Variant:
    name: str
    train: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)


def parse_variant(text: str, train_keys) -> Variant:
    name, _, rest = text.partition(":")
    v = Variant(name or "default")
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        value = yaml.safe_load(value)
        (v.train if key in train_keys else v.model)[key] = value
    return v


# ------------------------------------------------------------------ readout ablation
def vae_readouts(adata, model_dir: str, labels, seed: int = 0) -> pd.DataFrame:
    """Other ways to read program activity out of one trained program VAE.

    ``bf_posterior``: Bayes factor on posterior draws (the workflow's score until issue 14);
    ``bf_mean``: the same on the latent means; ``cohen_d``: effect size of the means;
    ``decoder_lfc``: the mean decoder weight of the unit over its genes times the unit's
    mean difference (type minus rest), i.e. the log-fold change of the set's genes the unit
    accounts for.
    """
    from scinterp.interpret.programs import (
        _load,
        differential_scores,
        latent_directions,
        model_activity,
    )

    module, meta, X = _load(model_dir, adata, "cpu", None)
    mu, sd = model_activity(module, X)
    w = module.decoder_weights().cpu().numpy()
    sign = latent_directions(w)
    mu, w = mu * sign, w * sign
    n_prior = int(meta["n_prior"])
    programs = list(meta["programs"])[:n_prior]
    mu, sd, w = mu[:, :n_prior], sd[:, :n_prior], w[:, :n_prior]
    post = differential_scores(mu, labels, programs, "bf_posterior", std=sd, seed=seed)
    mean = differential_scores(mu, labels, programs, "bf_mean")
    d = mean.assign(score=mean["effect_size"], method="cohen_d")
    mask = w != 0
    mean_w = (w * mask).sum(0) / np.maximum(mask.sum(0), 1)
    lfc = mean.assign(
        score=(mean["mean_in"] - mean["mean_out"]).to_numpy()
        * mean_w[[programs.index(p) for p in mean["program"]]],
        method="decoder_lfc",
    )
    trimmed = []
    for k in range(len(programs)):
        q = np.sort(w[mask[:, k], k])
        cut = len(q) // 5
        trimmed.append(q[cut : len(q) - cut].mean() if len(q) > 2 * cut else q.mean())
    trimmed = np.asarray(trimmed)
    trim = mean.assign(
        score=(mean["mean_in"] - mean["mean_out"]).to_numpy()
        * trimmed[[programs.index(p) for p in mean["program"]]],
        method="decoder_lfc_trimmed",
    )
    out = pd.concat([post, mean, d, lfc, trim], ignore_index=True)
    out["method"] = "program_vae:" + out["method"]
    return out


def run_one(ds: dict, variant: Variant, config: dict, models, readouts: bool = False) -> dict:
    """Train, compute the programs tables, evaluate; a row of AUROCs per method."""
    from scinterp.evaluate.programs import evaluate_activity, read_truth
    from scinterp.interpret.programs import compute_programs
    from scinterp.io import read_normalized
    from scinterp.train.run import train_from_files

    train = {**config["train"], "device": "cpu", **variant.train}
    opts = config["branches"]["programs"]
    root = ds["folder"] / "models" / variant.name
    dirs, epochs, seconds = {}, {}, {}
    for m in models:
        outdir = root / m
        sw = Stopwatch()
        if not (outdir / "model.pt").exists():
            hist = train_from_files(
                m,
                normalized=ds["normalized"],
                outdir=outdir,
                params=train,
                gene_sets=ds["gene_sets"],
                batch_key=ds["batch_key"],
                dataset=ds["name"],
                model_kwargs=variant.model if m == "program_vae" else None,
            )
        else:
            hist = pd.read_csv(outdir / "history.tsv", sep="\t")
        seconds[m] = sw.wall()
        epochs[m] = (len(hist), int(hist["val_loss"].idxmin()) + 1)
        dirs[m] = str(outdir)
    adata = read_normalized(ds["normalized"])
    res = compute_programs(
        adata,
        ds["gene_sets"],
        dirs,
        min_set_size=train["min_genes_per_set"],
        used_threshold=opts["used_threshold"],
        n_top_denovo=opts["n_top_denovo"],
        n_posterior_samples=opts["n_posterior_samples"],
        ctrl_size=opts["score_genes_ctrl_size"],
        seed=train["seed"],
        dataset=ds["name"],
    )
    activity = res["activity"]
    if readouts and "program_vae" in dirs:
        from scinterp.interpret.programs import label_column

        labels = adata.obs[label_column(adata)].astype(str).to_numpy()
        extra = vae_readouts(adata, dirs["program_vae"], labels, seed=train["seed"])
        activity = pd.concat([activity, extra], ignore_index=True)
    ev = evaluate_activity(activity, read_truth(ds["truth"])).set_index("method")
    row = {"dataset": ds["name"], "variant": variant.name}
    row.update({m: float(ev.loc[m, "auroc"]) for m in ev.index})
    if "program_vae" in epochs:
        row["vae_epochs"] = "{} (best {})".format(*epochs["program_vae"])
        row["vae_s"] = round(seconds["program_vae"])
    row["train_s"] = seconds
    (root / "evaluation.tsv").parent.mkdir(parents=True, exist_ok=True)
    ev.to_csv(root / "evaluation.tsv", sep="\t")
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="*", default=[*SPECS, "pbmc_planted"])
    ap.add_argument("--shared", action="store_true", help="also benchmarks/datasets.py's ones")
    ap.add_argument("--variant", action="append", default=None, help="name:key=value,...")
    ap.add_argument("--models", nargs="*", default=["program_vae", "capsule_classifier"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--readouts", action="store_true", help="also other VAE readouts")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=None, help="train.seed (default: the schema's)")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case, seconds (tests/test_benchmarks_smoke.py)",
    )
    args = ap.parse_args(argv)
    if args.smoke:  # the smallest simulated dataset, the program VAE for two epochs
        args.datasets, args.models, args.shared = ["gp_smoke"], ["program_vae"], False
        args.variant = ["smoke:max_epochs=2"]

    import torch

    torch.set_num_threads(args.threads)
    config = load_defaults()
    if args.seed is not None:
        config["train"]["seed"] = args.seed
    variants = [parse_variant(v, config["train"]) for v in (args.variant or ["default:"])]
    datasets = [ensure_dataset(n, args.out) for n in args.datasets]
    if args.shared:
        datasets += shared_datasets(config)
    rows = []
    for ds in datasets:
        for v in variants:
            rows.append(run_one(ds, v, config, args.models, args.readouts))
            print(json.dumps(rows[-1]), flush=True)
    results = result_rows(rows)
    print(f"rows: {harness.write_results(results, args.out)}")
    table = pd.DataFrame(rows).drop(columns="train_s")
    print("\nactivity AUROC per dataset and variant (truth: programs.tsv)")
    print(table.round(3).to_string(index=False))
    cols = [c for c in table.columns if c not in ("dataset", "variant", "vae_epochs", "vae_s")]
    print("\nworst dataset per variant:")
    print(table.groupby("variant")[cols].min().round(3).to_string())
    return results


ROLES = {"program_vae": "ours", "score_genes": "peer"}


def result_rows(rows: list[dict]) -> list[dict]:
    """:func:`run_one`'s rows as the harness's: activity AUROC per dataset, variant (the
    case) and method, a model's training wall seconds beside its own rows."""
    out = []
    for r in rows:
        for method, value in r.items():
            if method in ("dataset", "variant", "vae_epochs", "vae_s", "train_s"):
                continue
            wall = r["train_s"].get(method)
            out.append(harness.row(
                "programs", r["variant"], r["dataset"], method, "auroc", value,
                None if wall is None else Measure(wall, None, None), role=ROLES.get(method),
            ))  # fmt: skip
    return out


if __name__ == "__main__":
    main()
