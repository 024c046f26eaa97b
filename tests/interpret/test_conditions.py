"""Conditions branch (issue 30): what changes between conditions, per cell type, with the
sample as the unit. Small data simulated here, with planted changes of known kind."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

from scinterp.errors import ScinterpInputError
from scinterp.interpret import conditions as cond

KEYS = dict(label_key="cell_type", sample_key="sample", condition_key="condition")
N_GENES = 150
DE = [f"g{i:03d}" for i in range(0, 10)]  # T cells: x3 in every test sample's cells
SHARE = [f"g{i:03d}" for i in range(10, 20)]  # T cells: more expressing cells, same mean
TRAP = [f"g{i:03d}" for i in range(20, 25)]  # T cells: x8 in one test sample only
OPTIONS = cond.ConditionsOptions(n_permutations=30, seed=0)


def _simulate(seed: int, null: bool = False, n_per_condition: int = 4) -> ad.AnnData:
    """Two cell types (T, M) in ``2 n`` samples; raw counts in layers['counts'] and
    log-normalized .X. Unless ``null``: in the test condition (``disease``) T cells carry
    the DE, SHARE and TRAP changes above and M cells are twice as many (abundance); with
    ``null`` the samples are alike and the condition labels are drawn at random."""
    rng = np.random.default_rng(seed)
    genes = [f"g{i:03d}" for i in range(N_GENES)]
    base = rng.gamma(1.0, 1.5, N_GENES) + 0.3
    base[10:20] = 0.8  # SHARE genes: 0.8 counts a cell on average in either condition
    labels = np.array(["disease"] * n_per_condition + ["healthy"] * n_per_condition)
    if null:
        rng.shuffle(labels)
    blocks, rows = [], []
    for s, label in enumerate(labels):
        test = label == "disease" and not null
        z = rng.normal(0, 0.2, N_GENES)  # the sample's own deviation, every gene
        for t in ("T", "M"):
            n = int(rng.poisson(300 if (t == "M" and test) else 150))
            mean = base * np.exp(z + (0.0 if t == "T" else rng.normal(0, 0.5, N_GENES)))
            lib = rng.lognormal(0, 0.2, n)
            lam = lib[:, None] * mean[None, :] * rng.gamma(10, 0.1, (n, N_GENES))
            if t == "T":
                # SHARE genes: 10% of cells at 8 (healthy) vs 40% at 2 (disease): same mean
                on = rng.random((n, 10)) < (0.4 if test else 0.1)
                lam[:, 10:20] = np.where(on, 2.0 if test else 8.0, 0.0) * lib[:, None]
                if test:
                    lam[:, 0:10] *= 3.0
                if test and s == 0:
                    lam[:, 20:25] *= 8.0
            blocks.append(sparse.csr_matrix(rng.poisson(lam)))
            rows += [(t, f"s{s}", label)] * n
    counts = sparse.vstack(blocks).tocsr().astype(np.float32)
    obs = pd.DataFrame(rows, columns=["cell_type", "sample", "condition"])
    obs.index = [f"c{i}" for i in range(len(obs))]
    obs = obs.astype("category")
    a = ad.AnnData(counts.copy(), obs=obs, var=pd.DataFrame(index=genes))
    a.layers["counts"] = counts
    lib = np.asarray(counts.sum(1)).ravel()
    a.X = sparse.csr_matrix(counts.multiply(1e4 / np.maximum(lib, 1)[:, None]))
    a.X.data = np.log1p(a.X.data)
    return a


def _contrasts(a):
    return cond.contrasts_of(a.obs, "condition", reference="healthy")


@pytest.fixture(scope="module")
def planted():
    return _simulate(1)


@pytest.fixture(scope="module")
def planted_genes(planted):
    return cond.test_genes(planted, contrasts=_contrasts(planted), options=OPTIONS, **KEYS)


def _called(genes: pd.DataFrame, method: str, cell_type: str = "T") -> set[str]:
    g = genes[(genes["method"] == method) & (genes["cell_type"] == cell_type)]
    return set(g.loc[g["adj_p_value"] <= 0.05, "gene"].astype(str))


def test_contrasts_every_level_against_the_reference():
    obs = pd.DataFrame({"condition": ["a", "b", "c", "a"]})
    assert cond.contrasts_of(obs, "condition", reference="a") == [("b", "a"), ("c", "a")]
    assert cond.contrasts_of(obs, "condition", contrasts=[["c", "b"]]) == [("c", "b")]
    with pytest.raises(ScinterpInputError, match="'z'"):
        cond.contrasts_of(obs, "condition", reference="z")


def test_pseudobulk_sums_equal_a_dense_groupby_sum(planted):
    counts, meta = cond.pseudobulk(planted, "cell_type", "sample")
    dense = pd.DataFrame(
        planted.layers["counts"].toarray(), columns=planted.var_names, index=planted.obs_names
    )
    key = planted.obs["sample"].astype(str) + "|" + planted.obs["cell_type"].astype(str)
    expected = dense.groupby(key.to_numpy()).sum()
    assert sorted(counts.index) == sorted(expected.index)
    assert np.array_equal(counts.loc[expected.index].to_numpy(), expected.to_numpy())
    assert counts.to_numpy().dtype.kind == "i"
    n = planted.obs.groupby(key.to_numpy(), observed=True).size()
    assert meta.loc[n.index, "n_cells"].tolist() == n.tolist()
    assert (meta["sample"] + "|" + meta["cell_type"]).tolist() == meta.index.tolist()
    # streamed in chunks of a few rows: the same sums
    small, _ = cond.pseudobulk(planted, "cell_type", "sample", chunk_rows=97)
    assert small.equals(counts)


def test_pseudobulk_recovers_planted_de_genes(planted_genes):
    called = _called(planted_genes, "pseudobulk")
    assert set(DE) <= called
    assert len(called - set(DE) - set(SHARE)) <= 1  # no trap gene nor null gene (at most one)
    de = planted_genes[
        (planted_genes["method"] == "pseudobulk")
        & (planted_genes["cell_type"] == "T")
        & planted_genes["gene"].isin(DE)
    ]
    assert de["log_fc"].between(1.0, 2.2).all()  # planted log2(3) = 1.58
    assert (de["confidence"] == 1.0).all()  # every test sample moved up
    assert list(planted_genes.columns) == [
        "cell_type", "gene", "contrast", "log_fc", "stat", "p_value", "adj_p_value",
        "method", "confidence",
    ]  # fmt: skip
    assert set(planted_genes["contrast"]) == {"disease_vs_healthy"}


def test_pseudobulk_fits_in_two_processes_give_the_same_table(planted, planted_genes):
    """n_jobs (the rule's threads) spreads pydeseq2's per-gene fits over processes: the
    table is the same as on one."""
    two = cond.test_genes(planted, contrasts=_contrasts(planted), options=OPTIONS, n_jobs=2, **KEYS)
    pd.testing.assert_frame_equal(two, planted_genes)


def test_share_of_expressing_cells_found_by_model_row_not_by_pseudobulk(planted_genes):
    g = planted_genes[planted_genes["cell_type"] == "T"]
    methods = set(g["method"])
    assert {"pseudobulk", "consensus"} <= methods
    model = methods - {"pseudobulk", "consensus"}
    assert model, "no model-based row"
    found_model = set().union(*(_called(planted_genes, m) for m in model)) & set(SHARE)
    found_consensus = _called(planted_genes, "consensus") & set(SHARE)
    found_pb = _called(planted_genes, "pseudobulk") & set(SHARE)
    assert len(found_model) >= 8 and len(found_consensus) >= 8
    assert len(found_pb) <= 2
    p = g[g["gene"].isin(SHARE)].pivot_table(index="gene", columns="method", values="p_value")
    assert (p["consensus"] < p["pseudobulk"]).mean() >= 0.9
    # the planted mean shifts stay found by the consensus (the row read first)
    assert set(DE) <= _called(planted_genes, "consensus")


def test_one_sample_shift_is_not_called(planted_genes):
    for method in set(planted_genes["method"]):
        assert not (_called(planted_genes, method) & set(TRAP)), method


def test_null_data_gives_no_discovery():
    a = _simulate(7, null=True)
    contrasts = _contrasts(a)
    genes = cond.test_genes(a, contrasts=contrasts, options=OPTIONS, **KEYS)
    assert len(genes) > 0 and genes["p_value"].notna().all()
    assert (genes["adj_p_value"] > 0.05).all(), genes.nsmallest(3, "adj_p_value")
    # the p-values of the consensus are about uniform on null data
    p = genes.loc[genes["method"] == "consensus", "p_value"]
    assert 0.02 <= (p <= 0.05).mean() <= 0.12
    ab = cond.test_abundance(a.obs, contrasts=contrasts, options=OPTIONS, **KEYS)
    assert (ab["adj_p_value"] > 0.05).all()


def test_a_sample_in_two_conditions_raises_naming_the_column_and_the_fix():
    obs = pd.DataFrame(
        {
            "donor": ["d1", "d1", "d2", "d3", "d4"],
            "status": ["healthy", "disease", "healthy", "disease", "disease"],
        }
    )
    with pytest.raises(ScinterpInputError) as e:
        cond.check_design(obs, "donor", "status", reference="healthy", dataset="pbmc")
    msg = str(e.value)
    assert "'d1'" in msg and "'donor'" in msg and "'status'" in msg and "pbmc" in msg
    assert "Fix:" in msg and e.value.fix
    with pytest.raises(ScinterpInputError, match="sample_key"):
        cond.check_design(obs, None, "status", dataset="pbmc")
    with pytest.raises(ScinterpInputError, match="'sick'"):
        cond.check_design(obs.iloc[1:], "donor", "status", reference="sick", dataset="pbmc")
    # a condition with one sample is no error: the contrast is skipped, and why is said
    reasons = cond.check_design(obs.iloc[1:], "donor", "status", reference="healthy")
    assert len(reasons) == 1 and "healthy" in reasons[0]


def test_abundance_finds_the_planted_proportion_change(planted):
    ab = cond.test_abundance(planted.obs, contrasts=_contrasts(planted), options=OPTIONS, **KEYS)
    ab = ab.set_index("cell_type")
    assert list(ab.columns) == ["contrast", "log_fc", "p_value", "adj_p_value", "method"]
    assert ab.loc["M", "adj_p_value"] <= 0.05 and ab.loc["M", "log_fc"] > 0.3
    # two types whose shares sum to one: T's share falls by as much
    assert ab.loc["T", "log_fc"] < 0


def _shares_obs(n_per_condition: int, seed: int, fold: float = 2.0) -> pd.DataFrame:
    """Cells of 4 types (A 40%, B 30%, C 22%, R 8%) per sample, Dirichlet-multinomial
    shares; B's share times ``fold`` in the test samples (the others' shares fall)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(2 * n_per_condition):
        test = s < n_per_condition
        share = np.array([0.40, 0.30 * (fold if test else 1.0), 0.22, 0.08])
        n = rng.multinomial(600, rng.dirichlet(100 * share / share.sum()))
        for t, k in zip("ABCR", n, strict=True):
            rows += [(t, f"s{s:02d}", "disease" if test else "healthy")] * int(k)
    return pd.DataFrame(rows, columns=["cell_type", "sample", "condition"])


