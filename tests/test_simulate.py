"""Tests of the demo data generator: layout, QC artefacts and the planted biology."""

from __future__ import annotations

import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scinterp import simulate

SMALL = dict(n_cells=600, n_genes=1000, n_peaks=400, chrom_length=150_000)
TABLES = ("markers", "programs", "grn", "motifs", "motif_sites", "peaks")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    paths = simulate.write_demo(out, seed=0, **SMALL)
    return out, paths


@pytest.fixture(scope="module")
def rna(demo):
    return ad.read_h5ad(demo[1]["rna"])


@pytest.fixture(scope="module")
def atac(demo):
    return ad.read_h5ad(demo[1]["atac"])


@pytest.fixture(scope="module")
def truth(demo):
    return {k: pd.read_csv(demo[1][k], sep="\t") for k in TABLES}


def _dense(x):
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def test_layout_and_columns(demo, rna, atac, truth):
    out, paths = demo
    assert all(p.is_file() for p in paths.values())
    assert not [p for p in out.rglob(".*")], "temporary files left behind"
    assert list(truth["markers"].columns) == ["cell_type", "gene"]
    assert list(truth["programs"].columns[:4]) == ["program", "cell_type", "active", "decoy"]
    assert list(truth["grn"].columns[:3]) == ["tf", "target", "sign"]
    assert list(truth["motifs"].columns[:3]) == ["cell_type", "motif_id", "tf"]

    assert rna.shape == (600, 1000) and sp.issparse(rna.X) and rna.X.format == "csr"
    assert rna.obs_names.is_unique and rna.var_names.is_unique
    assert {"cell_type", "batch", "quality"} <= set(rna.obs.columns)
    assert set(rna.obs["cell_type"]) == set(simulate.CELL_TYPES)
    assert set(rna.obs["batch"]) == {"batch1", "batch2"}
    x = rna.X.data
    assert np.all(x == np.round(x)) and x.min() >= 0

    genes = set(rna.var_names)
    assert sum(g.startswith("MT-") for g in genes) == 13
    assert sum(re.fullmatch(r"RP[SL]\d+[AX]?", g) is not None for g in genes) == 40
    tfs = paths["tfs"].read_text().split()
    assert set(tfs) <= genes and set(truth["grn"]["tf"]) < set(tfs)  # some TFs regulate nothing
    assert set(truth["grn"]["target"]).isdisjoint(truth["markers"]["gene"])
    assert set(truth["motifs"]["tf"]) <= set(tfs)
    assert set(truth["markers"]["gene"]) <= genes

    good = rna.obs_names[rna.obs["quality"] == "good"]
    assert list(atac.obs_names) == list(good)
    assert (atac.obs["cell_type"].astype(str) == rna.obs.loc[good, "cell_type"].astype(str)).all()
    assert sp.issparse(atac.X) and set(np.unique(atac.X.data)) == {1.0}
    var = atac.var
    assert (var["end"] - var["start"] == 500).all()
    assert list(atac.var_names) == [
        f"{c}:{s}-{e}" for c, s, e in var[["chrom", "start", "end"]].values
    ]
    for _, v in var.groupby("chrom", observed=True):
        assert (v["start"].to_numpy()[1:] >= v["end"].to_numpy()[:-1]).all(), "peaks overlap"


def test_gene_sets_match_program_truth(demo, rna, truth):
    gmt = {}
    for line in demo[1]["gene_sets"].read_text().splitlines():
        name, _desc, *genes = line.split("\t")
        gmt[name] = genes
    progs = truth["programs"]
    assert set(gmt) == set(progs["program"])
    assert len(progs) == len(gmt) * len(simulate.CELL_TYPES)
    per = progs.groupby("program").agg(n_active=("active", "sum"), decoy=("decoy", "first"))
    assert (per.loc[per["decoy"], "n_active"] == 0).all() and per["decoy"].sum() == 6
    assert per.loc[~per["decoy"], "n_active"].between(1, 2).all() and (~per["decoy"]).sum() == 8
    assert all(set(g) <= set(rna.var_names) and 20 <= len(g) <= 40 for g in gmt.values())

    # Pseudobulk: a program's genes are up where it is active, decoys show nothing.
    good = rna[rna.obs["quality"] == "good"]
    x = _dense(good.X)
    x = np.log1p(x / x.sum(1, keepdims=True) * 1e4)
    frame = pd.DataFrame(x, columns=good.var_names)
    for name, genes in gmt.items():
        score = frame[genes].mean(1).groupby(good.obs["cell_type"].to_numpy()).mean()
        active = progs[(progs["program"] == name) & progs["active"]]["cell_type"]
        if per.loc[name, "decoy"]:
            assert score.max() - score.min() < 0.3, name
        else:
            assert score[active].min() > score.drop(active).max() + 0.3, name


