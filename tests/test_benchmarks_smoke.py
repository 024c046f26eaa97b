"""The benchmarks still run (issue 29 item 5): every script under benchmarks/ is imported
and its ``--smoke`` case (tiny data, one seed) is run in this process, into tmp folders.

The cheapest cases run in the fast suite; a case that needs seconds of training, a
Snakemake subprocess or a child per stage is marked slow. Datasets come from
benchmarks/datasets.py, built once per session into a tmp folder
(``SCINTERP_BENCH_DATASETS``), never into benchmarks/out/.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import yaml

from benchmarks import harness

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
# modules that are not a benchmark of their own
LIBRARY = {"__init__", "harness", "headline"}


def _scripts() -> list[str]:
    return sorted(p.stem for p in BENCH.glob("*.py") if p.stem not in LIBRARY)


# name -> (extra argv, {tmp folder argument}, slow)
CASES = {
    "datasets": (["--out", "{tmp}/datasets"], False),
    "attribution_throughput": (["--out", "{tmp}"], False),
    "train_throughput": (["--cache", "{tmp}", "--out", "{tmp}"], False),
    "doublets": (["--out", "{tmp}"], False),
    "programs": (["--out", "{tmp}"], True),
    "integration": (["--out", "{tmp}"], True),  # scib-metrics' JAX import alone: ~15 s
    "conditions": (["--out", "{tmp}"], True),
    "conditions_atlas": (["--workdir", "{tmp}"], True),
    "atlas": (["--workdir", "{tmp}"], True),  # a child process per stage
    "grn": (["--out", "{tmp}"], True),
    "grn_views": (["--out", "{tmp}"], True),
    # Snakemake subprocesses (qc + normalize, or snakemake -n)
    "atlas_workflow": (["--workdir", "{tmp}"], True),
    "generalization": (["--out", "{tmp}", "--train-seed", "7"], True),
    "grn_stability": (["--out", "{tmp}"], True),
    "stability": (["--out", "{tmp}"], True),
    "identity_sources": (["--out", "{tmp}"], True),
    "identity_fusion": (["--out", "{tmp}"], True),
}


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench_datasets")


@pytest.fixture
def isolated(monkeypatch, tmp_path, datasets_root):
    """Datasets in the session's tmp folder; module globals a smoke run sets put back."""
    monkeypatch.setenv("SCINTERP_BENCH_DATASETS", str(datasets_root))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    from benchmarks import doublets, grn, grn_views, stability

    monkeypatch.setattr(grn, "CONFIG_OVERRIDES", {})
    monkeypatch.setattr(doublets, "CACHE", tmp_path / "doublets_cache")
    monkeypatch.setattr(stability, "TRAIN_OVERRIDES", {})
    for mod, names in ((stability, ["OUT"]), (grn_views, ["OUT", "DATASETS"])):
        for n in names:
            monkeypatch.setattr(mod, n, getattr(mod, n))
    return tmp_path


def test_every_script_has_a_smoke_case():
    """A new benchmark script gets a --smoke case here (and in its parser)."""
    assert set(_scripts()) == set(CASES), "add the new script's --smoke case to CASES"
    for name in _scripts():
        text = (BENCH / f"{name}.py").read_text()
        assert '"--smoke"' in text, f"benchmarks/{name}.py has no --smoke"
        assert "sys.path.insert" not in text, f"benchmarks/{name}.py edits sys.path"


def test_every_benchmark_writes_harness_rows():
    """Each script that measures something records it through the harness (one schema,
    which the headline reads); datasets.py only builds data."""
    for name in set(_scripts()) - {"datasets"}:
        text = (BENCH / f"{name}.py").read_text()
        assert "write_results(" in text, f"benchmarks/{name}.py writes no harness rows"


@pytest.mark.parametrize("name", sorted(CASES))
def test_imports(name):
    mod = importlib.import_module(f"benchmarks.{name}")
    assert callable(mod.main)


def _params():
    return [
        pytest.param(n, marks=pytest.mark.slow) if slow else n
        for n, (_, slow) in sorted(CASES.items())
    ]