def test_abundance_does_not_call_the_types_whose_share_falls_because_one_rose():
    obs = _shares_obs(10, seed=3)
    # the unchanged types' shares do fall: a test on shares calls them (sum to one)
    props = pd.crosstab(obs["sample"], obs["cell_type"], normalize="index")
    test = props.index < "s10"
    assert stats.ttest_ind(props.loc[test, "A"], props.loc[~test, "A"]).pvalue < 0.01
    runs_with_a_false_call = 0
    for seed in range(30):
        obs = _shares_obs(10, seed=seed)
        ab = cond.test_abundance(obs, contrasts=[("disease", "healthy")], options=OPTIONS, **KEYS)
        ab = ab.set_index("cell_type")
        assert ab.loc["B", "adj_p_value"] <= 0.05 and ab.loc["B", "log_fc"] > 0.3
        runs_with_a_false_call += bool((ab.drop("B")["adj_p_value"] <= 0.05).any())
    # logit shares less the median logit shift (the earlier propeller_bc): 7 of 30
    assert runs_with_a_false_call <= 2


def test_abundance_is_calibrated_on_null_shares():
    calls = 0
    for seed in range(40):
        obs = _shares_obs(3, seed=seed, fold=1.0)
        ab = cond.test_abundance(obs, contrasts=[("disease", "healthy")], options=OPTIONS, **KEYS)
        calls += bool((ab["adj_p_value"] <= 0.05).any())
    assert calls <= 4  # at most 10% of 40 null runs with any call (expected <= 5%)


