"""Branch (ii), gene programs: per-cell activities -> differential scores per cell type,
loadings, de novo enrichment, capsule tables, and compute_programs end to end on tiny data
with planted programs (type A switches on PROG_A, B PROG_B, C PROG_C; DECOY is flat)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from scinterp.errors import ScinterpInputError
from scinterp.interpret import programs as P

TYPES = ("A", "B", "C")
SETS = {  # genes 0-31 in four sets of 8; genes 32-59 are in no set
    "PROG_A": [f"G{i}" for i in range(0, 8)],
    "PROG_B": [f"G{i}" for i in range(8, 16)],
    "PROG_C": [f"G{i}" for i in range(16, 24)],
    "DECOY": [f"G{i}" for i in range(24, 32)],
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests share 2 cores with other jobs: one thread is faster and reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _normalized(n_cells=180, n_genes=60, seed=0) -> ad.AnnData:
    """A normalized.h5ad in miniature: log1p CPM-like X, counts, labels, UMAP."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(TYPES)[np.arange(n_cells) % 3]
    rate = np.tile(rng.uniform(1.0, 3.0, n_genes), (n_cells, 1))
    for t, name in enumerate(TYPES):
        rate[labels == name, t * 8 : (t + 1) * 8] *= 6.0
    counts = rng.poisson(rate * rng.uniform(0.8, 1.2, (n_cells, 1))).astype(np.float32)
    x = np.log1p(counts / counts.sum(1, keepdims=True) * 1e3).astype(np.float32)
    a = ad.AnnData(
        X=sp.csr_matrix(x),
        obs=pd.DataFrame({"cell_type": labels}, index=[f"c{i}" for i in range(n_cells)]),
        var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)]),
    )
    a.layers["counts"] = sp.csr_matrix(counts)
    a.var["highly_variable"] = True
    a.obsm["X_umap"] = rng.normal(size=(n_cells, 2)).astype(np.float32)
    a.uns["scinterp"] = {"label_key": "cell_type"}
    return a


def _write_gmt(path, sets=SETS):
    path.write_text("".join(f"{k}\tplanted\t" + "\t".join(v) + "\n" for k, v in sets.items()))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("programs")
    adata = _normalized()
    adata.write_h5ad(root / "normalized.h5ad")
    return {
        "root": root,
        "adata": adata,
        "path": root / "normalized.h5ad",
        "gmt": _write_gmt(root / "sets.gmt"),
    }


@pytest.fixture(scope="module")
def models(data, schema_defaults):
    """program_vae at seeds 0 and 1 and a capsule classifier, trained as the workflow does."""
    from scinterp.train.run import train_from_files

    params = {
        **schema_defaults("train"),
        "max_epochs": 40,
        "batch_size": 32,
        "device": "cpu",
        "learning_rate": 1e-2,
        "n_latent_denovo": 2,
        "patience": 40,
    }
    dirs = {}
    torch.set_num_threads(1)
    for name, seed in (("program_vae", 0), ("program_vae_seed1", 1), ("capsule_classifier", 0)):
        out = data["root"] / "models" / name
        train_from_files(
            name.removesuffix("_seed1"),
            normalized=data["path"],
            outdir=out,
            params={**params, "seed": seed},
            gene_sets=data["gmt"],
            dataset="tiny",
        )
        dirs[name] = str(out)
    return dirs


def _top(table, cell_type, method=None):
    t = table[table["cell_type"] == cell_type]
    if method is not None:
        t = t[t["method"] == method]
    return t.sort_values("score", ascending=False)["program"].iloc[0]