@pytest.mark.parametrize("name", _params())
def test_smoke(name, isolated, capsys):
    argv = [a.replace("{tmp}", str(isolated)) for a in CASES[name][0]]
    mod = importlib.import_module(f"benchmarks.{name}")
    out = mod.main(["--smoke", *argv])
    printed = capsys.readouterr().out
    CHECKS[name](isolated, out, printed)


# ------------------------------------------------------------------ what each one made
def _datasets(tmp, out, printed):
    meta = json.loads((tmp / "datasets" / "krumsiek11" / "meta.json").read_text())
    assert meta["n_cells"] == 640 and meta["n_genes"] == 11
    assert (tmp / "datasets" / "krumsiek11" / "config.yaml").exists()


def _roles(tmp, benchmark) -> dict:
    """The harness rows ``tmp/results.json`` holds: method -> role (every row of
    ``benchmark``, each with a value)."""
    rows = harness.read_results(tmp / "results.json")
    assert rows and {r["benchmark"] for r in rows} == {benchmark}
    assert all(r["value"] is not None for r in rows)
    return {r["method"]: r.get("role") for r in rows}


def _attribution(tmp, out, printed):
    assert "naive per-cell Captum loop" in printed and "ours" in printed
    roles = _roles(tmp, "attribution_throughput")
    assert roles == {
        "integrated_gradients": "ours", "captum_batched": "peer", "captum_per_cell_loop": "peer"
    }  # fmt: skip
    assert out[0]["value"] > 0 and out[0]["cpu_s"] is not None


def _train(tmp, out, printed):
    assert "300 cells: ours" in printed and "cells/s" in printed
    assert _roles(tmp, "train_throughput") == {"program_vae": "ours"}  # the peer: an extra
    assert out[0]["dataset"] == "300 x 50, 1 epoch(s)" and out[0]["cpu_s"] > 0


def test_train_quality_on_program_data(tmp_path, monkeypatch):
    """--quality's ours side on a program dataset (counts + .meta.json: gene names, the
    GMT's sets, donors): the program VAE gets those sets and the donor covariate, its
    validation -ELBO is logged per epoch; the rows say 'never reached' as None."""
    import numpy as np
    import scipy.sparse as sp

    import scinterp.train.loop as loop
    from benchmarks import train_throughput as tt

    monkeypatch.setattr(loop, "_run_epoch", loop._run_epoch)  # the worker wraps it
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(60)]
    counts = sp.csr_matrix(rng.poisson(3.0, size=(200, 60)).astype(np.float32))
    path = tmp_path / "tiny.npz"
    sp.save_npz(path, counts)
    sets = {"A": genes[:10], "B": genes[10:25], "C": genes[25:31]}
    meta = {"genes": genes, "gene_sets": sets, "batch": ["d1", "d2"] * 100}
    Path(f"{path}.meta.json").write_text(json.dumps(meta))
    ours = tt._quality_ours(str(path), 2, "program_vae")
    assert ours["n_sets"] == 3 and ours["n_latent"] == 3 + tt.N_DENOVO
    assert ours["epochs"] == 2 == len(ours["elbo"]) == len(ours["clock"])
    assert len(ours["val_idx"]) == 20 and np.isfinite(ours["elbo"]).all()
    ours["load"] = "1.0 1.0 1.0"
    peer = {**ours, "elbo": [min(ours["elbo"]) - 1.0], "train_s": 10.0, "cpu_s": 5.0}
    rows = tt.quality_rows(
        {"ours": ours, "peer": peer, "reached": None}, "tiny", "program_vae", {}, 1
    )
    assert [r["role"] for r in rows] == ["peer", "ours"] and rows[1]["value"] is None
    ldvae = tt.quality_rows({"ours": ours, "peer": peer, "reached": None}, "tiny", "ldvae", {}, 1)
    assert ldvae[1]["role"] is None and ldvae[1]["method"] == "ldvae"
    hit = {"epoch": 2, "wall_s": 2.5, "cpu_s": 2.0}
    rows2 = tt.quality_rows(
        {"ours": ours, "peer": peer, "reached": hit}, "tiny", "program_vae", {}, 1
    )
    assert rows2[1]["value"] == 2.5 and rows2[1]["wall_ratio"] == 0.25
    out = tmp_path / "quality.json"
    tt.merge_rows(rows, out)
    tt.merge_rows(rows2, out)  # the same dataset and method: replaced, not added
    back = harness.read_results(out)
    assert len(back) == 2 and back[1]["value"] == 2.5