def test_quality_artefacts(rna):
    x = _dense(rna.X)
    total = x.sum(1)
    mito = x[:, rna.var_names.str.startswith("MT-")].sum(1) / total * 100
    n_genes = (x > 0).sum(1)
    q = rna.obs["quality"].to_numpy()
    good, low, dbl = (q == "good"), (q == "low_quality"), (q == "doublet")
    assert low.mean() == pytest.approx(0.06, abs=0.01) and dbl.mean() == pytest.approx(
        0.06, abs=0.01
    )
    assert 2500 < np.median(total[good]) < 6000
    assert np.percentile(mito[good], 95) < 10 and np.percentile(mito[good], 5) > 1.5
    assert np.percentile(mito[low], 5) > 15 and np.median(mito[low]) > 5 * np.median(mito[good])
    assert np.median(total[low]) < 0.3 * np.median(total[good])
    assert np.median(n_genes[low]) < 0.5 * np.median(n_genes[good])
    assert np.median(total[dbl]) > 1.6 * np.median(total[good])
    parents = rna.obs.loc[dbl, "doublet_of"].str.split("+")
    assert all(len(p) == 2 and p[0] != p[1] for p in parents)


def test_wilcoxon_recovers_markers(rna, truth):
    sc = pytest.importorskip("scanpy")
    good = rna[rna.obs["quality"] == "good"].copy()
    sc.pp.normalize_total(good, target_sum=1e4)
    sc.pp.log1p(good)
    sc.tl.rank_genes_groups(good, "cell_type", method="wilcoxon", n_genes=20)
    top = pd.DataFrame(good.uns["rank_genes_groups"]["names"])
    recall = {
        t: np.isin(g["gene"], top[t]).mean() for t, g in truth["markers"].groupby("cell_type")
    }
    assert min(recall.values()) >= 0.6, recall
    assert np.mean(list(recall.values())) >= 0.8, recall


def test_batch_effect_is_real(rna):
    good = rna[(rna.obs["quality"] == "good") & (rna.obs["cell_type"] == "T cell")]
    x = _dense(good.X)
    x = x / x.sum(1, keepdims=True) * 1e4
    expressed = x.mean(0) > 1.0
    b = (good.obs["batch"] == "batch2").to_numpy()

    def spread(mask):
        return np.std(np.log(x[mask][:, expressed].mean(0) / x[~mask][:, expressed].mean(0)))

    perm = np.random.default_rng(0).permutation(b)
    assert spread(b) > 0.2 and spread(b) > 1.5 * spread(perm)


def test_targets_covary_with_tf_within_type(rna, truth):
    good = rna[rna.obs["quality"] == "good"]
    x = _dense(good.X)
    x = pd.DataFrame(np.log1p(x / x.sum(1, keepdims=True) * 1e4), columns=good.var_names)
    types = good.obs["cell_type"].to_numpy()
    rng = np.random.default_rng(0)
    edge_r, random_r = [], []
    for t in simulate.CELL_TYPES:
        xt = x[types == t]
        xt = xt.loc[:, xt.std() > 0]
        r = np.corrcoef(xt.to_numpy().T)
        idx = {g: i for i, g in enumerate(xt.columns)}
        edges = truth["grn"][truth["grn"]["tf"].isin(idx) & truth["grn"]["target"].isin(idx)]
        edge_r += [s * r[idx[a], idx[b]] for a, b, s in edges[["tf", "target", "sign"]].values]
        pairs = rng.integers(0, len(idx), size=(500, 2))
        random_r += [r[i, j] for i, j in pairs if i != j]
    assert np.mean(edge_r) > np.mean(random_r) + 0.08
    assert np.mean(np.array(edge_r) > 0) > 0.75


