"""Conditions branch (issue 30): what changes between conditions, per cell type, with the
donor as the unit, measured against ground truth and side by side with its peers.

Data (made here, seeded; nothing from ``scinterp.simulate``):

* **synthetic** (a muscat-style simulator written for this benchmark): 4 cell types (A 40%,
  B 30%, C 22%, rare R 8% of the cells), ``--genes`` genes, ~``--cells`` cells per sample.
  Counts are gamma-Poisson (negative binomial): per-gene relative means from a gamma
  (Splatter's shape 0.6), type markers, per-gene BCV 0.2-0.5, log-normal library sizes
  (per cell sd 0.3, per sample sd 0.2) and per-sample random effects on the gene means
  (log-normal, sd 0.25 per sample x gene plus 0.1 per sample x type x gene). The test
  condition changes, per type, genes of four kinds:

  - ``DE``: every cell's mean shifted (|log2 FC| 0.6-1.5, up or down);
  - ``DP``: 15-35% of the test cells express the gene 2.8-5.7x higher, the rest unchanged;
  - ``DM``: same mean, other shape: half the test cells at (1 - d), half at (1 + d) times
    the mean, d 0.6-0.9 (bimodal vs unimodal);
  - ``program``: 70% of the 25 genes of a gene set shifted together by log2 0.25-0.45;

  type A changes 10% of its genes (+ 2 programs), B 6% (+ 1), R 3% (+ 1), C none; the true
  share of changed genes orders them A > B > R > C. 8 gene sets (4 active, 4 decoys) are
  returned for scoring. Abundance: type B's share doubles in the test condition (per-sample
  shares vary: Dirichlet, concentration 100). The trap: 10 genes per type shifted 8x in one
  test sample only (not a change between conditions: a call on them is false).
  ``null`` designs have no effect and no trap, and the condition labels go at random across
  the samples. 3, 5 and 10 samples per condition, ``--seeds`` replicates each.

* **semi-synthetic** (real counts): celltypist's 10x PBMC sample (the loader of
  ``benchmarks/datasets.py``, Leiden clusters as types, the 4 largest). Each cell is split
  into two by binomial thinning at 0.5 (data thinning: for Poisson counts the two halves
  are independent cells), the cells go at random to pseudo-samples and conditions, sample
  effects (log-normal, sd 0.25) and the DE / DP / DM / trap changes are planted by binomial
  thinning (factor < 1) and adding Poisson counts (factor > 1, expected count of the cell
  from its library size and its type's mean profile); ``null``: the split and the sample
  effects only.

Methods, side by side on the same AnnData (``layers["counts"]`` raw counts, ``.X``
log1p(normalize_total 1e4), obs ``cell_type``, ``sample``, ``condition``):

* ours: ``scinterp.interpret.conditions`` (``test_genes`` every method it returns, the
  ``consensus`` rows first; ``test_celltypes``; ``test_programs`` on score_genes activities;
  ``test_abundance``), when the package is importable;
* ``pydeseq2``: pseudobulk (per sample x type count sums), ``~condition``, Wald test; D's
  ``pseudobulk`` rows are that same peer, this one is called directly so that the peer runs
  without the library;
* ``wilcoxon_cells``: scanpy ``rank_genes_groups`` per type, test vs reference cells
  (cells as replicates: the pseudoreplication trap);
* ``augur_cells``: Augur-style cell-level classifier per type (logistic regression on the
  500 most variable genes, equal cells per condition, 5-fold CV over cells, AUROC);
* ``score_genes_ttest``: scanpy ``score_genes`` per program, mean per sample x type, Welch
  t-test across samples, BH over (type, program);
* abundance peers: ``chi2_cells`` (2x2 chi-square on pooled cell counts: cells as
  replicates) and ``ttest_props`` (Welch t-test on per-sample proportions), BH over types.

Metrics (calls = adj. p <= 0.05): realized FDR per design (mean false-discovery proportion
over seeds, genes of every type pooled; trap genes count as false), share of (null run,
cell type) with any discovery, share of trap genes called, AUPRC of DE genes and of DP + DM
genes (ranked by p-value; negatives: unchanged genes, traps included; the other kinds left
out), programs AUPRC and FDR over (type, program), Spearman between the type score and the
true share of changed genes and the rare type's rank, abundance (B called; FDR).

Run::

    python -m benchmarks.conditions                  # default: ~20-30 min on 2 cores
    python -m benchmarks.conditions --quick          # smallest case, < 1 min (smoke test)
    python -m benchmarks.conditions --designs 3 --seeds 1 --no-semi

Writes ``<out>/details.json`` (every figure, per dataset and aggregated),
``<out>/results.json`` (the harness's rows: DE and DP+DM AUPRC per signal design and
method, the consensus ``ours``, pydeseq2's pseudobulk the ``peer``) and
``<out>/results.md`` (the tables for benchmarks/LOG.md).
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse, stats

from benchmarks import harness
from benchmarks.harness import Measure, Stopwatch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "out" / "conditions"
ALPHA = 0.05
TEST, REF = "disease", "healthy"
KEYS = dict(label_key="cell_type", sample_key="sample", condition_key="condition")
TYPES = ("A", "B", "C", "R")  # R is the rare type
TYPE_SHARE = np.array([0.40, 0.30, 0.22, 0.08])
CHANGED_SHARE = {"A": 0.10, "B": 0.06, "C": 0.0, "R": 0.03}  # DE / DP / DM genes per type
KIND_SPLIT = {"DE": 0.5, "DP": 0.25, "DM": 0.25}
N_PROGRAMS, PROGRAM_SIZE, PROGRAM_GENE_SHARE = 8, 25, 0.7
ACTIVE_PROGRAMS = {"P0": "A", "P1": "A", "P2": "B", "P3": "R"}  # P4-P7 are decoys
ABUNDANCE_TYPE, ABUNDANCE_FC = "B", 2.0
N_TRAP, TRAP_FC = 10, 8.0


# ------------------------------------------------------------------ designs
@dataclass(frozen=True)
class Design:
    """One benchmark setting; ``seed`` makes it one replicate."""

    source: str  # synthetic | semi
    n_per_condition: int
    null: bool
    seed: int
    n_genes: int = 1000
    cells_per_sample: int = 600

    @property
    def name(self) -> str:
        kind = "null" if self.null else "signal"
        return f"{self.source}_{self.n_per_condition}v{self.n_per_condition}_{kind}"


# ------------------------------------------------------------------ truth and effects
def _draw_effects(rng, expressed: dict[str, np.ndarray], genes: pd.Index, null: bool):
    """The changes per type: truth table (cell_type, gene, kind, a, b) and gene sets.

    ``expressed[t]`` are the indices of genes expressed enough in type ``t`` to carry a
    change (a change nobody could see would only lower every method's recall alike).
    Program gene sets are drawn among genes expressed in every type, disjoint.
    """
    common = np.array(sorted(set.intersection(*(set(v) for v in expressed.values()))))
    size = min(PROGRAM_SIZE, len(common) // (3 * N_PROGRAMS))  # 25 a set at 1,000 genes
    chosen = rng.choice(common, N_PROGRAMS * size, replace=False)
    gene_sets = {
        f"P{k}": [str(genes[i]) for i in chosen[k * size : (k + 1) * size]]
        for k in range(N_PROGRAMS)
    }
    rows = []
    if null:
        return pd.DataFrame(rows, columns=["cell_type", "gene", "kind", "a", "b"]), gene_sets
    program_genes = set(chosen.tolist())
    for t in TYPES:
        taken = set(program_genes)
        for p, tt in ACTIVE_PROGRAMS.items():
            if tt != t:
                continue
            members = [genes.get_loc(g) for g in gene_sets[p]]
            moved = rng.choice(members, int(round(PROGRAM_GENE_SHARE * size)), False)
            for i in moved:
                rows.append((t, i, "program", rng.uniform(0.25, 0.45), 0.0))
        pool = np.array([i for i in expressed[t] if i not in taken])
        n_changed = int(round(CHANGED_SHARE[t] * len(genes)))
        n_kind = {k: int(round(v * n_changed)) for k, v in KIND_SPLIT.items()}
        picked = rng.choice(pool, sum(n_kind.values()) + N_TRAP, replace=False)
        k0 = 0
        for kind, n in n_kind.items():
            for i in picked[k0 : k0 + n]:
                if kind == "DE":
                    a = rng.uniform(0.6, 1.5) * rng.choice([-1, 1])  # log2 FC
                    rows.append((t, i, kind, a, 0.0))
                elif kind == "DP":
                    rows.append((t, i, kind, rng.uniform(1.5, 2.5), rng.uniform(0.15, 0.35)))
                else:  # DM: half the cells at (1 - d), half at (1 + d)
                    rows.append((t, i, kind, rng.uniform(0.6, 0.9), 0.5))
            k0 += n
        for i in picked[k0 : k0 + N_TRAP]:
            rows.append((t, i, "trap", np.log2(TRAP_FC), 0.0))
    truth = pd.DataFrame(rows, columns=["cell_type", "gene", "kind", "a", "b"])
    truth["gene"] = [str(genes[i]) for i in truth["gene"]]
    return truth, gene_sets


def _factors(
    truth_t: pd.DataFrame, genes: pd.Index, n_cells: int, in_test: bool, is_trap_sample: bool, rng
) -> np.ndarray:
    """Per cell x gene multiplicative factor on the expected counts of one sample x type."""
    f = np.ones((n_cells, len(genes)))
    if truth_t.empty:
        return f
    for row in truth_t.itertuples(index=False):
        j = genes.get_loc(row.gene)
        if row.kind == "trap":
            if is_trap_sample:
                f[:, j] = 2.0**row.a
            continue
        if not in_test:
            continue
        if row.kind in ("DE", "program"):
            f[:, j] = 2.0**row.a
        elif row.kind == "DP":
            on = rng.random(n_cells) < row.b
            f[on, j] = 2.0**row.a
        elif row.kind == "DM":
            hi = rng.random(n_cells) < 0.5
            f[:, j] = np.where(hi, 1 + row.a, 1 - row.a)
    return f


def _assign_conditions(n: int, null: bool, rng) -> list[str]:
    labels = np.array([TEST] * n + [REF] * n)
    if null:
        rng.shuffle(labels)  # labels at random across samples (all samples are alike)
    return list(labels)


def _finish(blocks, obs_rows, genes, truth, gene_sets, design, extra=None) -> tuple:
    counts = sparse.vstack(blocks).tocsr().astype(np.float32)
    obs = pd.DataFrame(obs_rows, columns=["cell_type", "sample", "condition"])
    obs.index = [f"c{i}" for i in range(len(obs))]
    for c in obs:
        obs[c] = pd.Categorical(obs[c])
    a = ad.AnnData(counts.copy(), obs=obs, var=pd.DataFrame(index=pd.Index(genes, dtype=str)))
    a.layers["counts"] = counts
    lib = np.asarray(counts.sum(1)).ravel()
    a.X = sparse.csr_matrix(counts.multiply(1e4 / np.maximum(lib, 1)[:, None]))
    a.X.data = np.log1p(a.X.data)
    a.X = a.X.astype(np.float32)
    info = dict(
        design=asdict(design),
        name=design.name,
        n_cells=int(a.n_obs),
        n_genes=int(a.n_vars),
        median_umis=float(np.median(lib)),
        cells_per_type=obs["cell_type"].value_counts().sort_index().to_dict(),
        **(extra or {}),
    )
    return a, truth, gene_sets, info


def simulate(design: Design):
    """Synthetic counts with ground truth (module docstring): (adata, truth, gene_sets, info)."""
    rng = np.random.default_rng(1000 + design.seed * 7 + design.n_per_condition)
    G = design.n_genes
    genes = pd.Index([f"g{i:04d}" for i in range(G)])
    base = rng.gamma(0.6, 1 / 0.3, G)
    outlier = rng.random(G) < 0.02  # a few highly expressed genes, as Splatter's outliers
    base[outlier] *= rng.lognormal(1.5, 0.5, int(outlier.sum()))
    prof = {}
    for t in TYPES:
        p = base.copy()
        markers = rng.choice(G, int(0.05 * G), replace=False)
        p[markers] *= 2 ** rng.uniform(1, 3, len(markers))
        prof[t] = p / p.sum()
    bcv = rng.uniform(0.2, 0.5, G)
    depth = 2000.0
    expressed = {t: np.flatnonzero(prof[t] * depth >= 0.2) for t in TYPES}
    truth, gene_sets = _draw_effects(rng, expressed, genes, design.null)
    n = design.n_per_condition
    conds = _assign_conditions(n, design.null, rng)
    test_samples = [s for s in range(2 * n) if conds[s] == TEST]
    trap_sample = test_samples[0]
    blocks, obs_rows = [], []
    for s in range(2 * n):
        shares = TYPE_SHARE.copy()
        if not design.null and conds[s] == TEST:
            shares[TYPES.index(ABUNDANCE_TYPE)] *= ABUNDANCE_FC
        shares = rng.dirichlet(100 * shares / shares.sum())
        n_cells = rng.multinomial(rng.poisson(design.cells_per_sample), shares)
        z_sample = rng.normal(0, 0.25, G)  # sample random effect on every type's means
        lib_sample = rng.normal(0, 0.2)
        for t, nc in zip(TYPES, n_cells, strict=True):
            if nc == 0:
                continue
            z = z_sample + rng.normal(0, 0.1, G)
            mean = prof[t] * np.exp(z - z.mean())
            mean = mean / mean.sum()
            lib = np.exp(rng.normal(np.log(depth) + lib_sample, 0.3, nc))
            f = _factors(
                truth[truth["cell_type"] == t],
                genes,
                nc,
                conds[s] == TEST,
                s == trap_sample,
                rng,
            )
            mu = lib[:, None] * mean[None, :] * f
            shape = 1 / bcv**2
            lam = mu * rng.gamma(shape[None, :], 1 / shape[None, :], (nc, G))
            blocks.append(sparse.csr_matrix(rng.poisson(lam)))
            obs_rows += [(t, f"s{s:02d}", conds[s])] * nc
    return _finish(blocks, obs_rows, list(genes), truth, gene_sets, design)


# ------------------------------------------------------------------ semi-synthetic
_REAL: dict = {}


def _real_cells():
    """celltypist's PBMC sample through benchmarks/datasets.py's loader, cells split in two."""
    if "x" not in _REAL:
        from benchmarks import datasets  # the loader and its Leiden labels

        a = datasets._pbmc()
        top = a.obs["leiden"].value_counts().index[:4]
        a = a[a.obs["leiden"].isin(top)].copy()
        X = sparse.csr_matrix(a.X).astype(np.int64)
        rng = np.random.default_rng(4242)
        half = X.copy()
        half.data = rng.binomial(X.data, 0.5)
        other = X - half
        both = sparse.vstack([half, other]).tocsr()
        labels = np.concatenate([a.obs["leiden"].astype(str).to_numpy()] * 2)
        _REAL["x"] = (both, labels, np.asarray(a.var_names))
    return _REAL["x"]


def _scale_counts(X: np.ndarray, factor: np.ndarray, expected: np.ndarray, rng) -> np.ndarray:
    """Counts times ``factor``: binomial thinning where it is < 1, added Poisson counts of
    ``(factor - 1) * expected`` where it is > 1."""
    out = X.copy()
    lo = factor < 1
    out[lo] = rng.binomial(X[lo], factor[lo])
    hi = factor > 1
    out[hi] = X[hi] + rng.poisson((factor[hi] - 1) * expected[hi])
    return out


def semi_synthetic(design: Design):
    """Real PBMC counts split into pseudo-samples with planted changes (module docstring)."""
    rng = np.random.default_rng(2000 + design.seed * 7 + design.n_per_condition)
    both, labels, all_genes = _real_cells()
    detected = np.asarray((both > 0).mean(0)).ravel() >= 0.02
    keep = rng.choice(np.flatnonzero(detected), min(design.n_genes, int(detected.sum())), False)
    keep.sort()
    X = both[:, keep].toarray()
    genes = pd.Index(all_genes[keep])
    real_types = pd.Series(labels).value_counts().index  # largest cluster -> A, smallest -> R
    type_of = dict(zip(real_types, TYPES, strict=True))
    lab = np.array([type_of[x] for x in labels])
    lib = X.sum(1)
    prof = {t: X[lab == t].sum(0) / X[lab == t].sum() for t in TYPES}
    expressed = {t: np.flatnonzero(prof[t] * np.median(lib) >= 0.2) for t in TYPES}
    truth, gene_sets = _draw_effects(rng, expressed, genes, design.null)
    truth = truth[truth["kind"] != "program"]  # programs and abundance: synthetic data only
    n = design.n_per_condition
    conds = _assign_conditions(n, design.null, rng)
    sample = rng.integers(0, 2 * n, len(lab))
    trap_sample = [s for s in range(2 * n) if conds[s] == TEST][0]
    blocks, obs_rows = [], []
    for s in range(2 * n):
        z = rng.normal(0, 0.25, len(genes))
        for t in TYPES:
            idx = np.flatnonzero((sample == s) & (lab == t))
            if idx.size == 0:
                continue
            f = (
                _factors(
                    truth[truth["cell_type"] == t],
                    genes,
                    idx.size,
                    conds[s] == TEST,
                    s == trap_sample,
                    rng,
                )
                * np.exp(z)[None, :]
            )
            expected = lib[idx, None] * prof[t][None, :]
            blocks.append(sparse.csr_matrix(_scale_counts(X[idx], f, expected, rng)))
            obs_rows += [(t, f"s{s:02d}", conds[s])] * idx.size
    extra = dict(
        source_cells="celltypist 10x PBMC sample, 4 largest Leiden clusters, split x2",
        types={v: k for k, v in type_of.items()},
    )
    return _finish(blocks, obs_rows, list(genes), truth, gene_sets, design, extra)


# ------------------------------------------------------------------ peers
def _bh(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    out = np.ones_like(p)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def pseudobulk_sums(a: ad.AnnData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sample|type x genes counts, meta) — the peer's own sums, independent of the library."""
    key = a.obs["sample"].astype(str) + "|" + a.obs["cell_type"].astype(str)
    codes, uniq = pd.factorize(key)
    ind = sparse.csr_matrix(
        (np.ones(a.n_obs), (codes, np.arange(a.n_obs))), shape=(len(uniq), a.n_obs)
    )
    sums = np.asarray((ind @ a.layers["counts"]).todense()).astype(np.int64)
    counts = pd.DataFrame(sums, index=uniq, columns=a.var_names)
    first = a.obs.groupby(key.to_numpy(), observed=True).first()
    n = key.value_counts()
    meta = first.loc[uniq, ["cell_type", "sample", "condition"]].astype(str)
    meta["n_cells"] = n.loc[uniq].to_numpy()
    return counts, meta


def peer_pydeseq2(a: ad.AnnData, min_cells: int = 10) -> pd.DataFrame:
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    counts, meta = pseudobulk_sums(a)
    inference = DefaultInference(n_cpus=1)
    out = []
    for t in TYPES:
        m = meta[(meta["cell_type"] == t) & (meta["n_cells"] >= min_cells)]
        if (m["condition"] == TEST).sum() < 2 or (m["condition"] == REF).sum() < 2:
            continue
        c = counts.loc[m.index]
        c = c.loc[:, c.sum(0) > 0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dds = DeseqDataSet(
                counts=c,
                metadata=m[["condition"]],
                design="~condition",
                inference=inference,
                quiet=True,
            )
            dds.deseq2()
            st = DeseqStats(dds, contrast=["condition", TEST, REF], inference=inference, quiet=True)
            st.summary()
        r = st.results_df
        out.append(
            pd.DataFrame(
                {
                    "cell_type": t,
                    "gene": r.index,
                    "log_fc": r["log2FoldChange"].to_numpy(),
                    "p_value": r["pvalue"].fillna(1.0).to_numpy(),
                    "adj_p_value": r["padj"].fillna(1.0).to_numpy(),
                    "method": "pydeseq2",
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def peer_wilcoxon(a: ad.AnnData) -> pd.DataFrame:
    import scanpy as sc

    out = []
    for t in TYPES:
        b = a[a.obs["cell_type"] == t]
        if (b.obs["condition"] == TEST).sum() < 3 or (b.obs["condition"] == REF).sum() < 3:
            continue
        b = b.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.tl.rank_genes_groups(
                b, "condition", groups=[TEST], reference=REF, method="wilcoxon", tie_correct=True
            )
        r = sc.get.rank_genes_groups_df(b, group=TEST)
        out.append(
            pd.DataFrame(
                {
                    "cell_type": t,
                    "gene": r["names"].astype(str).to_numpy(),
                    "log_fc": r["logfoldchanges"].to_numpy(),
                    "p_value": r["pvals"].to_numpy(),
                    "adj_p_value": r["pvals_adj"].to_numpy(),
                    "method": "wilcoxon_cells",
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def peer_augur(a: ad.AnnData, seed: int = 0, max_cells: int = 200, n_genes: int = 500):
    """Augur-style: cell-level cross-validated AUROC of a condition classifier per type."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(seed)
    rows = []
    for t in TYPES:
        b = a[a.obs["cell_type"] == t]
        y = (b.obs["condition"] == TEST).to_numpy()
        k = min(y.sum(), (~y).sum(), max_cells)
        if k < 10:
            continue
        idx = np.concatenate(
            [rng.choice(np.flatnonzero(y), k, False), rng.choice(np.flatnonzero(~y), k, False)]
        )
        x = b.X[idx].toarray()
        var = x.var(0)
        x = x[:, np.argsort(-var)[:n_genes]]
        x = (x - x.mean(0)) / (x.std(0) + 1e-6)
        cv = StratifiedKFold(5, shuffle=True, random_state=seed)
        prob = cross_val_predict(
            LogisticRegression(C=0.1, max_iter=500), x, y[idx], cv=cv, method="predict_proba"
        )[:, 1]
        rows.append((t, roc_auc_score(y[idx], prob), int(b.n_obs)))
    return pd.DataFrame(rows, columns=["cell_type", "score", "n_cells"]).assign(
        method="augur_cells"
    )


def program_activities(a: ad.AnnData, gene_sets: dict[str, list[str]], seed: int = 0):
    """scanpy score_genes per gene set: cells x programs (the activity both sides test)."""
    import scanpy as sc

    b = ad.AnnData(a.X, obs=a.obs[[]].copy(), var=a.var[[]].copy())
    acts = {}
    for p, gs in gene_sets.items():
        sc.tl.score_genes(b, gs, ctrl_size=50, score_name=p, random_state=seed)
        acts[p] = b.obs[p].to_numpy()
    return pd.DataFrame(acts, index=a.obs_names)


def peer_score_ttest(acts: pd.DataFrame, obs: pd.DataFrame) -> pd.DataFrame:
    df = acts.join(obs[["cell_type", "sample", "condition"]].astype(str))
    per = df.groupby(["cell_type", "sample", "condition"]).mean().reset_index()
    rows = []
    for t in TYPES:
        m = per[per["cell_type"] == t]
        for p in acts.columns:
            x = m.loc[m["condition"] == TEST, p]
            y = m.loc[m["condition"] == REF, p]
            res = stats.ttest_ind(x, y, equal_var=False)
            rows.append((t, p, x.mean() - y.mean(), res.statistic, res.pvalue))
    r = pd.DataFrame(rows, columns=["cell_type", "program", "effect", "stat", "p_value"])
    r["p_value"] = r["p_value"].fillna(1.0)
    r["adj_p_value"] = _bh(r["p_value"])
    return r.assign(method="score_genes_ttest")


def peer_abundance(obs: pd.DataFrame) -> pd.DataFrame:
    tab = pd.crosstab(obs["sample"].astype(str), obs["cell_type"].astype(str))
    cond = obs.groupby(obs["sample"].astype(str), observed=True)["condition"].first().astype(str)
    props = tab.div(tab.sum(1), axis=0)
    rows = []
    for t in TYPES:
        if t not in tab:
            continue
        is_t = tab[t]
        rest = tab.sum(1) - is_t
        ct = np.array(
            [
                [is_t[cond == TEST].sum(), rest[cond == TEST].sum()],
                [is_t[cond == REF].sum(), rest[cond == REF].sum()],
            ]
        )
        chi = stats.chi2_contingency(ct)
        lfc = np.log2((ct[0, 0] / ct[0].sum()) / max(ct[1, 0] / ct[1].sum(), 1e-9))
        rows.append((t, lfc, chi.pvalue, "chi2_cells"))
        x, y = props.loc[cond == TEST, t], props.loc[cond == REF, t]
        rows.append(
            (
                t,
                np.log2(x.mean() / max(y.mean(), 1e-9)),
                stats.ttest_ind(x, y, equal_var=False).pvalue,
                "ttest_props",
            )
        )
    r = pd.DataFrame(rows, columns=["cell_type", "log_fc", "p_value", "method"])
    r["adj_p_value"] = r.groupby("method")["p_value"].transform(
        lambda p: pd.Series(_bh(p), index=p.index)
    )
    return r


# ------------------------------------------------------------------ ours
def _ours():
    try:
        from scinterp.interpret import conditions
    except ImportError:
        return None
    need = (
        "ConditionsOptions",
        "test_genes",
        "test_programs",
        "test_celltypes",
        "test_abundance",
        "contrasts_of",
    )
    return conditions if all(hasattr(conditions, n) for n in need) else None


def run_ours(
    mod,
    a: ad.AnnData,
    acts: pd.DataFrame | None,
    seed: int,
    timings: dict,
    options: dict | None = None,
):
    """The library's four tests at its defaults (``options`` overrides some, by name)."""
    opts = mod.ConditionsOptions(seed=seed, **(options or {}))
    contrasts = mod.contrasts_of(a.obs, "condition", reference=REF)
    out = {}
    for name, call in (
        ("genes", lambda: mod.test_genes(a, contrasts=contrasts, options=opts, **KEYS)),
        ("celltypes", lambda: mod.test_celltypes(a, contrasts=contrasts, options=opts, **KEYS)),
        (
            "programs",
            lambda: (
                None
                if acts is None
                else mod.test_programs(acts, a.obs, contrasts=contrasts, options=opts, **KEYS)
            ),
        ),
        ("abundance", lambda: mod.test_abundance(a.obs, contrasts=contrasts, options=opts, **KEYS)),
    ):
        if acts is None and name in ("programs", "abundance"):
            continue  # semi-synthetic data: no programs, no abundance change planted
        sw = Stopwatch()
        try:
            out[name] = call()
        except Exception as e:  # a failing library function is a finding, not a crash
            out[name] = None
            out[f"{name}_error"] = f"{type(e).__name__}: {e}"[:500]
        timings[f"ours_{name}"] = round(sw.wall(), 2)
    return out


# ------------------------------------------------------------------ metrics
def _auprc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import average_precision_score

    if y.sum() == 0 or y.all():
        return None
    return float(average_precision_score(y, -np.log10(np.clip(p, 1e-300, 1))))


def gene_metrics(res: pd.DataFrame, truth: pd.DataFrame, genes, null: bool) -> dict:
    """FDR, null discoveries, trap calls and AUPRCs of one method's gene table."""
    grid = pd.MultiIndex.from_product([TYPES, list(genes)], names=["cell_type", "gene"])
    r = res.assign(cell_type=res["cell_type"].astype(str), gene=res["gene"].astype(str))
    r = r.drop_duplicates(["cell_type", "gene"]).set_index(["cell_type", "gene"])
    p = r["p_value"].reindex(grid).fillna(1.0).to_numpy(dtype=float)
    q = r["adj_p_value"].reindex(grid).fillna(1.0).to_numpy(dtype=float)
    kind = truth.set_index(["cell_type", "gene"])["kind"].reindex(grid).fillna("none").to_numpy()
    called = q <= ALPHA
    true = np.isin(kind, ["DE", "DP", "DM", "program"])
    n_called = int(called.sum())
    m = {"n_called": n_called, "fdp": float((called & ~true).sum() / max(n_called, 1))}
    ct = pd.Series(called, index=grid).groupby(level=0).any()
    m["types_with_discovery"] = {t: bool(ct.get(t, False)) for t in TYPES}
    if not null:
        trap = kind == "trap"
        m["trap_called"] = float(called[trap].mean()) if trap.any() else None
        neg = np.isin(kind, ["none", "trap"])
        for label, kinds in (
            ("de", ["DE"]),
            ("dp_dm", ["DP", "DM"]),
            ("dp", ["DP"]),
            ("dm", ["DM"]),
        ):
            sel = neg | np.isin(kind, kinds)
            m[f"auprc_{label}"] = _auprc(np.isin(kind[sel], kinds), p[sel])
        for k in ("DE", "DP", "DM", "program"):
            sel = kind == k
            m[f"power_{k}"] = float(called[sel].mean()) if sel.any() else None
    return m


def program_metrics(res: pd.DataFrame, null: bool) -> dict:
    r = res.assign(cell_type=res["cell_type"].astype(str), program=res["program"].astype(str))
    active = {(t, p) for p, t in ACTIVE_PROGRAMS.items()} if not null else set()
    y = np.array([(t, p) in active for t, p in zip(r["cell_type"], r["program"], strict=True)])
    called = r["adj_p_value"].to_numpy(dtype=float) <= ALPHA
    m = {
        "n_called": int(called.sum()),
        "fdp": float((called & ~y).sum() / max(called.sum(), 1)),
        "types_with_discovery": r.assign(c=called).groupby("cell_type")["c"].any().to_dict(),
    }
    if not null:
        m["auprc"] = _auprc(y, r["p_value"].fillna(1.0).to_numpy(dtype=float))
        m["power"] = float(called[y].mean()) if y.any() else None
    return m


def true_share(truth: pd.DataFrame, n_genes: int) -> dict:
    t = truth[truth["kind"].isin(["DE", "DP", "DM", "program"])]
    return {x: float((t["cell_type"] == x).sum() / n_genes) for x in TYPES}


def type_metrics(res: pd.DataFrame, truth: pd.DataFrame, n_genes: int, null: bool) -> dict:
    r = res.assign(cell_type=res["cell_type"].astype(str)).drop_duplicates("cell_type")
    s = r.set_index("cell_type")["score"].reindex(list(TYPES)).astype(float)
    m = {"scores": {t: None if np.isnan(v) else round(float(v), 4) for t, v in s.items()}}
    if "adj_p_value" in r:
        q = r.set_index("cell_type")["adj_p_value"].reindex(list(TYPES)).astype(float)
        m["called"] = {t: bool(v <= ALPHA) for t, v in q.items()}
    if not null:
        share = pd.Series(true_share(truth, n_genes))
        ok = s.notna()
        m["spearman"] = float(stats.spearmanr(s[ok], share[ok]).statistic) if ok.sum() > 2 else None
        rank = s.rank(ascending=False)
        m["rare_rank"] = None if np.isnan(rank["R"]) else int(rank["R"])
        m["rare_true_rank"] = int(share.rank(ascending=False, method="min")["R"])
    return m


def abundance_metrics(res: pd.DataFrame, null: bool) -> dict:
    r = res.assign(cell_type=res["cell_type"].astype(str))
    called = set(r.loc[r["adj_p_value"].astype(float) <= ALPHA, "cell_type"])
    truth = set() if null else {ABUNDANCE_TYPE}
    return {
        "found": (ABUNDANCE_TYPE in called) if not null else None,
        "false_calls": sorted(called - truth),
        "fdp": len(called - truth) / max(len(called), 1),
    }


# ------------------------------------------------------------------ one dataset
def run_design(
    design: Design,
    mod,
    peers: bool = True,
    direct_peer: bool = False,
    tables: Path | None = None,
    options: dict | None = None,
) -> dict:
    """Simulate one dataset, run ours and the peers on it, score them against the truth.

    The pseudobulk pydeseq2 peer is the library's own ``pseudobulk`` rows when it returns
    them (the same test, not run twice); ``direct_peer`` runs pydeseq2 here as well.
    ``tables``: a folder to keep every method's gene table in (csv.gz), for diagnosis.
    """
    sw = Stopwatch()
    make = simulate if design.source == "synthetic" else semi_synthetic
    a, truth, gene_sets, info = make(design)
    timings = {"simulate": round(sw.wall(), 2)}
    out = {
        "info": info,
        "genes": {},
        "programs": {},
        "celltypes": {},
        "abundance": {},
        "errors": {},
    }
    genes = a.var_names
    synthetic = design.source == "synthetic"
    tag = f"{design.name}_seed{design.seed}"

    def timed(name, f):
        t = Stopwatch()
        r = f()
        timings[name] = round(t.wall(), 2)
        return r

    def keep(name, df):
        if tables is not None and df is not None:
            tables.mkdir(parents=True, exist_ok=True)
            df.to_csv(tables / f"{tag}_{name}.csv.gz", index=False)

    if tables is not None:
        keep("truth", truth)
    acts = (
        timed("score_genes", lambda: program_activities(a, gene_sets, design.seed))
        if synthetic
        else None
    )
    if mod is not None:
        ours = run_ours(mod, a, acts, design.seed, timings, options)
        for k, v in ours.items():
            if k.endswith("_error"):
                out["errors"][k] = v
        if ours.get("genes") is not None:
            keep("ours_genes", ours["genes"])
            for meth, sub in ours["genes"].groupby("method"):
                out["genes"][f"ours_{meth}"] = gene_metrics(sub, truth, genes, design.null)
        if ours.get("celltypes") is not None:
            keep("ours_celltypes", ours["celltypes"])
            out["celltypes"]["ours"] = type_metrics(ours["celltypes"], truth, a.n_vars, design.null)
        if ours.get("programs") is not None:
            keep("ours_programs", ours["programs"])
            for meth, sub in ours["programs"].groupby("method"):
                out["programs"][f"ours_{meth}"] = program_metrics(sub, design.null)
        if synthetic and ours.get("abundance") is not None:
            keep("ours_abundance", ours["abundance"])
            for meth, sub in ours["abundance"].groupby("method"):
                out["abundance"][f"ours_{meth}"] = abundance_metrics(sub, design.null)
    if peers:
        if direct_peer or "ours_pseudobulk" not in out["genes"]:
            g = timed("pydeseq2", lambda: peer_pydeseq2(a))
            keep("pydeseq2", g)
            out["genes"]["pydeseq2"] = gene_metrics(g, truth, genes, design.null)
        w = timed("wilcoxon_cells", lambda: peer_wilcoxon(a))
        out["genes"]["wilcoxon_cells"] = gene_metrics(w, truth, genes, design.null)
        aug = timed("augur_cells", lambda: peer_augur(a, design.seed))
        keep("augur_cells", aug)
        out["celltypes"]["augur_cells"] = type_metrics(aug, truth, a.n_vars, design.null)
        if synthetic:
            pr = timed("score_genes_ttest", lambda: peer_score_ttest(acts, a.obs))
            keep("score_genes_ttest", pr)
            out["programs"]["score_genes_ttest"] = program_metrics(pr, design.null)
            ab = peer_abundance(a.obs)
            for meth, sub in ab.groupby("method"):
                out["abundance"][meth] = abundance_metrics(sub, design.null)
    out["true_share"] = true_share(truth, a.n_vars)
    out["timings_s"] = timings
    out["seconds"] = round(sw.wall(), 1)
    return out


# ------------------------------------------------------------------ aggregation
def _mean(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and np.isnan(x))]
    return None if not xs else float(np.mean(xs))


def aggregate(runs: list[dict]) -> dict:
    """Per design name (seeds pooled) and method: the figures the targets are about."""
    by = {}
    for r in runs:
        by.setdefault(r["info"]["name"], []).append(r)
    agg = {}
    for name, rs in by.items():
        d = {"n_seeds": len(rs)}
        for section in ("genes", "programs"):
            d[section] = {}
            for meth in sorted({m for r in rs for m in r[section]}):
                ms = [r[section][meth] for r in rs if meth in r[section]]
                e = {
                    "fdr": _mean([m["fdp"] for m in ms]),
                    "n_called": _mean([m["n_called"] for m in ms]),
                    "runs_types_with_discovery": _mean(
                        [float(v) for m in ms for v in m["types_with_discovery"].values()]
                    ),
                }
                for k in ms[0]:
                    if k.startswith(("auprc", "power", "trap")):
                        e[k] = _mean([m.get(k) for m in ms])
                d[section][meth] = e
        d["celltypes"] = {}
        for meth in sorted({m for r in rs for m in r["celltypes"]}):
            ms = [r["celltypes"][meth] for r in rs if meth in r["celltypes"]]
            e = {
                "spearman": _mean([m.get("spearman") for m in ms]),
                "rare_rank": [m.get("rare_rank") for m in ms],
                "rare_true_rank": ms[0].get("rare_true_rank"),
                "mean_score": {t: _mean([m["scores"][t] for m in ms]) for t in TYPES},
            }
            if "called" in ms[0]:
                e["types_called"] = _mean([float(v) for m in ms for v in m["called"].values()])
            d["celltypes"][meth] = e
        d["abundance"] = {}
        for meth in sorted({m for r in rs for m in r["abundance"]}):
            ms = [r["abundance"][meth] for r in rs if meth in r["abundance"]]
            d["abundance"][meth] = {
                "found": _mean([None if m["found"] is None else float(m["found"]) for m in ms]),
                "fdr": _mean([m["fdp"] for m in ms]),
                "false_calls": [m["false_calls"] for m in ms],
            }
        d["seconds"] = _mean([r["seconds"] for r in rs])
        d["errors"] = sorted({v for r in rs for v in r["errors"].values()})
        agg[name] = d
    return agg


def _f(x, nd=3):
    return "–" if x is None else f"{x:.{nd}f}"


def _ours_of(section: dict, prefer: str | None = None) -> str | None:
    names = [m for m in section if m.startswith("ours_")]
    if prefer and f"ours_{prefer}" in section:
        return f"ours_{prefer}"
    return names[0] if names else None


def targets(agg: dict) -> list[dict]:
    """Every target of the issue, per design: value, threshold, met (None: not measured)."""
    rows = []

    def add(target, design, method, value, limit, met):
        if value is not None and limit is not None and not met:
            # figures equal to the limit up to float rounding (a Spearman of 0.8) meet it
            lower_is_better = "<=" in target or "ranked up" in target
            met = bool(value <= limit + 1e-9) if lower_is_better else bool(value >= limit - 1e-9)
        rows.append(
            dict(target=target, design=design, method=method, value=value, limit=limit, met=met)
        )

    for name, d in agg.items():
        g = d["genes"]
        ours = _ours_of(g, "consensus")
        peer = "ours_pseudobulk" if "ours_pseudobulk" in g else "pydeseq2"
        n = int(name.split("_")[1].split("v")[0])
        for meth in [m for m in (ours, peer) if m]:
            e = g[meth]
            if name.endswith("null"):
                v = e["runs_types_with_discovery"]
                add(
                    "null: share of (run, type) with any call <= 0.05",
                    name,
                    meth,
                    v,
                    0.05,
                    v <= 0.05,
                )
                continue
            add("realized FDR <= 0.05", name, meth, e["fdr"], 0.05, e["fdr"] <= 0.05)
            add(
                "trap genes called <= 0.05",
                name,
                meth,
                e["trap_called"],
                0.05,
                e["trap_called"] is not None and e["trap_called"] <= 0.05,
            )
        if ours and peer in g and not name.endswith("null"):
            de, pde = g[ours]["auprc_de"], g[peer]["auprc_de"]
            add("DE AUPRC >= pydeseq2 - 0.02", name, ours, de, pde - 0.02, de >= pde - 0.02)
            if n >= 5:
                x, px = g[ours]["auprc_dp_dm"], g[peer]["auprc_dp_dm"]
                add("DP+DM AUPRC >= pydeseq2 + 0.10", name, ours, x, px + 0.10, x >= px + 0.10)
        p = d["programs"]
        po = _ours_of(p)
        if po and name == "synthetic_5v5_signal":
            e, pe = p[po], p.get("score_genes_ttest", {})
            add("programs AUPRC >= 0.9 at 5 vs 5", name, po, e["auprc"], 0.9, e["auprc"] >= 0.9)
            add("programs FDR <= 0.05 at 5 vs 5", name, po, e["fdr"], 0.05, e["fdr"] <= 0.05)
            if pe:
                add(
                    "programs AUPRC >= score_genes + t-test",
                    name,
                    po,
                    e["auprc"],
                    pe["auprc"],
                    e["auprc"] >= pe["auprc"],
                )
        c = d["celltypes"].get("ours")
        if c and not name.endswith("null"):
            add(
                "responding types Spearman >= 0.8",
                name,
                "ours",
                c["spearman"],
                0.8,
                c["spearman"] is not None and c["spearman"] >= 0.8,
            )
            ranks = [r for r in c["rare_rank"] if r is not None]
            up = sum(r < c["rare_true_rank"] for r in ranks)
            add(
                "rare type not ranked above its true rank (runs ranked up)",
                name,
                "ours",
                up,
                0,
                up == 0,
            )
        ab = _ours_of(d["abundance"])
        if ab:
            e = d["abundance"][ab]
            if e["found"] is not None:
                add("abundance: changed type found", name, ab, e["found"], 1.0, e["found"] == 1.0)
            add("abundance FDR <= 0.05", name, ab, e["fdr"], 0.05, e["fdr"] <= 0.05)
    return rows


def markdown(agg: dict) -> str:
    lines = [
        "### Genes (calls: adj. p <= 0.05; FDR = mean false-discovery proportion over seeds)",
        "",
        "| design | method | realized FDR | calls/run | null: share of types with any "
        "call | trap called | AUPRC DE | AUPRC DP+DM | AUPRC DP | AUPRC DM |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, d in agg.items():
        for meth, e in d["genes"].items():
            null = name.endswith("null")
            lines.append(
                f"| {name} (n={d['n_seeds']}) | {meth} | {_f(e['fdr'])} | {_f(e['n_called'], 0)} "
                f"| {_f(e['runs_types_with_discovery']) if null else ''} "
                f"| {_f(e.get('trap_called'))} | {_f(e.get('auprc_de'))} "
                f"| {_f(e.get('auprc_dp_dm'))} | {_f(e.get('auprc_dp'))} | {_f(e.get('auprc_dm'))} |"
            )
    lines += [
        "",
        "### Programs ((type, program) pairs: 4 active of 32)",
        "",
        "| design | method | AUPRC | FDR | power | null: share of types with any call |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, d in agg.items():
        for meth, e in d["programs"].items():
            lines.append(
                f"| {name} | {meth} | {_f(e.get('auprc'))} | {_f(e['fdr'])} "
                f"| {_f(e.get('power'))} | "
                f"{_f(e['runs_types_with_discovery']) if name.endswith('null') else ''} |"
            )
    lines += [
        "",
        "### Responding cell types (true share of changed genes A > B > R > C; R is rare)",
        "",
        "| design | method | Spearman | rare type's rank (true rank) | mean score A / B / C / R "
        "| share of types called |",
        "| --- | --- | ---: | --- | --- | ---: |",
    ]
    for name, d in agg.items():
        for meth, e in d["celltypes"].items():
            sc = " / ".join(_f(e["mean_score"][t], 2) for t in TYPES)
            lines.append(
                f"| {name} | {meth} | {_f(e['spearman'], 2)} | {e['rare_rank']} "
                f"({e['rare_true_rank']}) | {sc} | {_f(e.get('types_called'), 2)} |"
            )
    lines += [
        "",
        "### Abundance (type B x2 in the test condition)",
        "",
        "| design | method | B found (share of runs) | FDR | false calls per run |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for name, d in agg.items():
        for meth, e in d["abundance"].items():
            lines.append(
                f"| {name} | {meth} | {_f(e['found'], 2)} | {_f(e['fdr'], 2)} "
                f"| {e['false_calls']} |"
            )
    tg = targets(agg)
    if tg:
        lines += [
            "",
            "### Targets",
            "",
            "| target | design | method | value | limit | met |",
            "| --- | --- | --- | ---: | ---: | --- |",
        ]
        for t in tg:
            lines.append(
                f"| {t['target']} | {t['design']} | {t['method']} | {_f(t['value'])} "
                f"| {_f(t['limit'])} | {'yes' if t['met'] else 'NO'} |"
            )
    errs = {n: d["errors"] for n, d in agg.items() if d["errors"]}
    if errs:
        lines += ["", "### Errors from the library", ""]
        lines += [f"- {n}: {e}" for n, es in errs.items() for e in es]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main
def designs_for(args) -> list[Design]:
    if args.quick:
        return [
            Design("synthetic", 3, False, 0, n_genes=200, cells_per_sample=250),
            Design("semi", 3, True, 0, n_genes=200),
        ]
    # more null replicates than signal ones: "<= 5% of (run, type) with a discovery" needs
    # about 20 (run, type) pairs per design to be told from 10%
    out = []
    for n in [] if args.no_synthetic else args.designs:
        out += [Design("synthetic", n, False, s, args.genes, args.cells) for s in range(args.seeds)]
        out += [
            Design("synthetic", n, True, s, args.genes, args.cells) for s in range(args.null_seeds)
        ]
    if not args.no_semi:
        for n in args.semi_designs:
            out += [Design("semi", n, False, s, args.semi_genes) for s in range(args.semi_seeds)]
            out += [
                Design("semi", n, True, s, args.semi_genes) for s in range(args.semi_null_seeds)
            ]
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--quick", action="store_true", help="smallest case (smoke test, < 1 min)")
    ap.add_argument("--smoke", dest="quick", action="store_true", help="the same as --quick")
    ap.add_argument(
        "--designs",
        type=int,
        nargs="+",
        default=[3, 5, 10],
        help="samples per condition (synthetic)",
    )
    ap.add_argument("--seeds", type=int, default=3, help="replicates per signal design")
    ap.add_argument("--null-seeds", type=int, default=6, help="replicates per null design")
    ap.add_argument("--genes", type=int, default=1000)
    ap.add_argument("--cells", type=int, default=600, help="cells per sample (all types)")
    ap.add_argument("--no-semi", action="store_true")
    ap.add_argument("--no-synthetic", action="store_true", help="semi-synthetic designs only")
    ap.add_argument("--semi-designs", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--semi-seeds", type=int, default=2)
    ap.add_argument("--semi-null-seeds", type=int, default=4)
    ap.add_argument("--semi-genes", type=int, default=1500)
    ap.add_argument("--no-ours", action="store_true", help="peers only")
    ap.add_argument(
        "--option",
        action="append",
        default=[],
        help="key=value (JSON value) for ConditionsOptions, e.g. n_permutations=50; repeatable",
    )
    ap.add_argument(
        "--direct-peer",
        action="store_true",
        help="run pydeseq2 here even when the library returns its pseudobulk rows",
    )
    args = ap.parse_args(argv)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(v, "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mod = None if args.no_ours else _ours()
    options = {}
    for kv in args.option:
        k, v = kv.split("=", 1)
        options[k] = json.loads(v)
    if args.quick and mod is not None:
        # the smoke test's smallest case: fewer permutations than a user's run
        fields = getattr(mod.ConditionsOptions, "__dataclass_fields__", {})
        if "n_permutations" in fields:
            options.setdefault("n_permutations", 20)
    print(
        f"ours: {'scinterp.interpret.conditions' if mod else 'not available (peers only)'}",
        flush=True,
    )
    sw = Stopwatch()
    runs = []
    log = out / "runs.jsonl"  # one line per dataset as it finishes (kept if the run stops)
    log.write_text("")
    for d in designs_for(args):
        r = run_design(d, mod, direct_peer=args.direct_peer, tables=out / "tables", options=options)
        runs.append(r)
        with log.open("a") as fh:
            fh.write(json.dumps(r, default=str) + "\n")
        g = r["genes"]
        brief = ", ".join(f"{k} FDP {v['fdp']:.2f} ({v['n_called']})" for k, v in g.items())
        print(f"{d.name} seed {d.seed}: {r['seconds']} s; {brief}", flush=True)
    agg = aggregate(runs)
    result = {
        "args": vars(args),
        "options": options,
        "ours": mod is not None,
        "library": getattr(mod, "__file__", None),
        "seconds": round(sw.wall(), 1),
        "aggregate": agg,
        "targets": targets(agg),
        "runs": runs,
    }
    (out / "details.json").write_text(json.dumps(result, indent=1, default=str))
    harness.write_results(result_rows(agg, args), out)
    (out / "results.md").write_text(markdown(agg))
    print(markdown(agg))
    print(f"total {result['seconds']} s; wrote {out / 'details.json'} and {out / 'results.json'}")
    return result


# ours (the consensus) against the pseudobulk pydeseq2 run the library returns, or the
# benchmark's own pydeseq2 call: the headline's pair; other methods get rows without a role
ROLES = {"ours_consensus": "ours", "ours_pseudobulk": "peer", "pydeseq2": "peer"}


def result_rows(agg: dict, args) -> list[dict]:
    """The signal designs' gene figures as the harness's rows (``conditions`` in the
    headline): DE AUPRC and DP+DM AUPRC per design and method, seeds pooled; each
    design's mean wall seconds per run beside it."""
    rows = []
    for name, d in agg.items():
        source, design, kind = name.split("_")
        if kind != "signal":
            continue
        n = design.split("v")[0]
        dataset = f"{'semi-synthetic' if source == 'semi' else source} {n} vs {n}"
        case = f"{d['n_seeds']} signal seed(s)" + (", --quick" if args.quick else "")
        measure = None if d["seconds"] is None else Measure(d["seconds"], None, None)
        for meth, e in d["genes"].items():
            method = "pydeseq2_pseudobulk" if meth in ("ours_pseudobulk", "pydeseq2") else meth
            method = method.removeprefix("ours_")
            for metric in ("auprc_de", "auprc_dp_dm"):
                if e.get(metric) is not None:
                    rows.append(harness.row(
                        "conditions", case, dataset, method, metric, e[metric], measure,
                        role=ROLES.get(meth),
                    ))  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
