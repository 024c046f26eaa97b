"""QC metrics, per-batch thresholds, doublets, run_qc and the qc script (scinterp.preprocess.qc)."""

from __future__ import annotations

import logging
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scinterp.errors import ScinterpInputError
from scinterp.preprocess.qc import (
    adaptive_thresholds,
    detect_doublets,
    fixed_thresholds,
    qc_metrics,
    run_qc,
)

REPO = Path(__file__).resolve().parents[1]
DS = "toy"


def make_counts(
    n_cells=400, n_genes=300, n_types=3, depth=(1.0, 2.0), n_low=0, n_doublets=0, seed=0
):
    """Synthetic counts: cell types with markers, batches of different depth,
    low-quality cells (few counts, mostly mitochondrial) and doublets (sums of two
    cells of different types). obs: cell_type, batch, quality (good/low_quality/doublet)."""
    rng = np.random.default_rng(seed)
    genes = [f"MT-{i}" for i in range(5)] + [f"RPL{i}" for i in range(5)]
    genes += [f"G{i}" for i in range(n_genes - 10)]
    base = rng.gamma(0.6, 1.0, n_genes)
    profiles = np.tile(base, (n_types, 1))
    for t in range(n_types):
        profiles[t, 10 + 20 * t + np.arange(20)] *= 8
    profiles /= profiles.sum(1, keepdims=True)
    batch = np.arange(n_cells) % len(depth)
    ctype = rng.integers(0, n_types, n_cells)
    lib = rng.lognormal(np.log(2000), 0.3, n_cells) * np.asarray(depth)[batch]
    X = rng.poisson(profiles[ctype] * lib[:, None]).astype(np.float32)
    quality = np.full(n_cells, "good", dtype=object)
    low = rng.choice(n_cells, n_low, replace=False)
    for i in low:
        X[i] = rng.poisson(profiles[ctype[i]] * lib[i] * 0.08)
        X[i, :5] += rng.poisson(lib[i] * 0.01, 5)
    quality[low] = "low_quality"
    good = np.flatnonzero(quality == "good")
    pairs = []
    while len(pairs) < n_doublets:
        i, j = rng.choice(good, 2, replace=False)
        if ctype[i] != ctype[j] and batch[i] == batch[j]:
            pairs.append((i, j))
    D = np.array([X[i] + X[j] for i, j in pairs]).reshape(-1, n_genes)
    X = np.vstack([X, D])
    obs = pd.DataFrame(
        {
            "cell_type": np.r_[ctype.astype(str), ["doublet"] * n_doublets],
            "batch": [f"b{b}" for b in np.r_[batch, [batch[i] for i, _ in pairs]]],
            "quality": np.r_[quality, ["doublet"] * n_doublets],
        },
        index=[f"cell{i}" for i in range(X.shape[0])],
    )
    return ad.AnnData(sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=genes))


def test_qc_metrics_hand_made():
    # genes: mouse-style lower-case mito, upper-case mito, two ribosomal, one other
    X = np.array([[1, 1, 2, 0, 6], [0, 0, 0, 0, 4], [5, 5, 0, 0, 0]], dtype=np.float32)
    a = ad.AnnData(
        sparse.csr_matrix(X),
        obs=pd.DataFrame({"b": ["x", "x", "y"]}, index=["c1", "c2", "c3"]),
        var=pd.DataFrame(index=["mt-Nd1", "MT-CO1", "Rpl3", "RPS6", "Actb"]),
    )
    m = qc_metrics(a, "MT-", ("RPS", "RPL"), batch_key="b")
    assert list(m.columns) == ["cell", "total_counts", "n_genes", "pct_mito", "pct_ribo", "batch"]
    assert list(m["cell"]) == ["c1", "c2", "c3"]
    np.testing.assert_allclose(m["total_counts"], [10, 4, 10])
    np.testing.assert_array_equal(m["n_genes"], [4, 1, 2])
    np.testing.assert_allclose(m["pct_mito"], [20, 0, 100])
    np.testing.assert_allclose(m["pct_ribo"], [20, 0, 0])
    assert list(m["batch"]) == ["x", "x", "y"]
    assert list(a.var["mito"]) == [True, True, False, False, False]