def test_celltypes_splits_by_sample_and_ranks_the_responding_type_first(planted):
    res = cond.test_celltypes(planted, contrasts=_contrasts(planted), options=OPTIONS, **KEYS)
    assert list(res.columns) == [
        "cell_type", "contrast", "score", "p_value", "adj_p_value", "n_cells",
        "n_samples_test", "n_samples_ref", "method",
    ]  # fmt: skip
    r = res.set_index("cell_type")
    assert r.loc["T", "score"] > r.loc["M", "score"]
    # 4 vs 4 samples: 70 labelings, and those one swap from the truth score high too, so
    # the permutation p-value of a clear responder is about 0.03-0.07 (seeds 0-2)
    assert r.loc["T", "p_value"] <= r.loc["M", "p_value"] and r.loc["T", "p_value"] < 0.1
    assert r.loc["T", "score"] > 0.8
    assert (r["n_samples_test"] == 4).all() and (r["n_samples_ref"] == 4).all()
    splits = res.attrs["splits"]
    assert splits
    folds = splits.values() if isinstance(splits, dict) else [splits]
    seen = 0
    for entry in folds:
        for f in entry:
            train, test = (f["train"], f["test"]) if isinstance(f, dict) else f
            assert set(train).isdisjoint(test)  # never a sample in both
            assert set(test) and set(train)
            seen += 1
    assert seen >= 2 * 2  # at least two folds per type