def _log_odds(pfm):
    prob = (pfm + 0.5) / (pfm + 0.5).sum(1, keepdims=True)
    gc = simulate.GC_CONTENT
    bg = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    return np.log2(prob / bg)


def _best_scores(seqs, lo):
    """Best relative PWM score over both strands of each sequence."""
    code = {b: i for i, b in enumerate("ACGT")}
    w = len(lo)
    lo_rc = lo[::-1, ::-1]
    lo_min, lo_max = lo.min(1).sum(), lo.max(1).sum()
    out = []
    for s in seqs:
        c = np.array([code.get(b, -1) for b in s])
        win = np.lib.stride_tricks.sliding_window_view(c, w)
        win = win[(win >= 0).all(1)]
        cols = np.arange(w)
        best = max(lo[cols, win].sum(1).max(), lo_rc[cols, win].sum(1).max())
        out.append((best - lo_min) / (lo_max - lo_min))
    return np.array(out)


def test_planted_motifs_in_genome(demo, atac, truth):
    pyfaidx = pytest.importorskip("pyfaidx")
    fa = pyfaidx.Fasta(str(demo[1]["genome"]))
    seqs = {p: str(fa[c][s:e]) for p, c, s, e in atac.var[["chrom", "start", "end"]].itertuples()}
    assert all("N" not in s and s.isupper() for s in seqs.values())
    assert sum(str(fa[c][:]).count("N") for c in fa.keys()) > 10_000  # N runs exist
    sites = truth["motif_sites"]
    assert (sites.groupby("peak").size().between(1, 3)).all()
    assert all(
        str(fa[c][s:e]) == q for c, s, e, q in sites[["chrom", "start", "end", "sequence"]].values
    )

    groups = truth["peaks"].set_index("peak")["group"]
    for t, motif_id, tf in truth["motifs"][["cell_type", "motif_id", "tf"]].values:
        name, pfm = simulate.load_jaspar_matrix(motif_id)
        assert name.upper() == tf
        lo = _log_odds(pfm)
        planted = sites[sites["motif_id"] == motif_id]
        assert np.median(_best_scores(planted["sequence"], lo)) > 0.8
        assert set(planted["peak"]) == set(groups.index[groups == t])
        hit_in = _best_scores([seqs[p] for p in groups.index[groups == t]], lo) > 0.85
        hit_bg = _best_scores([seqs[p] for p in groups.index[groups == "background"]], lo) > 0.85
        assert hit_in.mean() > 0.8 and hit_in.mean() > 1.5 * hit_bg.mean(), (tf, hit_bg.mean())


def test_atac_type_specific_peaks(atac, truth):
    groups = truth["peaks"].set_index("peak").loc[atac.var_names, "group"].to_numpy()
    x = _dense(atac.X)
    types = atac.obs["cell_type"].to_numpy()
    for t in simulate.CELL_TYPES:
        inside = x[np.ix_(types == t, groups == t)].mean()
        outside = x[np.ix_(types != t, groups == t)].mean()
        assert inside > 0.35 and inside > 5 * outside, t
    shared = x[:, groups == "shared"].mean(1)
    background = x[:, groups == "background"].mean(1)
    assert np.median(shared) > 3 * np.median(background)


def test_same_seed_same_bytes_other_seed_differs(demo, tmp_path):
    paths = simulate.write_demo(tmp_path / "again", seed=0, **SMALL)
    for key, path in demo[1].items():
        assert path.read_bytes() == paths[key].read_bytes(), key
    other = simulate.write_demo(tmp_path / "other", seed=1, **SMALL)
    for key in ("genome", "markers", "grn", "motif_sites"):
        assert other[key].read_bytes() != paths[key].read_bytes(), key
    x0, x1 = ad.read_h5ad(paths["rna"]).X, ad.read_h5ad(other["rna"]).X
    assert x0.shape == x1.shape and (x0 != x1).nnz > 0