def test_adaptive_thresholds_are_per_batch():
    rng = np.random.default_rng(1)
    n = 300
    # batch "deep" is sequenced 4x deeper: its cells must not be flagged wholesale
    batch = np.repeat(["shallow", "deep"], n)
    counts = rng.lognormal(np.log(2000), 0.25, 2 * n) * np.where(batch == "deep", 4, 1)
    genes = counts**0.6
    mito = rng.normal(4, 1, 2 * n).clip(0)
    m = pd.DataFrame(
        {"total_counts": counts, "n_genes": genes.astype(int), "pct_mito": mito, "batch": batch}
    )
    # planted: a deep cell at the shallow median (low for its batch), a shallow cell
    # at 3x its depth, and a high-mito cell in each batch
    m.loc[n + 5, ["total_counts", "n_genes"]] = [2000, int(2000**0.6)]
    m.loc[7, ["total_counts", "n_genes"]] = [2000 * 6, int(12000**0.6)]
    m.loc[[11, n + 11], "pct_mito"] = 15
    flags, thr = adaptive_thresholds(m, 3, max_pct_mito=20, min_genes=0)
    assert flags.loc[n + 5, "low_counts"] and flags.loc[n + 5, "low_genes"]
    assert flags.loc[7, "high_counts"]
    assert flags.loc[11, "high_mito"] and flags.loc[n + 11, "high_mito"]
    assert not flags.loc[np.flatnonzero(mito < 1), "high_mito"].any()  # upper side only
    flagged = flags.any(axis=1)
    assert flagged[batch == "deep"].mean() < 0.05
    assert flagged[batch == "shallow"].mean() < 0.05
    assert set(thr["batch"]) == {"shallow", "deep"}
    t = thr.set_index("batch")
    assert t.loc["deep", "min_counts"] > 2 * t.loc["shallow", "min_counts"]
    # the same cells under one pooled batch: the deep outlier is no longer caught
    pooled, _ = adaptive_thresholds(m.assign(batch="all"), 3, max_pct_mito=20)
    assert not pooled.loc[n + 5, "low_counts"]


def test_adaptive_caps_and_constant_metrics():
    m = pd.DataFrame(
        {
            "total_counts": [1000.0] * 50,  # constant: MAD 0 must flag nobody
            "n_genes": [1500] * 49 + [120],
            "pct_mito": [0.0] * 49 + [30.0],
            "batch": "all",
        }
    )
    flags, _ = adaptive_thresholds(m, 3, max_pct_mito=20, min_genes=130)
    assert not flags["low_counts"].any() and not flags["high_counts"].any()
    assert flags.loc[49, "low_genes"]  # under the min_genes floor
    assert flags["low_genes"].sum() == 1
    assert flags.loc[49, "high_mito"] and flags["high_mito"].sum() == 1  # the cap


def test_min_genes_floor_scales_with_a_panel():
    """A 100-gene panel (median 80 detected genes): the default floor of 200 genes would
    remove every cell; it is capped at a fifth of the batch's median instead, per batch."""
    rng = np.random.default_rng(0)
    n = 400
    genes = np.r_[rng.integers(70, 90, n), rng.integers(700, 900, n)]
    m = pd.DataFrame(
        {
            "total_counts": genes * 3.0,
            "n_genes": genes,
            "pct_mito": 0.0,
            "batch": np.repeat(["panel", "wide"], n),
        }
    )
    m.loc[0, "n_genes"] = 10  # a damaged cell of the panel is still caught
    flags, thr = adaptive_thresholds(m, 3, max_pct_mito=20, min_genes=200)
    t = thr.set_index("batch")
    assert t.loc["panel", "min_genes"] < t.loc["panel", "max_genes"]
    assert flags.loc[0, "low_genes"]
    assert flags["low_genes"][m["batch"] == "panel"].sum() <= 5
    assert t.loc["wide", "min_genes"] >= 200  # whole-transcriptome batch: floor kept


def test_contradicting_thresholds_raise_before_compute():
    from scinterp.errors import ScinterpInputError
    from scinterp.preprocess.qc import check_qc_params

    with pytest.raises(ScinterpInputError, match="qc.max_counts"):
        check_qc_params({"mode": "fixed", "min_counts": 5000, "max_counts": 1000})


def test_fixed_thresholds():
    m = pd.DataFrame(
        {
            "total_counts": [100, 1000, 5000, 1000],
            "n_genes": [50, 300, 900, 300],
            "pct_mito": [1, 2, 3, 40],
            "batch": "all",
        }
    )
    flags, _ = fixed_thresholds(m, min_counts=500, max_counts=4000, min_genes=200, max_pct_mito=20)
    assert flags.loc[0, "low_counts"] and flags.loc[0, "low_genes"]
    assert flags.loc[2, "high_counts"] and flags.loc[3, "high_mito"]
    assert not flags.loc[1].any()


def test_scrublet_finds_synthetic_doublets():
    a = make_counts(n_cells=360, n_doublets=36, depth=(1.0,), seed=2)
    truth = (a.obs["quality"] == "doublet").to_numpy()
    d = detect_doublets(a, np.full(a.n_obs, "all"), random_state=0)
    called = d["predicted_doublet"].to_numpy()
    assert called[truth].mean() >= 0.6, called[truth].mean()
    assert called[~truth].mean() <= 0.05, called[~truth].mean()
    # deterministic given random_state
    d2 = detect_doublets(a, np.full(a.n_obs, "all"), random_state=0)
    np.testing.assert_array_equal(d["doublet_score"], d2["doublet_score"])