def test_programs_finds_a_program_active_in_the_test_samples(planted):
    rng = np.random.default_rng(5)  # noise activity (seed 3 gives one chance call, p 0.001)
    obs = planted.obs
    act = pd.DataFrame(rng.normal(0, 1, (planted.n_obs, 6)), index=planted.obs_names)
    act.columns = [f"P{i}" for i in range(6)]
    moved = (obs["condition"] == "disease").to_numpy() & (obs["cell_type"] == "T").to_numpy()
    act.loc[moved, "P0"] += 0.5
    res = cond.test_programs(act, obs, contrasts=_contrasts(planted), options=OPTIONS, **KEYS)
    called = res[res["adj_p_value"] <= 0.05]
    assert set(zip(called["cell_type"], called["program"], strict=True)) == {("T", "P0")}
    row = res[(res["cell_type"] == "T") & (res["program"] == "P0")].iloc[0]
    assert 0.35 < row["effect"] < 0.65


def test_moderated_t_is_the_ordinary_t_without_moderation_and_shrinks_variances():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (300, 8))
    group = np.array([True] * 4 + [False] * 4)
    x[:20, :4] += 2.0
    plain = cond.moderated_t(x, group, moderate=False)
    ref = stats.ttest_ind(x[:, group], x[:, ~group], axis=1)
    assert np.allclose(plain["stat"], ref.statistic) and np.allclose(plain["p_value"], ref.pvalue)
    # genes with one true variance: the prior df is large and every variance moves
    # toward the prior; the moderated test has more power on the shifted genes
    mod = cond.moderated_t(x, group)
    s2 = x[:, group].var(1, ddof=1) * 3 / 6 + x[:, ~group].var(1, ddof=1) * 3 / 6
    post = mod["s2_post"].to_numpy()
    prior = mod.attrs["s2_prior"]
    assert mod.attrs["df_prior"] > 12  # twice the residual df: strong shrinkage
    assert np.all(np.abs(post - prior) <= np.abs(s2 - prior) + 1e-12)
    assert (mod["p_value"][:20] < 0.01).sum() >= (plain["p_value"][:20] < 0.01).sum()


def test_squeeze_var_recovers_the_prior_of_scaled_chi_square_variances():
    rng = np.random.default_rng(1)
    d, d0, s0 = 4, 6.0, 2.0
    sigma2 = s0 * d0 / rng.chisquare(d0, 20000)  # inverse scaled chi-square prior
    s2 = sigma2 * rng.chisquare(d, 20000) / d
    post, s0_hat, d0_hat = cond.squeeze_var(s2, np.full(s2.size, d))
    assert abs(s0_hat / s0 - 1) < 0.1 and 4.0 < d0_hat < 9.0
    assert np.allclose(post, (d0_hat * s0_hat + d * s2) / (d0_hat + d))