def _doublets(tmp, out, printed):
    assert list(out["method"]) == ["ours_scrublet"]
    row = out.iloc[0]
    assert 0 <= row["doublets_removed"] <= 1 and 0.5 < row["good_kept"] <= 1
    saved = harness.read_results(tmp / "results.json")  # the harness's rows
    assert saved[0]["value"] == pytest.approx(row["doublets_removed"])


def _programs(tmp, out, printed):
    assert "activity AUROC" in printed and "smoke" in printed
    roles = _roles(tmp, "programs")
    assert roles["program_vae"] == "ours" and roles["score_genes"] == "peer"
    assert {r["case"] for r in out} == {"smoke"} and all(0 <= r["value"] <= 1 for r in out)


def _integration(tmp, out, printed):
    import pandas as pd

    res = pd.read_csv(tmp / "results.tsv", sep="\t")
    assert set(res["method"]) == {"unintegrated", "harmony", "scaled_harmony"}
    assert res["overall"].between(0, 1).all()
    roles = {r["method"]: r["role"] for r in harness.read_results(tmp / "results.json")}
    assert roles == {"unintegrated": None, "harmony": "peer", "scaled_harmony": "ours"}


def _conditions(tmp, out, printed):
    """The quick case (tests/test_benchmark_conditions.py tests its simulator and metrics):
    its rows, and the pseudoreplication trap it shows already."""
    saved = json.loads((tmp / "details.json").read_text())
    assert out["aggregate"] and saved["aggregate"].keys() == out["aggregate"].keys()
    assert "| design | method |" in (tmp / "results.md").read_text()
    roles = _roles(tmp, "conditions")
    assert roles["consensus"] == "ours" and roles["pydeseq2_pseudobulk"] == "peer"
    rows = harness.read_results(tmp / "results.json")  # the headline's rows
    assert {r["dataset"] for r in rows} == {"synthetic 3 vs 3"}
    de = {r["method"]: r for r in rows if r["metric"] == "auprc_de"}
    sig = out["aggregate"]["synthetic_3v3_signal"]["genes"]
    assert de["consensus"]["value"] == pytest.approx(sig["ours_consensus"]["auprc_de"])
    # cells as replicates: Wilcoxon on cells calls more false genes and trap genes
    pseudobulk = sig.get("ours_pseudobulk") or sig["pydeseq2"]
    assert sig["wilcoxon_cells"]["fdr"] > max(0.3, pseudobulk["fdr"])
    assert sig["wilcoxon_cells"]["trap_called"] > pseudobulk["trap_called"]


def _atlas(tmp, out, printed):
    import pandas as pd

    t = pd.read_csv(tmp / "atlas.tsv", sep="\t")
    assert list(t["stage"]) == ["simulate", "qc"]
    assert (t["cpu_s"] > 0).all() and (t["peak_mb"] > 0).all()  # the child's own, harness.run
    assert _roles(tmp, "atlas") == {"simulate": None, "qc": None}  # no peer
    assert [r["dataset"] for r in out] == ["1,000 cells"] * 2 and out[1]["cpu_s"] > 0


def _grn(tmp, out, printed):
    assert (tmp / "table.md").exists() and "krumsiek11" in (tmp / "table.md").read_text()
    rows = harness.read_results(tmp / "results.json")
    assert {r["role"] for r in rows if r["method"] in ("consensus", "spearman")} == {"ours", "peer"}


def _grn_views(tmp, out, printed):
    levers = json.loads((tmp / "krumsiek11" / "levers.json").read_text())
    assert levers["spearman"] > 0 and "base consensus" in levers
    roles = _roles(tmp, "grn_views")
    assert roles["base consensus"] == "ours" and roles["spearman"] == "peer"
    assert {r["value"] for r in out if r["method"] == "spearman"} == {levers["spearman"]}