def test_too_small_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_genes"):
        simulate.simulate(seed=0, n_cells=100, n_genes=300, n_peaks=100, chrom_length=100_000)
    with pytest.raises(ValueError, match="chrom_length"):
        simulate.simulate(seed=0, n_cells=100, n_genes=1000, n_peaks=400, chrom_length=50_000)


# ---- donors, conditions and their planted changes -----------------------------------------
@pytest.fixture(scope="module")
def truth_conditions(demo):
    return {
        k: pd.read_csv(demo[1][k], sep="\t") for k in ("conditions_genes", "conditions_abundance")
    }


def test_conditions_change_only_the_planted_genes(rna, atac):
    """The conditions have their own random stream: without them, every other draw and
    every other gene's counts are the same (the other branches' truth is untouched)."""
    plain = simulate.simulate(seed=0, conditions=False, **SMALL)
    assert "donor" not in plain.rna.obs and "conditions_genes" not in plain.truth
    assert (plain.rna.obs_names == rna.obs_names).all()
    assert (plain.rna.var_names == rna.var_names).all()
    changed = set(rna.var_names[np.flatnonzero((_dense(rna.X) != _dense(plain.rna.X)).any(0))])
    planted = simulate.simulate(seed=0, **SMALL).truth["conditions_genes"]
    assert changed == set(planted["gene"]) and len(changed) == len(planted)
    assert (_dense(plain.atac.X) == _dense(atac.X)).all()


def test_planted_genes_avoid_the_other_truth(demo, truth, truth_conditions):
    genes = set(truth_conditions["conditions_genes"]["gene"])
    assert not genes & set(truth["markers"]["gene"])
    assert not genes & (set(truth["grn"]["tf"]) | set(truth["grn"]["target"]))
    gmt = Path(demo[1]["gene_sets"]).read_text().split()
    assert not genes & set(gmt)
    assert not genes & set(Path(demo[1]["tfs"]).read_text().split())


def test_donors_are_nested_in_batches_with_both_conditions(rna):
    obs = rna.obs
    per_donor = obs.groupby("donor", observed=True)[["condition", "batch"]].nunique()
    assert (per_donor == 1).all().all() and len(per_donor) == 8
    donors = obs[["donor", "condition", "batch"]].drop_duplicates()
    assert (donors.groupby(["batch", "condition"], observed=True).size() == 2).all()


def test_planted_condition_changes_are_in_the_counts(rna, truth_conditions):
    X = _dense(rna.X)
    X = X / X.sum(1, keepdims=True) * 1e4
    obs = rna.obs
    genes = truth_conditions["conditions_genes"]
    col = {g: i for i, g in enumerate(rna.var_names)}
    good = (obs["quality"] == "good").to_numpy()
    for _, r in genes.iterrows():
        in_t = good & (obs["cell_type"] == r["cell_type"]).to_numpy()
        dis, ref = (
            in_t & (obs["condition"] == "disease").to_numpy(),
            in_t & (obs["condition"] == "healthy").to_numpy(),
        )
        x = X[:, col[r["gene"]]]
        if r["kind"] == "DE":
            lfc = np.log2((x[dis].mean() + 1e-3) / (x[ref].mean() + 1e-3))
            assert np.sign(lfc) == np.sign(r["log2_fc"]) and abs(lfc) > 0.4, (r["gene"], lfc)
        else:  # a share of the disease cells switches the gene on
            assert (x[dis] > 0).mean() > (x[ref] > 0).mean() + 0.05, r["gene"]
            assert x[dis].mean() > 1.5 * x[ref].mean(), r["gene"]
    # non-responding types get nothing
    assert not set(genes["cell_type"]) & {"Dendritic cell", "Erythroid"}


def test_planted_abundance_change(rna, truth_conditions):
    ab = truth_conditions["conditions_abundance"]
    share = pd.crosstab(rna.obs["donor"], rna.obs["cell_type"], normalize="index")
    cond = rna.obs.groupby("donor", observed=True)["condition"].first()
    for _, r in ab.iterrows():
        s = share[r["cell_type"]]
        dis, ref = s[cond == "disease"], s[cond == "healthy"]
        assert r["direction"] == "up" and dis.mean() > ref.mean() + 0.05, (dis, ref)