def test_run_reads_the_files_and_returns_the_four_tables(planted, tmp_path):
    path = tmp_path / "normalized.h5ad"
    planted.write_h5ad(path)
    rng = np.random.default_rng(0)
    act = pd.DataFrame(
        rng.normal(0, 1, (planted.n_obs, 3)), index=planted.obs_names, columns=["P0", "P1", "P2"]
    )
    act.to_csv(tmp_path / "activity.tsv", sep="\t")
    tables = cond.run(
        {"normalized": str(path), "activity": str(tmp_path / "activity.tsv")},
        OPTIONS,
        dataset="toy",
        reference="healthy",
        **KEYS,
    )
    assert set(tables) == {"genes", "programs", "celltypes", "abundance"}
    assert set(DE) <= _called(tables["genes"], "consensus")
    assert set(tables["programs"]["program"]) == {"P0", "P1", "P2"}
    assert set(tables["celltypes"]["cell_type"]) == {"T", "M"}
    ab = tables["abundance"].set_index("cell_type")
    assert ab.loc["M", "adj_p_value"] <= 0.05
    # a reference that is not a level: an error naming the dataset and the file
    with pytest.raises(ScinterpInputError) as e:
        cond.run({"normalized": str(path)}, OPTIONS, dataset="toy", reference="sick", **KEYS)
    assert "toy" in str(e.value) and "normalized.h5ad" in str(e.value)


def test_pseudobulk_streams_a_backed_matrix(planted, tmp_path):
    b = ad.AnnData(planted.layers["counts"].copy(), obs=planted.obs, var=planted.var)
    b.write_h5ad(tmp_path / "counts.h5ad")
    backed = ad.read_h5ad(tmp_path / "counts.h5ad", backed="r")
    streamed, meta = cond.pseudobulk(backed, "cell_type", "sample", layer=None, chunk_rows=256)
    in_memory, _ = cond.pseudobulk(planted, "cell_type", "sample")
    assert streamed.equals(in_memory) and meta["n_cells"].sum() == planted.n_obs
    backed.file.close()


def test_moderated_t_with_a_variance_trend_is_calibrated_at_every_level():
    # null features whose variance grows with a covariate (as a gene's with its level)
    rng = np.random.default_rng(0)
    n = 4000
    c = rng.uniform(0, 1, n)
    sd = np.exp(1.5 * c) * np.sqrt(rng.chisquare(20, n) / 20)
    x = rng.normal(0, 1, (n, 6)) * sd[:, None]
    group = np.array([True] * 3 + [False] * 3)
    high, low = c > 0.8, c < 0.2
    flat = cond.moderated_t(x, group)["p_value"].to_numpy()
    trend = cond.moderated_t(x, group, covariate=c)["p_value"].to_numpy()
    # one prior for all: too small for the high-variance features, too large for the low
    assert (flat[high] < 0.05).mean() > 0.08 and (flat[low] < 0.05).mean() < 0.02
    for stratum in (high, low):
        assert 0.03 <= (trend[stratum] < 0.05).mean() <= 0.08


def test_programs_with_no_cell_of_the_dataset_raises(planted):
    act = pd.DataFrame({"P0": [0.1, 0.2]}, index=["other1", "other2"])
    with pytest.raises(ScinterpInputError, match="activity"):
        cond.test_programs(act, planted.obs, contrasts=_contrasts(planted), options=OPTIONS, **KEYS)


def test_cell_sums_equal_the_sparse_indicator_products_bit_for_bit(planted):
    """gene_sums' compiled pass (stream_cell_sums) gives the arrays of the sparse
    indicator products it replaced (stream_group_sums with _cell_features), bit for bit,
    at any chunk size and thread count, with cells of no sample left out and explicit
    zeros stored."""
    from scinterp.interpret.conditions._genes import _cell_features
    from scinterp.interpret.conditions._pseudobulk import stream_cell_sums, stream_group_sums

    x = planted.layers["counts"].copy()
    x.data[::37] = 0.0  # stored zeros: no count, not expressing
    obs = planted.obs.copy()
    obs["sample"] = obs["sample"].astype(object)
    obs.iloc[::11, obs.columns.get_loc("sample")] = None  # cells of no sample
    codes, meta = cond._pseudobulk.groups_of(obs, "cell_type", "sample")
    assert (codes < 0).any()
    for chunk, n_jobs in ((500, 1), (97, 2), (100000, 3)):
        # the chunk sets the summation order (a chunk's partial sum, then the total)
        ref = stream_group_sums(x, codes, len(meta), chunk, features=_cell_features)
        new = stream_cell_sums(x, codes, len(meta), chunk, n_jobs)
        assert sorted(new) == sorted(ref)
        for k in ref:
            assert np.array_equal(new[k], ref[k]), (k, chunk, n_jobs)
    assert ref["log"].sum() > 0 and ref["expr"].max() > 1
    dense = stream_cell_sums(x.toarray(), codes, len(meta), 100000, 1)
    assert all(np.array_equal(dense[k], ref[k]) for k in ref)