def _atlas_workflow(tmp, out, printed):
    assert out == 0 and "snakemake -n" in printed and "train_model" in printed
    assert (tmp / "cells_1000" / "config.yaml").exists()
    # a finished run's rows (--collect-only on the files a run leaves)
    from benchmarks import atlas_workflow

    d = tmp / "cells_1000"
    (d / "run.json").write_text(json.dumps({"cells": 1000, "returncode": 0, "wall_s": 50.0}))
    bench = d / "results" / "atlas" / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "qc.tsv").write_text("s\th:m:s\tmax_rss\tcpu_time\n10.0\t0:00:10\t300.0\t8.0\n")
    argv = ["--collect-only", "--cells", "1000", "--workdir", str(tmp)]
    assert atlas_workflow.main(argv) == 0
    rows = {r["method"]: r for r in harness.read_results(tmp / "results.json")}
    assert rows["workflow"]["value"] == 20.0 and rows["qc"]["value"] == 100.0
    assert rows["qc"]["cpu_s"] == 8.0 and rows["workflow"]["peak_rss_mb"] == 300.0


def _generalization(tmp, out, printed):
    summary = json.loads((tmp / "summary.json").read_text())
    assert summary["krumsiek11"]["run"]["rc"] == 0
    assert (tmp / "tables.md").exists()
    cfg = yaml.safe_load((tmp / "krumsiek11" / "config.yaml").read_text())
    assert cfg["train"] == {"seed": 7}


def _grn_stability(tmp, out, printed):
    assert (tmp / "krumsiek11" / "nets.npz").exists()
    roles = _roles(tmp, "grn_stability")
    assert roles["spearman"] == roles["grnboost2"] == "peer"
    ours = [r for r in out if r["role"] == "ours"]
    assert [r["method"] for r in ours] == ["3 IG + 2 Sp + 1 DS (default), infer_grn, x1"]


def _stability(tmp, out, printed):
    assert list(tmp.glob("identity_*.tsv"))
    _roles(tmp, "stability")
    roles = {(r["method"], r["metric"]): r["role"] for r in out}
    assert roles == {  # K = 1 only: one model, the peer of larger ensembles
        ("consensus x1", "jaccard_top20"): "peer",
        ("contrastive_ig x1", "jaccard_top20"): None,
        ("consensus x1", "precision_at_10"): None,
    }
    assert all(0 <= r["value"] <= 1 for r in out)


def _identity_sources(tmp, out, printed):
    assert (tmp / "scores.tsv").exists() and (tmp / "summary.md").exists()
    roles = _roles(tmp, "identity_sources")
    assert roles["logistic_weights l2=1 min"] == "ours" and roles["wilcoxon"] == "peer"
    assert {r["dataset"] for r in out} == {"gp_programs_sparse"}


def _identity_fusion(tmp, out, printed):
    assert "margin over Wilcoxon" in printed and "gp_programs_sparse" in printed
    roles = _roles(tmp, "identity_fusion")
    assert roles["default"] == "ours" and roles["run:wilcoxon"] == "peer"


def _conditions_atlas(tmp, out, printed):
    assert out["parts"]["pydeseq2"]["calls"] == 4  # one fit per cell type
    roles = _roles(tmp, "conditions_atlas")
    assert roles["scinterp conditions.run"] == "ours" and roles["issue 30 bound"] == "target"


CHECKS = {
    "conditions_atlas": _conditions_atlas,
    "datasets": _datasets,
    "attribution_throughput": _attribution,
    "train_throughput": _train,
    "doublets": _doublets,
    "programs": _programs,
    "integration": _integration,
    "conditions": _conditions,
    "atlas": _atlas,
    "grn": _grn,
    "grn_views": _grn_views,
    "atlas_workflow": _atlas_workflow,
    "generalization": _generalization,
    "grn_stability": _grn_stability,
    "stability": _stability,
    "identity_sources": _identity_sources,
    "identity_fusion": _identity_fusion,
}


# ------------------------------------------------------------------ the harness itself
def test_harness_run_measures_the_child_alone(tmp_path):
    """harness.run: the child's own CPU and peak RSS (os.wait4), its exit code, its log."""
    code = "import numpy as np; a = np.ones(30_000_000); s = 0\nfor _ in range(3): s += a.sum()"
    res = harness.run(["python", "-c", code], log=tmp_path / "log")
    assert res.rc == 0 and (tmp_path / "log").exists()
    assert res.measure.peak_rss_mb > 200  # 240 MB of ones
    assert 0 < res.measure.cpu_s and res.measure.wall_s > 0
    bad = harness.run(["python", "-c", "raise SystemExit(3)"], capture=True)
    assert bad.rc == 3