def test_scrublet_runs_on_a_batch_above_4096_cells():
    # scanpy's approximate-neighbour path (above 4,096 cells) crashed on scipy 1.17
    a = make_counts(n_cells=4400, n_doublets=132, depth=(1.0,), seed=5)
    truth = (a.obs["quality"] == "doublet").to_numpy()
    d = detect_doublets(a, np.full(a.n_obs, "all"), method="scrublet", random_state=0)
    assert d["doublet_score"].notna().all()
    called = d["predicted_doublet"].to_numpy()
    assert called[truth].mean() >= 0.5 and called[~truth].mean() <= 0.05


def test_scrublet_skips_small_batches(caplog):
    a = make_counts(n_cells=140, depth=(1.0,), seed=3)
    batches = np.r_[np.full(120, "big"), np.full(20, "tiny")]
    with caplog.at_level(logging.WARNING, logger="scinterp.preprocess.qc"):
        d = detect_doublets(a, batches)
    assert "batch 'tiny'" in caplog.text and "skipped" in caplog.text
    assert d["doublet_score"].iloc[120:].isna().all()
    assert d["doublet_score"].iloc[:120].notna().all()
    assert not d["predicted_doublet"].iloc[120:].any()


def test_run_qc_removes_planted_bad_cells(caplog):
    a = make_counts(n_cells=400, n_low=30, n_doublets=30, seed=4)
    with caplog.at_level(logging.INFO, logger="scinterp.preprocess.qc"):
        f, m, s = run_qc(a, {"min_genes": 20}, "batch", DS)
    assert list(m.columns[:6]) == [
        "cell",
        "total_counts",
        "n_genes",
        "pct_mito",
        "pct_ribo",
        "batch",
    ]
    assert m.columns[-2:].tolist() == ["keep", "quality"]
    assert {"doublet_score", "predicted_doublet", "reason"} <= set(m.columns)
    assert (m["reason"] == "").eq(m["keep"]).all()
    assert m.loc[~m["keep"], "reason"].str.contains("low_counts|high_mito|doublet").all()
    assert list(f.obs_names) == list(m.loc[m["keep"], "cell"])
    assert (f.var["n_cells"] >= 3).all()
    t = s["truth"]
    assert t["frac_low_quality_removed"] >= 0.9
    assert t["frac_doublets_removed"] >= 0.6
    assert t["frac_good_kept"] >= 0.95
    assert "good cells kept" in caplog.text and "batch b1" in caplog.text
    assert s["per_batch"]["b0"]["n_cells"] + s["per_batch"]["b1"]["n_cells"] == a.n_obs
    # raw counts are kept untouched
    np.testing.assert_array_equal(f.X[:3].toarray(), a[f.obs_names[:3], f.var_names].X.toarray())


def test_run_qc_no_cells_left():
    a = make_counts(n_cells=60, depth=(1.0,), seed=5)
    with pytest.raises(ScinterpInputError) as e:
        run_qc(
            a,
            {"mode": "fixed", "min_genes": 10_000, "doublets": False},
            None,
            DS,
            path="data/toy.h5ad",
        )
    msg = str(e.value)
    assert "dataset 'toy'" in msg and "data/toy.h5ad" in msg
    assert "no cell is left" in msg and "low_genes" in msg and "qc.min_genes" in msg


def test_qc_script(tmp_path, monkeypatch):
    """scripts/qc.py with the names the rule gives it; outputs and the log."""
    a = make_counts(n_cells=240, n_low=12, n_doublets=12, seed=6)
    a.layers["counts"] = a.X.copy()
    a.X = a.X.multiply(0.5).tocsr()  # .X is not counts: the script must use counts_layer
    rna = tmp_path / "rna.h5ad"
    a.write_h5ad(rna)
    out = tmp_path / "results"
    smk = SimpleNamespace(
        input=SimpleNamespace(rna=str(rna)),
        output=SimpleNamespace(
            metrics=str(out / "qc/metrics.tsv"),
            h5ad=str(out / "qc/filtered.h5ad"),
            plot=str(out / "qc/qc.png"),
        ),
        params=SimpleNamespace(
            dataset=DS,
            counts_layer="counts",
            symbol_key=None,
            species=None,
            modality=None,
            label_key="cell_type",
            batch_key="batch",
            qc={"min_genes": 20, "n_mads": 3},
        ),
        log=[str(tmp_path / "qc.log")],
        threads=1,
    )
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # the script redirects it to the log
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # and logging too
    runpy.run_path(str(REPO / "scripts/qc.py"), init_globals={"snakemake": smk})
    sys.stderr.close()
    m = pd.read_csv(out / "qc/metrics.tsv", sep="\t")
    assert len(m) == a.n_obs and m["keep"].dtype == bool
    f = ad.read_h5ad(out / "qc/filtered.h5ad")
    assert f.n_obs == m["keep"].sum() and "counts" not in f.layers
    assert np.all(f.X.data == np.round(f.X.data))
    assert (out / "qc/qc.png").stat().st_size > 1000
    text = (tmp_path / "qc.log").read_text()
    assert "ground truth" in text and "kept" in text
    assert sorted(p.name for p in (out / "qc").iterdir()) == [
        "filtered.h5ad",
        "metrics.tsv",
        "qc.png",
    ]