def test_celltypes_permutations_in_two_processes_give_the_same_table(planted):
    """n_jobs spreads the permuted labelings' fits over processes: the same scores and
    p-values (the labelings and their folds are drawn before the fits, in one order)."""
    kw = dict(contrasts=_contrasts(planted), options=OPTIONS, **KEYS)
    one = cond.test_celltypes(planted, **kw)
    two = cond.test_celltypes(planted, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(one, two)
    assert one.attrs["splits"] == two.attrs["splits"]
    assert (one["p_value"] < 1).any()


def test_lin_reg_mu_is_pydeseq2s_bit_for_bit():
    """The genewise dispersions' first means without a scikit-learn estimator per gene:
    the same arrays as pydeseq2's own lin_reg_mu (LinearRegression per gene)."""
    from pydeseq2.default_inference import DefaultInference

    from scinterp.interpret.conditions._genes import _inference, _lin_reg_mu

    rng = np.random.default_rng(3)
    counts = rng.negative_binomial(3, 0.05, (12, 60)).astype(np.int64)
    counts[:, :3] = 0  # genes without counts: the min_mu floor
    sf = rng.lognormal(0, 0.3, 12)
    x = np.column_stack([np.ones(12), np.arange(12) % 2]).astype(float)
    ref = DefaultInference(n_cpus=1).lin_reg_mu(counts, sf, x, 0.5)
    new = _lin_reg_mu(counts, sf, x, 0.5)
    assert new.shape == ref.shape == (12, 60)
    assert np.array_equal(new, ref) and (new[:, :3] == 0.5).all()
    assert np.array_equal(_inference(2).lin_reg_mu(counts, sf, x, 0.5), ref)


def test_filter_by_expr_keeps_genes_with_counts_in_as_many_samples_as_the_smaller_group():
    """edgeR's filterByExpr rule: CPM >= min_count / median library x 1e6 in at least
    the smaller condition's number of samples, and a total of at least 15."""
    from scinterp.interpret.conditions._genes import filter_by_expr

    in_test = np.array([True] * 3 + [False] * 5)
    counts = np.zeros((8, 5))
    counts[:, 0] = 100_000  # the library: 1e5, so the cut is 10 counts (100 CPM)
    counts[:, 1] = 50  # expressed everywhere
    counts[:3, 2] = 12  # switched on in the three test samples only: kept
    counts[:2, 3] = 500  # in two samples only, fewer than the smaller group: dropped
    counts[:, 4] = 3  # everywhere, below the cut (24 counts in all): dropped
    assert filter_by_expr(counts, in_test, 10).tolist() == [True, True, True, False, False]
    assert filter_by_expr(counts, in_test, min_count=2).tolist() == [True, True, True, False, True]
    # above large_n samples per group, 10 + 0.7 of the rest: 40 vs 40 samples need 31
    big = np.full((80, 2), 100_000.0)
    big[:, 1] = 0
    big[:31, 1] = 20
    assert filter_by_expr(big, np.arange(80) < 40, 10).tolist() == [True, True]
    big[30, 1] = 0
    assert filter_by_expr(big, np.arange(80) < 40, 10).tolist() == [True, False]


def test_genes_without_enough_counts_get_no_pseudobulk_nor_consensus_row(planted):
    """With min_count, a gene too rare in a type to test (filterByExpr) is not fit by
    pydeseq2 and gets no consensus; min_count 0 (the default) tests every gene with a
    count."""
    from dataclasses import replace

    a = planted.copy()
    rare = (a.obs["cell_type"] == "T").to_numpy()
    X = a.layers["counts"].tolil()
    X[:, 30] = 0
    X[np.flatnonzero(rare)[:3], 30] = 1  # three counts in one type: nothing to test
    a.layers["counts"] = X.tocsr()
    g = cond.test_genes(a, contrasts=_contrasts(a), options=replace(OPTIONS, min_count=10), **KEYS)
    rows = g[(g["gene"] == a.var_names[30]) & (g["cell_type"] == "T")]
    assert not ({"pseudobulk", "consensus"} & set(rows["method"]))
    every = cond.test_genes(a, contrasts=_contrasts(a), options=OPTIONS, **KEYS)
    rows = every[(every["gene"] == a.var_names[30]) & (every["cell_type"] == "T")]
    assert "pseudobulk" in set(rows["method"])
    # the planted genes pass the filter and are still found
    assert set(DE) <= _called(g, "consensus")