# ------------------------------------------------------------------ differential scores
def _planted_activity(n=120, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.asarray(TYPES)[np.arange(n) % 3]
    act = rng.normal(size=(n, 3))
    act[labels == "A", 0] += 3.0  # program 0 is on in A
    act[labels == "B", 1] += 1.0  # program 1 a little higher in B
    return act, labels


def test_differential_scores_sign_and_ranking_follow_the_planted_program():
    act, labels = _planted_activity()
    out = P.differential_scores(act, labels, ["on_A", "bit_B", "flat"], "m")
    assert list(out.columns) == P.ACTIVITY_COLUMNS
    assert len(out) == 9 and set(out["method"]) == {"m"}
    s = out.set_index(["program", "cell_type"])
    # higher in the type: positive; lower: negative; the strong program ranks first in A
    assert s.loc[("on_A", "A"), "score"] > 3 and s.loc[("on_A", "B"), "score"] < 0
    assert s.loc[("bit_B", "B"), "score"] > 0 and s.loc[("bit_B", "A"), "score"] < 0
    assert _top(out, "A") == "on_A" and _top(out, "B") == "bit_B"
    assert s.loc[("on_A", "A"), "score"] > s.loc[("bit_B", "B"), "score"]
    # Bayes factor of the rank probability: bounded by expiMap's epsilon
    assert out["score"].abs().max() <= np.log(1 + 1e-8) - np.log(1e-8) + 1e-9
    assert s.loc[("on_A", "A"), "padj"] < 1e-6 and s.loc[("flat", "A"), "padj"] > 0.01
    assert (out["n_cells"] == 40).all()
    a_in = act[labels == "A", 0]
    assert s.loc[("on_A", "A"), "mean_in"] == pytest.approx(a_in.mean())
    assert s.loc[("on_A", "A"), "mean_out"] == pytest.approx(act[labels != "A", 0].mean())


def test_differential_scores_flip_sign_with_the_activity():
    act, labels = _planted_activity()
    up = P.differential_scores(act, labels, ["p0", "p1", "p2"], "m")
    down = P.differential_scores(-act, labels, ["p0", "p1", "p2"], "m")
    np.testing.assert_allclose(down["score"], -up["score"], atol=1e-6)
    np.testing.assert_allclose(down["auc"], 1 - up["auc"], atol=1e-12)
    np.testing.assert_allclose(down["effect_size"], -up["effect_size"], atol=1e-12)
    np.testing.assert_allclose(down["pvalue"], up["pvalue"], rtol=1e-12)


def test_differential_statistics_match_scipy():
    """Mann-Whitney z and p (normal approximation, tie-corrected, no continuity
    correction), AUC, Cohen's d on the pooled sd, BH over the table."""
    act, labels = _planted_activity()
    act = np.round(act, 1)  # ties
    out = P.differential_scores(act, labels, ["p0", "p1", "p2"], "m")
    for row in out.itertuples():
        p = int(row.program[1])
        a_in, a_out = act[labels == row.cell_type, p], act[labels != row.cell_type, p]
        mw = stats.mannwhitneyu(a_in, a_out, use_continuity=False, method="asymptotic")
        assert row.pvalue == pytest.approx(mw.pvalue, rel=1e-9)
        assert row.auc == pytest.approx(mw.statistic / (len(a_in) * len(a_out)))
        pooled = np.sqrt(
            ((len(a_in) - 1) * a_in.var(ddof=1) + (len(a_out) - 1) * a_out.var(ddof=1))
            / (len(act) - 2)
        )
        assert row.effect_size == pytest.approx((a_in.mean() - a_out.mean()) / pooled)
    np.testing.assert_allclose(out["padj"], stats.false_discovery_control(out["pvalue"]))


def test_a_unit_with_a_wide_posterior_scores_near_zero():
    """expiMap: with posterior draws, a unit whose means differ a little but whose sd is
    large has a Bayes factor near 0; the same means with a tight posterior score high."""
    rng = np.random.default_rng(1)
    labels = np.repeat(["A", "B"], 100)
    mu = np.where(labels == "A", 0.3, 0.0)[:, None] + 0.05 * rng.normal(size=(200, 1))
    tight = P.differential_scores(mu, labels, ["u"], "vae", std=np.full((200, 1), 0.01))
    wide = P.differential_scores(mu, labels, ["u"], "vae", std=np.full((200, 1), 5.0))
    plain = P.differential_scores(mu, labels, ["u"], "vae")
    a = lambda t: t.set_index("cell_type").loc["A"]  # noqa: E731
    assert a(tight)["score"] > 10 and abs(a(wide)["score"]) < 0.5
    # the draws change only the Bayes factor: AUC, z, effect size come from the means
    assert a(wide)["auc"] == a(plain)["auc"] == a(tight)["auc"]
    assert a(wide)["effect_size"] == a(plain)["effect_size"]
    # seeded draws: the same table twice
    again = P.differential_scores(mu, labels, ["u"], "vae", std=np.full((200, 1), 5.0))
    pd.testing.assert_frame_equal(wide, again)


def test_differential_scores_are_rank_statistics_but_the_effect_size_is_not():
    """A monotone transform of the activities (exp) keeps the order of cells: the Bayes
    factor, AUC, z and p-values stay; Cohen's d, a difference of means, changes; a
    constant shift moves the means and keeps d."""
    act, labels = _planted_activity()
    names = ["p0", "p1", "p2"]
    base = P.differential_scores(act, labels, names, "m")
    warped = P.differential_scores(np.exp(act), labels, names, "m")
    for col in ("score", "auc", "pvalue", "padj"):
        np.testing.assert_allclose(warped[col], base[col], rtol=1e-12, atol=1e-12)
    assert not np.allclose(warped["effect_size"], base["effect_size"])
    shifted = P.differential_scores(act + 5.0, labels, names, "m")
    np.testing.assert_allclose(shifted["effect_size"], base["effect_size"], atol=1e-9)
    np.testing.assert_allclose(shifted["mean_in"], base["mean_in"] + 5.0)
    # a program that is the same in every cell tells no type apart
    flat = P.differential_scores(np.ones((120, 1)), labels, ["one"], "m")
    assert (flat["auc"] == 0.5).all() and (flat["score"] == 0).all()


def test_differential_scores_bad_input():
    act, labels = _planted_activity()
    with pytest.raises(ValueError, match="cells x 2 programs"):
        P.differential_scores(act, labels, ["a", "b"], "m")
    with pytest.raises(ValueError, match="119 labels for 120 cells"):
        P.differential_scores(act, labels[:-1], ["a", "b", "c"], "m")
    # a type holding every cell has no "other cells": no row, no error
    one = P.differential_scores(act, np.full(120, "A"), ["a", "b", "c"], "m")
    assert one.empty and list(one.columns) == P.ACTIVITY_COLUMNS


# ------------------------------------------------------------------ VAE unit scores
def test_latent_directions_orient_each_unit_by_its_weight_sum():
    w = np.array([[1.0, -2.0, 0.0], [0.5, 1.0, 0.0], [-0.2, -0.5, 0.0]])
    np.testing.assert_array_equal(P.latent_directions(w), [1.0, -1.0, 1.0])


def test_program_gene_rows_prior_sets_and_top_denovo():
    w = np.array([[0.0, 0.1], [2.0, -3.0], [1.0, 0.5], [0.0, 2.0]])
    rows = P.program_gene_rows(
        w,
        ["g0", "g1", "g2", "g3"],
        ["S", "U"],
        n_prior=1,
        gene_sets={"S": ["g2", "missing", "g0"]},
        n_top_denovo=2,
    )
    np.testing.assert_array_equal(rows[0], [2, 0])  # the set's genes in set order
    np.testing.assert_array_equal(rows[1], [3, 2])  # largest oriented weights, not |w|
    no_sets = P.program_gene_rows(w, ["g0", "g1", "g2", "g3"], ["S", "U"], n_prior=1)
    np.testing.assert_array_equal(no_sets[0], [1, 2])  # non-zero weights


def test_decoder_scores_use_the_typical_gene_of_the_program():
    """score = (mean_in - mean_out) x trimmed mean of the unit's gene weights: a decoy set
    that two genes load on scores near 0 however much its unit differs."""
    table = pd.DataFrame(
        {
            "program": ["real", "decoy"],
            "cell_type": ["A", "A"],
            "score": [7.0, 9.0],
            "mean_in": [2.0, 4.0],
            "mean_out": [0.0, 0.0],
        }
    )
    w = np.zeros((10, 2))
    w[:, 0] = 0.5
    w[:2, 1] = 3.0  # two of the decoy's ten genes load on its unit
    genes = [np.arange(10), np.arange(10)]
    out = P.decoder_scores(table, w, ["real", "decoy"], genes, trim=0.2).set_index("program")
    assert out.loc["real", "score"] == pytest.approx(2.0 * 0.5)
    assert out.loc["decoy", "score"] == pytest.approx(0.0)
    assert out.loc["decoy", "bayes_factor"] == 9.0  # the former score is kept
    untrimmed = P.decoder_scores(table, w, ["real", "decoy"], genes, trim=0.0)
    assert untrimmed.set_index("program").loc["decoy", "score"] == pytest.approx(4.0 * 0.6)
    assert P.decoder_scores(table, w, ["real", "decoy"], [[], []])["score"].eq(0).all()


# ------------------------------------------------------------------ loadings
def test_program_loadings_columns_order_and_orientation():
    genes = [f"g{i}" for i in range(6)]
    w = np.array(
        [
            [0.1, 0.0, 0.0],
            [-2.0, 0.5, 0.3],
            [1.0, 0.0, -0.9],
            [0.0, 0.0, 0.2],
            [0.0, 3.0, 0.05],
            [0.05, 0.0, 0.0],
        ]
    )
    out = P.program_loadings(
        w,
        genes,
        ["S", "T", "novo"],
        n_prior=2,
        method="program_vae",
        gene_sets={"S": ["g0", "g1", "g2", "g5", "absent"]},
        directions=np.array([-1, 1, 1]),
        used_threshold=0.1,
        n_top_denovo=3,
    )
    assert list(out.columns) == ["program", "gene", "weight", "kind", "used", "rank", "method"]
    s = out[out["program"] == "S"]
    # the set's genes present in the data, largest |weight| first, oriented by the direction
    assert s["gene"].tolist() == ["g1", "g2", "g0", "g5"]
    np.testing.assert_allclose(s["weight"], [2.0, -1.0, -0.1, -0.05])
    assert s["rank"].tolist() == [1, 2, 3, 4] and (s["kind"] == "prior").all()
    assert s["used"].tolist() == [True, True, False, False]  # >= 0.1 x 2.0
    t = out[out["program"] == "T"]  # no gene set given: the non-zero weights
    assert t["gene"].tolist() == ["g4", "g1"]
    novo = out[out["program"] == "novo"]
    assert novo["gene"].tolist() == ["g2", "g1", "g3"] and (novo["kind"] == "denovo").all()
    assert (out["method"] == "program_vae").all()
    empty = P.program_loadings(np.zeros((3, 0)), ["a", "b", "c"], [], 0, "m")
    assert empty.empty and list(empty.columns) == list(out.columns)


# ------------------------------------------------------------------ figures and inputs
def _activity_rows(rows):
    return pd.DataFrame(rows, columns=["program", "cell_type", "score", "method"])


def test_top_programs_ranks_by_the_best_type_within_one_method():
    act = _activity_rows(
        [
            ("P1", "A", 0.5, "m"),
            ("P1", "B", 4.0, "m"),  # P1's best type counts, not its mean
            ("P2", "A", 3.0, "m"),
            ("P2", "B", 3.0, "m"),
            ("P3", "A", 3.0, "m"),  # a tie keeps the table's order
            ("P4", "A", 9.0, "other"),  # another method's rows are not read
        ]
    )
    assert P.top_programs(act, "m", n=10) == ["P1", "P2", "P3"]
    assert P.top_programs(act, "m", n=2) == ["P1", "P2"]
    assert P.top_programs(act, "absent") == []


def test_activity_heatmap_has_a_panel_per_method_with_rows():
    act = _activity_rows(
        [
            ("P1", "A", 2.0, "signed"),
            ("P1", "B", -1.0, "signed"),
            ("P2", "A", 0.5, "signed"),
            ("P2", "B", 0.0, "signed"),
            ("P1", "A", 0.3, "coupling"),
            ("P1", "B", 0.7, "coupling"),
        ]
    )
    fig = P.plot_activity_heatmap(act, ["signed", "absent", "coupling"])
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["signed", "coupling"]
    signed, coupling = images
    # program x cell type, as the table says
    np.testing.assert_array_equal(signed.get_array(), [[2.0, -1.0], [0.5, 0.0]])
    # signed scores on a diverging map centred on 0; non-negative ones from 0
    assert signed.get_cmap().name == "RdBu_r" and signed.get_clim() == (-2.0, 2.0)
    assert coupling.get_cmap().name == "Reds" and coupling.get_clim() == (0.0, 0.7)
    empty = P.plot_activity_heatmap(act.iloc[:0])
    assert [t.get_text() for ax in empty.axes for t in ax.texts] == ["no program activity"]


def test_label_column_and_check_features():
    a = _normalized(n_cells=6, n_genes=5)
    assert P.label_column(a) == "cell_type"  # the key normalize recorded
    a.uns["scinterp"] = {"label_key": "gone"}
    a.obs["label"] = a.obs["cell_type"]
    assert P.label_column(a) == "label"  # Leiden labels when the key is not in obs
    # the model's features in the model's order, wherever they sit in the data
    np.testing.assert_array_equal(P.check_features(a, ["G3", "G0", "G4"], "m", "tiny"), [3, 0, 4])
    with pytest.raises(ScinterpInputError, match="2 of the model's 3 genes .*X1, X2"):
        P.check_features(a, ["G1", "X1", "X2"], "m", "tiny")


# ------------------------------------------------------------------ de novo enrichment
def test_enrichment_is_the_hypergeometric_tail_and_names_the_planted_set():
    universe = [f"g{i}" for i in range(100)]
    sets = {"HIT": universe[:10], "MISS": universe[50:60], "OUTSIDE": ["x1", "x2"]}
    out = P.enrichment(universe[:6] + ["g70", "not_in_universe"], sets, universe)
    assert out["gene_set"].tolist() == ["HIT", "MISS"]  # best first; no overlap, no row
    hit = out.iloc[0]
    assert hit["overlap"] == 6 and hit["n_genes"] == 7 and hit["universe"] == 100
    assert hit["pvalue"] == pytest.approx(stats.hypergeom.sf(5, 100, 10, 7))
    assert hit["fold_enrichment"] == pytest.approx((6 / 7) / (10 / 100))
    assert hit["overlap_genes"] == ",".join(sorted(universe[:6]))
    assert out.iloc[1]["pvalue"] == 1.0

    loadings = pd.DataFrame(
        {
            "program": ["d0"] * 3 + ["d1"] * 2,
            "gene": ["g0", "g1", "g2", "g50", "g51"],
            "weight": [3.0, 2.0, 0.1, 1.0, 1.0],
            "kind": "denovo",
            "used": [True, True, False, True, True],
            "rank": [1, 2, 3, 1, 2],
            "method": "vae",
        }
    )
    enrich = P.denovo_enrichment(loadings, sets, universe)
    assert set(enrich["program"]) == {"d0", "d1"}
    assert enrich[enrich["program"] == "d0"].iloc[0]["overlap"] == 2  # used genes only
    matches = P.denovo_matches(enrich, loadings).set_index("program")
    assert matches.loc["d0", "best_gene_set"] == "HIT" and matches.loc["d0", "n_used_genes"] == 2
    assert matches.loc["d0", "top_genes"] == "g0,g1,g2"
    assert matches.loc["d1", "best_gene_set"] == "MISS" and matches.loc["d1", "overlap"] == 2


# ------------------------------------------------------------------ capsule tables
@pytest.fixture(scope="module")
def capsule():
    from scinterp.models.capsule import CapsuleClassifier

    torch.manual_seed(0)
    groups = [list(range(k * 8, (k + 1) * 8)) for k in range(4)]
    model = CapsuleClassifier(60, groups, 3).eval()
    x = _normalized().X.toarray()
    labels = np.asarray(TYPES)[np.arange(180) % 3]
    return model, x, labels


def test_capsule_table_is_the_mean_routing_per_cell_type(capsule):
    model, x, labels = capsule
    names = ["S0", "S1", "S2", "S3", "remaining_genes"]
    out = P.capsule_activity(model, x, labels, list(TYPES), names)
    assert list(out.columns) == [
        "program",
        "cell_type",
        "score",
        "method",
        "contribution",
        "n_cells",
    ]
    assert len(out) == 5 * 3 and (out["method"] == "capsule").all()
    assert (out["n_cells"] == 60).all()
    coupling = model.coupling(torch.from_numpy(x)).numpy()  # cells x capsules x classes
    contrib = model.contribution(torch.from_numpy(x)).numpy()
    s = out.set_index(["program", "cell_type"])
    for k, name in enumerate(names):
        for j, t in enumerate(TYPES):
            cells = labels == t
            assert s.loc[(name, t), "score"] == pytest.approx(
                coupling[cells, k, j].mean(), rel=1e-5
            )
            assert s.loc[(name, t), "contribution"] == pytest.approx(
                contrib[cells, k, j].mean(), rel=1e-5
            )


def test_capsule_tables_by_chunk_equal_one_pass_and_skip_foreign_labels(capsule):
    model, x, labels = capsule
    names = ["S0", "S1", "S2", "S3", "remaining_genes"]
    labels = labels.copy()
    labels[:9] = "unknown"  # cells of a type the model does not know are left out
    whole = P.capsule_activity(model, sp.csr_matrix(x), labels, list(TYPES), names)
    chunked = P.CapsuleTables(model, None, labels, list(TYPES))
    for start in range(0, 180, 50):
        chunked.add(slice(start, min(start + 50, 180)), sp.csr_matrix(x[start : start + 50]))
    pd.testing.assert_frame_equal(chunked.table(names), whole, rtol=1e-5)
    assert whole.groupby("cell_type")["n_cells"].first().tolist() == [57, 57, 57]
    with pytest.raises(ValueError, match="5 capsules but 4 capsule names"):
        chunked.table(names[:4])
    with pytest.raises(ValueError, match="no cell carries one of the capsule classifier"):
        P.CapsuleTables(model, None, np.full(180, "unknown"), list(TYPES))


# ------------------------------------------------------------------ classifier attribution
def test_classifier_attribution_names_the_program_that_tells_the_type_apart():
    act, labels = _planted_activity()
    out = P.classifier_attribution(act, labels, ["on_A", "bit_B", "flat"], epochs=200)
    assert list(out.columns) == [
        "program",
        "cell_type",
        "score",
        "method",
        "effect_size",
        "n_cells",
    ]
    assert (out["method"] == "classifier_attribution").all() and len(out) == 9
    assert _top(out, "A") == "on_A"
    s = out.set_index(["program", "cell_type"])
    assert s.loc[("on_A", "A"), "effect_size"] > 0 > s.loc[("on_A", "B"), "effect_size"]
    again = P.classifier_attribution(act, labels, ["on_A", "bit_B", "flat"], epochs=200)
    pd.testing.assert_frame_equal(out, again)  # seeded


# ------------------------------------------------------------------ ensembles
def test_ensemble_rows_mean_score_and_confidence_of_gene_set_programs():
    from scinterp.interpret.programs import ensemble_rows

    def table(scores):
        rows = [(p, "T", s, "program_vae") for p, s in scores.items()]
        return pd.DataFrame(rows, columns=["program", "cell_type", "score", "method"])

    a = table({"SET_A": 3.0, "SET_B": 2.0, "SET_C": 0.5, "denovo_0": 9.0})
    b = table({"SET_A": 1.0, "SET_B": 2.5, "SET_C": 0.1, "denovo_0": -9.0})
    out = ensemble_rows([a, b], ["SET_A", "SET_B", "SET_C"], top=1).set_index("program")
    assert out.loc["SET_A", "score"] == 2.0 and out.loc["SET_B", "score"] == 2.25
    # top 1 of member a is SET_A, of member b SET_B; SET_C is nobody's
    assert out["confidence"].to_dict()["SET_A"] == 0.5
    assert out.loc["SET_B", "confidence"] == 0.5 and out.loc["SET_C", "confidence"] == 0.0
    # a de novo unit means something else in each member: first model's score, no confidence
    assert out.loc["denovo_0", "score"] == 9.0 and np.isnan(out.loc["denovo_0", "confidence"])
    single = ensemble_rows([a], ["SET_A"], top=1)
    assert single["confidence"].isna().all() and single["score"].tolist() == a["score"].tolist()


# ------------------------------------------------------------------ compute_programs
def test_compute_programs_without_models_recovers_the_planted_sets(data):
    res = P.compute_programs(data["adata"], data["gmt"], {}, ctrl_size=10, dataset="tiny")
    assert set(res) == {
        "activity",
        "loadings",
        "denovo_enrichment",
        "denovo_matches",
        "cell_activity",
    }
    act = res["activity"]
    assert list(act.columns[: len(P.ACTIVITY_COLUMNS)]) == P.ACTIVITY_COLUMNS
    assert "confidence" in act and act["confidence"].isna().all()
    assert set(act["method"]) == {"score_genes", "classifier_attribution"}
    for t in TYPES:
        assert _top(act, t, "score_genes") == f"PROG_{t}"
        assert _top(act, t, "classifier_attribution") == f"PROG_{t}"
    sg = act[act["method"] == "score_genes"].set_index(["program", "cell_type"])
    assert sg.loc[("PROG_A", "A"), "score"] > 5 > abs(sg.loc[("DECOY", "A"), "score"])
    assert sg.loc[("PROG_A", "B"), "score"] < 0
    # no VAE: no loadings, the baseline's scores are the per-cell activities
    assert res["loadings"].empty and "weight" in res["loadings"]
    assert res["denovo_enrichment"].empty and res["denovo_matches"].empty
    cells = res["cell_activity"]
    assert cells.shape == (180, 4) and list(cells.var_names) == list(SETS)
    assert cells.uns["method"] == "score_genes" and cells.uns["label_key"] == "cell_type"
    np.testing.assert_array_equal(cells.obsm["X_umap"], data["adata"].obsm["X_umap"])
    np.testing.assert_array_equal(cells.obs["cell_type"], data["adata"].obs["cell_type"])
    # what the rule does: the file's path, X streamed in row chunks; the same tables
    from_file = P.compute_programs(str(data["path"]), data["gmt"], {}, ctrl_size=10)
    pd.testing.assert_frame_equal(from_file["activity"], act)
    np.testing.assert_allclose(from_file["cell_activity"].X, cells.X)


def test_compute_programs_with_trained_models(data, models):
    res = P.compute_programs(
        str(data["path"]),
        data["gmt"],
        {"program_vae": models["program_vae"], "capsule_classifier": models["capsule_classifier"]},
        ctrl_size=10,
        n_top_denovo=5,
        dataset="tiny",
    )
    act = res["activity"]
    assert set(act["method"]) == {"score_genes", "program_vae", "classifier_attribution", "capsule"}
    vae = act[act["method"] == "program_vae"]
    assert {"bayes_factor", "program_weight"} <= set(vae.columns)
    prior_units = vae[vae["program"].isin(list(SETS))]
    for t in TYPES:  # among the gene-set units, the planted one is the type's top program
        assert _top(prior_units, t) == f"PROG_{t}"
    vs = vae.set_index(["program", "cell_type"])
    assert vs.loc[("PROG_A", "A"), "score"] > 0 > vs.loc[("PROG_A", "B"), "score"]
    assert abs(vs.loc[("DECOY", "A"), "score"]) < vs.loc[("PROG_A", "A"), "score"] / 3
    caps = act[act["method"] == "capsule"]
    assert set(caps["program"]) == {*SETS, "remaining_genes"}
    assert caps["score"].between(0, 1).all() and (caps["n_cells"] == 60).all()

    load = res["loadings"]
    assert set(load["method"]) == {"program_vae"}
    prior = load[load["kind"] == "prior"]
    for name, genes in SETS.items():  # a prior program lists its set's genes
        assert sorted(prior.loc[prior["program"] == name, "gene"]) == sorted(genes)
    for _, grp in load.groupby("program"):
        assert grp["rank"].tolist() == list(range(1, len(grp) + 1))
        assert (grp["weight"].abs().diff().dropna() <= 1e-12).all()
    denovo = load[load["kind"] == "denovo"]
    assert denovo["program"].nunique() == 2 and denovo.groupby("program").size().max() == 5
    # the planted unit's genes go up with its activity (oriented weights)
    assert prior.loc[prior["program"] == "PROG_A", "weight"].median() > 0
    assert set(res["denovo_matches"]["program"]) == set(denovo["program"])
    cells = res["cell_activity"]
    assert cells.uns["method"] == "program_vae" and cells.shape[0] == 180
    assert list(cells.var_names[:4]) == list(SETS)


def test_ensemble_members_give_the_prior_programs_a_confidence(data, models):
    res = P.compute_programs(
        data["adata"],
        data["gmt"],
        {"program_vae": models["program_vae"]},
        member_dirs={"program_vae": [models["program_vae_seed1"]]},
        ctrl_size=10,
        confidence_top=1,
    )
    vae = res["activity"][res["activity"]["method"] == "program_vae"]
    prior = vae[vae["program"].isin(list(SETS))].set_index(["program", "cell_type"])
    assert prior["confidence"].between(0, 1).all()
    for t in TYPES:  # both seeds put the planted program first
        assert prior.loc[(f"PROG_{t}", t), "confidence"] == 1.0
    assert vae.loc[~vae["program"].isin(list(SETS)), "confidence"].isna().all()
    other = res["activity"][res["activity"]["method"] != "program_vae"]
    assert other["confidence"].isna().all()


def test_compute_programs_bad_input(data, models, tmp_path):
    fewer = data["adata"][:, 1:].copy()  # G0 gone: the model's genes are not all there
    with pytest.raises(ScinterpInputError, match="1 of the model's 60 genes are not in"):
        P.compute_programs(
            fewer, data["gmt"], {"program_vae": models["program_vae"]}, dataset="tiny"
        )
    unlabelled = data["adata"].copy()
    unlabelled.uns = {}
    del unlabelled.obs["cell_type"]
    with pytest.raises(ScinterpInputError, match="names no label column"):
        P.compute_programs(unlabelled, data["gmt"], {})
    foreign = _write_gmt(tmp_path / "foreign.gmt", {"X": ["NOPE1", "NOPE2", "NOPE3"]})
    with pytest.raises(ScinterpInputError):
        P.compute_programs(data["adata"], foreign, {}, dataset="tiny")