def test_harness_run_timeout(tmp_path):
    res = harness.run(["sleep", "30"], timeout=0.5)
    assert res.rc == "timeout" and res.measure.wall_s < 10


def test_results_rows_one_schema(tmp_path):
    sw = harness.Stopwatch()
    rows = [harness.row("grn", "seed 0", "krumsiek11", "consensus", "auprc_ratio", 1.8, sw.stop())]
    path = harness.write_results(rows, tmp_path)
    back = harness.read_results(path)
    assert back[0]["value"] == 1.8 and set(harness.ROW_KEYS) <= set(back[0])
    with pytest.raises(ValueError, match="lacks"):
        harness.write_results([{"benchmark": "x"}], tmp_path / "bad.json")


# ------------------------------------------------------------------ the headline table
def test_headline_table_is_generated_from_the_results():
    """benchmarks/README.md's headline is what `python -m benchmarks.headline` makes of
    benchmarks/results/*.json (rerun it with --write after a results file changes)."""
    from benchmarks import headline

    text = headline.table()
    readme = headline.README.read_text()
    assert readme.startswith("# Benchmarks") and readme.index(headline.START) < 400
    assert f"{headline.START}\n{text}\n{headline.END}" in readme
    for path in sorted(headline.RESULTS_DIR.glob("*.json")):
        assert f"| {path.stem} |" in text
        assert path.stem in headline.WHAT, f"add what {path.stem} compares to headline.WHAT"


def test_headline_compares_with_a_target_where_no_peer_and_lower_wall_wins(tmp_path):
    from benchmarks import headline

    rows = [
        harness.row("b", "c", ds, m, "wall_s", v, commit="abc", date="2026-12-07", load=1, role=r)
        for ds, m, r, v in [
            ("demo", "defaults", "ours", 250.0), ("demo", "bound", "target", 300.0),
            ("pbmc", "defaults", "ours", 220.0), ("pbmc", "bound", "target", 240.0),
            ("pbmc", "other tool", "peer", 110.0),
        ]
    ]  # fmt: skip
    ratio, ds, ours, against = headline.summarize("b", rows)["worst"]
    # a peer wins over the target where there is one; lower wall time is better
    assert (ds, against, ratio) == ("pbmc", ("other tool", 110.0), 0.5)
    ratio, ds, ours, against = headline.summarize("b", rows[:4])["worst"]
    assert (ds, against) == ("pbmc", ("bound", 240.0)) and ratio == pytest.approx(240 / 220)


def test_headline_picks_the_worst_dataset(tmp_path):
    from benchmarks import headline

    rows = [
        harness.row("b", "c", ds, m, "auprc", v, commit="abc", date="2026-12-06", load=1, role=r)
        for ds, m, r, v in [
            ("easy", "ours", "ours", 4.0), ("easy", "p1", "peer", 2.0), ("easy", "p2", "peer", 1.0),
            ("hard", "ours", "ours", 1.0), ("hard", "p1", "peer", 0.5), ("hard", "p2", "peer", 2.0),
        ]
    ]  # fmt: skip
    s = headline.summarize("b", rows)
    ratio, ds, ours, peer = s["worst"]
    assert (ds, peer, ratio) == ("hard", ("p2", 2.0), 0.5)  # the best peer of that dataset
    assert s["median"] == pytest.approx((0.5 + 2.0) / 2)
    harness.write_results(rows, tmp_path / "b.json")
    assert "ours 1 vs p2 2 on **hard** (0.50x)" in headline.table(tmp_path)
    # rows of another metric (a file may hold several) do not enter the comparison
    other = [
        harness.row("b", "c", "hard", "p3", "auroc", 9.0, commit="def", date="2026-12-07",
                    load=1, role="peer"),
    ]  # fmt: skip
    s2 = headline.summarize("b", other + rows)
    assert s2["worst"] == s["worst"] and s2["commits"] == ["abc"]
    with pytest.raises(ValueError, match="no row with role 'ours'"):
        headline.summarize("b", other)
