"""The bad-input battery of issue 34, library level: each finding's input is made here
(small, fast), and each test fails on the code before the fix. The workflow-level part
(terminal output, --keep-going) is tests/workflow/test_bad_input_workflow.py."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scinterp.config import (
    ScinterpConfigError,
    check_datasets,
    check_schema,
    config_problems,
    dataset_problems,
    gene_names,
    h5ad_names,
    keep_going_requested,
    schema_problems,
    skip_broken_datasets,
)
from scinterp.errors import ScinterpInputError
from scinterp.io import read_counts
from scinterp.io._check import h5ad_input_problems, sparse_structure_problem
from scinterp.preprocess.qc import MIN_BATCH_CELLS, adaptive_thresholds, qc_metrics, run_qc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bad_inputs import corrupt_indices, counts, truncate, write_legacy_h5ad  # noqa: E402

QC = {"doublets": False}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _write(adata, path) -> str:
    adata.write_h5ad(path)
    return str(path)


def _problems(path, **ds) -> str:
    """The config check's problems of one dataset, as one text."""
    found = dataset_problems("d", {"rna": str(path), **ds})
    for err in found:
        assert err.dataset == "d" and err.path == str(path) and err.fix, err
    return "\n".join(str(e) for e in found)


# ---------------------------------------------------------------- 1. silent QC failure
def _with_empty_and_damaged_cells(n_empty=3):
    a = counts(n_cells=400, n_genes=500, seed=1)
    X = a.X.toarray()
    rng = np.random.default_rng(1)
    X[:40, :5] *= rng.integers(6, 15, (40, 1))  # damaged cells: mito-heavy
    X[-n_empty:] = 0  # empty droplets
    a.X = sp.csr_matrix(X)
    return a


def test_empty_cells_do_not_silence_the_mito_threshold():
    a = _with_empty_and_damaged_cells()
    _, metrics, summary = run_qc(a, QC, None, "d")
    t = summary["thresholds"][0]
    assert np.isfinite(t["max_pct_mito"]) and t["max_pct_mito"] <= 20
    kept = metrics[metrics["keep"]]
    assert (kept["pct_mito"] <= 20).all() and not kept["pct_mito"].isna().any()
    assert summary["per_batch"]["all"]["high_mito"] >= 30  # the damaged cells
    assert not metrics["keep"].iloc[-3:].any()  # the empty cells
    assert metrics["pct_mito"].notna().all()


def test_a_small_batch_takes_the_thresholds_of_all_cells():
    a = counts(n_cells=203, n_genes=200, seed=2)
    a.obs["batch"] = pd.Categorical(["big"] * 200 + ["tiny"] * 3)
    m = qc_metrics(a, batch_key="batch")
    flags, thresholds = adaptive_thresholds(m, 3, max_pct_mito=20)
    t = thresholds.set_index("batch")
    assert t.loc["tiny", "thresholds_from"] == "all" and t.loc["big", "thresholds_from"] == "big"
    assert 3 < MIN_BATCH_CELLS <= 200
    # the 3 cells are ordinary cells: none is removed by a band drawn from 3 cells
    assert not flags.iloc[-3:].to_numpy().any()


# ------------------------------------------------------- 2. crashes with empty logs
def test_all_zero_matrix_is_refused_before_compute_and_by_qc(tmp_path):
    a = counts(n_cells=50, n_genes=40)
    a.X = sp.csr_matrix(a.shape, dtype=np.float32)
    path = _write(a, tmp_path / "zero.h5ad")
    assert "holds no counts" in _problems(path)
    for params in (QC, {**QC, "min_cells_per_gene": 0}):  # also after the old advice
        with pytest.raises(ScinterpInputError, match="every one of the 50 cells has 0 counts"):
            run_qc(read_counts(path, dataset="d"), params, None, "d")


def test_corrupted_index_block_is_caught_before_native_code(tmp_path):
    good = _write(counts(n_cells=200, n_genes=60, seed=3), tmp_path / "good.h5ad")
    bad = corrupt_indices(good, tmp_path / "corrupt.h5ad")
    assert "index is out of range (60 for 60 genes" in _problems(bad)
    with pytest.raises(ScinterpInputError, match="broken") as err:
        read_counts(bad, dataset="d")
    assert "Fix:" in str(err.value)
    # an indptr that goes backwards
    shutil_copy = tmp_path / "indptr.h5ad"
    shutil_copy.write_bytes(Path(good).read_bytes())
    with h5py.File(shutil_copy, "r+") as f:
        ip = f["X/indptr"][:]
        ip[50] = ip[60] + 5
        f["X/indptr"][:] = ip
        assert "indptr decreases" in sparse_structure_problem(f["X"])
    assert "indptr decreases" in _problems(shutil_copy)
    with h5py.File(good) as f:
        assert sparse_structure_problem(f["X"], chunk=7) is None  # many small blocks


def test_corrupted_atac_matrix_is_found_by_the_config_check(tmp_path):
    rna = _write(counts(n_cells=60, n_genes=40), tmp_path / "rna.h5ad")
    peaks = _write(counts(n_cells=60, n_genes=50, seed=9), tmp_path / "atac.h5ad")
    genome = tmp_path / "g.fa"
    genome.write_text(">chr1\nACGT\n")
    ds = {"rna": rna, "atac": str(peaks), "genome": str(genome)}
    assert dataset_problems("d", ds, motif_releases=["JASPAR2024"]) == []
    corrupt_indices(peaks, tmp_path / "bad_atac.h5ad")
    found = dataset_problems(
        "d", {**ds, "atac": str(tmp_path / "bad_atac.h5ad")}, motif_releases=["JASPAR2024"]
    )
    assert len(found) == 1 and "bad_atac.h5ad" in str(found[0]) and "broken" in str(found[0])


def test_corrupted_10x_h5_is_caught_before_scanpy_reads_it(tmp_path):
    from layouts import write_arc_h5

    a = counts(n_cells=50, n_genes=40, seed=3)
    path = write_arc_h5(tmp_path / "filtered_feature_bc_matrix.h5", a, None)
    assert read_counts(path, dataset="d").shape == (50, 40)
    with h5py.File(path, "r+") as f:
        f["matrix/indices"][10:20] = 40  # genes are the rows of 10x's CSC: 0..39
    with pytest.raises(ScinterpInputError, match="10x matrix '/matrix' is broken"):
        read_counts(path, dataset="d")
    assert "10x matrix '/matrix' is broken" in _problems(path)  # before compute too


def test_a_job_killed_by_a_signal_leaves_the_step_in_its_log(tmp_path):
    log = tmp_path / "job.log"
    code = (
        "import faulthandler, logging\n"
        "from scinterp.joblog import job_log\n"
        f"job_log({str(log)!r})\n"
        "logging.getLogger('scinterp').info('normalizing')\n"
        "def normalize_step():\n"
        "    faulthandler._sigsegv()\n"
        "normalize_step()\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert res.returncode != 0
    text = log.read_text()
    assert "normalizing" in text and "Segmentation fault" in text
    assert "normalize_step" in text


def test_a_job_stopped_by_bad_input_prints_the_message_on_the_terminal(tmp_path):
    log = tmp_path / "job.log"
    code = (
        "from scinterp.errors import ScinterpInputError\n"
        "from scinterp.joblog import job_log\n"
        f"job_log({str(log)!r})\n"
        "raise ScinterpInputError('no cell is left', dataset='d', path='x.h5ad', fix='relax')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert res.stderr.strip() == "scinterp: dataset 'd', file 'x.h5ad': no cell is left Fix: relax"
    assert "Traceback" in log.read_text() and "no cell is left" in log.read_text()


# ------------------------------------------------- 3. unlabelled cells as a cell type
def test_unlabelled_cells_and_tiny_types_are_not_ranked(tmp_path):
    from scinterp.interpret.identity import (
        IdentityOptions,
        method_summary,
        not_ranked_types,
        rank_identity_genes,
    )

    a = counts(n_cells=200, n_genes=60, seed=4)
    labels = a.obs["cell_type"].astype(object).to_numpy()
    labels[:10] = np.nan  # 5% without a label
    labels[10:12] = "rare"  # a 2-cell type
    a.obs["cell_type"] = pd.Categorical(labels)
    a.X = sp.csr_matrix(np.log1p(a.X.toarray()))
    a.uns["scinterp"] = {"label_key": "cell_type"}
    a.write_h5ad(tmp_path / "normalized.h5ad")
    options = IdentityOptions(consensus=("wilcoxon", "pairwise_auc"))
    table, *_ = rank_identity_genes(tmp_path / "normalized.h5ad", {}, options=options)
    assert set(table["cell_type"]) == {"type0", "type1", "type2"}
    left = pd.DataFrame(table.attrs["not_ranked"]).set_index("cell_type")
    method_summary(table, None, 3)  # what the rule does next: attrs pandas can compare
    assert set(left.index) == {"nan", "rare"}
    assert left.loc["nan", "n_cells"] == 10 and "no label" in left.loc["nan", "reason"]
    assert left.loc["rare", "n_cells"] == 2 and "too few cells" in left.loc["rare", "reason"]
    # with a model: the types it did not learn are the ones left out
    given_classes = not_ranked_types(["a"] * 5 + ["b"] * 4 + [None], classes=["a"])
    assert list(given_classes["cell_type"]) == ["a", "b", "None"][1:]


def test_the_findings_page_names_the_labels_not_ranked():
    from scinterp.report.summary import not_run_section

    not_ranked = pd.DataFrame(
        {"cell_type": ["nan", "rare"], "n_cells": [10, 2], "reason": ["no label", "too few"]}
    )
    table = not_run_section(None, None, not_ranked).blocks[-1].frame
    assert list(table["part"]) == ["identity of 'nan' (10 cells)", "identity of 'rare' (2 cells)"]
    assert list(table["reason"]) == ["no label", "too few"]
    assert not_run_section(None, None, not_ranked.iloc[:0]) is None


# ------------------------------------------ 4. the good messages, before compute
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("dup_genes", "gene names (var_names) are duplicated"),
        ("dup_cells", "cell names (obs_names) are duplicated"),
        ("log_normalized", "looks log-normalized"),
        ("negative", "holds negative values"),
        ("empty", "the matrix is empty (0 cells"),
        ("all_nan_labels", "holds no label"),
        ("nan_batches", "batch_key 'batch' is missing for 5 cells"),
    ],
)
def test_input_problems_are_found_by_the_config_check(tmp_path, case, expected):
    a = counts(n_cells=100, n_genes=50, seed=5)
    if case == "dup_genes":
        a.var_names = ["GENE1"] * 2 + list(a.var_names[2:])
    elif case == "dup_cells":
        a.obs_names = ["cell1"] * 2 + list(a.obs_names[2:])
    elif case == "log_normalized":
        a.X = a.X.copy()
        a.X.data = np.log1p(a.X.data)
    elif case == "negative":
        a.X = a.X.copy()
        a.X.data[:7] = -2
    elif case == "empty":
        a = a[:0].copy()
    elif case == "all_nan_labels":
        a.obs["cell_type"] = pd.Categorical([np.nan] * a.n_obs, categories=["x"])
    elif case == "nan_batches":
        b = a.obs["batch"].astype(object).to_numpy()
        b[:5] = np.nan
        a.obs["batch"] = pd.Categorical(b)
    path = _write(a, tmp_path / f"{case}.h5ad")
    text = _problems(path, label_key="cell_type", batch_key="batch")
    assert expected in text, text
    if case == "negative":  # named as negative, not as log-normalized
        assert "log-normalized" not in text
        with pytest.raises(ScinterpInputError, match="negative") as err:
            read_counts(path, dataset="d")
        assert "log-normalized" not in str(err.value)


def test_counts_in_raw_are_found_and_a_sound_file_has_no_problem(tmp_path):
    a = counts(n_cells=80, n_genes=40, seed=6)
    assert _problems(_write(a, tmp_path / "ok.h5ad"), label_key="cell_type") == ""
    a.raw = a.copy()
    a.X = sp.csr_matrix(np.log1p(a.X.toarray()))
    assert _problems(_write(a, tmp_path / "raw.h5ad")) == ""


def test_dense_matrices_are_sampled_by_rows(tmp_path):
    from scinterp.io._check import value_sample

    a = counts(n_cells=100, n_genes=50, seed=8)
    a.X = a.X.toarray()
    a.X[:, 3] = -1  # every row holds one negative value
    path = _write(a, tmp_path / "dense.h5ad")
    with h5py.File(path) as f:
        sample = value_sample(f["X"], n=500)  # 10 rows of 50 values
        assert sample.size == 500 and (sample == -1).sum() == 10
    assert "holds negative values" in _problems(path)


def test_every_problem_of_a_config_in_one_run(tmp_path):
    a = counts(n_cells=60, n_genes=30)
    a.var_names = ["GENE1"] * 2 + list(a.var_names[2:])
    dup = _write(a, tmp_path / "dup.h5ad")
    datasets = {
        "one": {"rna": dup, "label_key": "celltype"},
        "two": {"rna": str(tmp_path / "missing.h5ad")},
    }
    with pytest.raises(ScinterpConfigError) as err:
        check_datasets(datasets)
    msg = str(err.value)
    assert "dataset 'one'" in msg and "dataset 'two'" in msg
    assert "did you mean 'cell_type'" in msg and "duplicated" in msg and "missing.h5ad" in msg
    assert len(msg.splitlines()) <= 10


def test_a_new_check_is_one_function_in_the_list(tmp_path, monkeypatch):
    import scinterp.config as C

    path = _write(counts(n_cells=40, n_genes=30), tmp_path / "ok.h5ad")

    def check_sample_key(d):
        key = d.ds.get("label_key")
        if d.names is not None and key and d.obs_column(key).nunique() < 4:
            yield d.error(f"'{key}' has fewer than 4 values.", "choose another column.")

    monkeypatch.setattr(C, "DATASET_CHECKS", [*C.DATASET_CHECKS, check_sample_key])
    found = dataset_problems("d", {"rna": path, "label_key": "cell_type"})
    assert [str(e) for e in found] == [
        "dataset 'd', file '" + path + "': 'cell_type' has fewer than 4 values. "
        "Fix: choose another column."
    ]


def test_sound_datasets_are_not_read_again(tmp_path, monkeypatch):
    import scinterp.config as C

    path = _write(counts(n_cells=40, n_genes=30), tmp_path / "ok.h5ad")
    cache = tmp_path / "checked.json"
    assert config_problems({"d": {"rna": path}}, cache=cache) == {}
    monkeypatch.setattr(C, "dataset_problems", lambda *a, **k: pytest.fail("checked again"))
    assert config_problems({"d": {"rna": path}}, cache=cache) == {}


# ------------------------------------------------------ 5. config mistakes, briefly
@pytest.fixture(scope="module")
def schema(repo):
    return yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())


def test_schema_mistakes_in_short_lines_with_did_you_mean(schema, repo):
    config = {
        "datasets": {"d1": {"rna": "x.h5ad", "lable_key": "c"}, "my data": {"rna": "y.h5ad"}},
        "trian": {"epochs": 2},
    }
    lines = schema_problems(config, schema)
    text = "\n".join(lines)
    assert "unknown key 'trian' at the top level; did you mean 'train'?" in text
    assert "unknown key 'lable_key' in datasets.d1; did you mean 'label_key'?" in text
    assert "dataset name 'my data'" in text and "'my_data'" in text
    assert "properties" not in text and "$schema" not in text  # no schema dump
    with pytest.raises(ScinterpInputError) as err:
        check_schema(config, repo / "workflow/schemas/config.schema.yaml")
    assert len(str(err.value).splitlines()) <= 10


# ---------------------------------------------------- 6. one bad file, others run
def test_keep_going_skips_only_the_broken_dataset(tmp_path, capsys):
    good = _write(counts(n_cells=40, n_genes=30), tmp_path / "good.h5ad")
    broken = truncate(good, tmp_path / "broken.h5ad")
    datasets = {"good": {"rna": good}, "broken": {"rna": str(broken)}}
    problems = config_problems(datasets)
    assert list(problems) == ["broken"]
    assert list(skip_broken_datasets(datasets, problems, keep_going=True)) == ["good"]
    assert "dataset 'broken', file" in capsys.readouterr().err
    with pytest.raises(ScinterpConfigError, match="--keep-going"):
        skip_broken_datasets(datasets, problems, keep_going=False)


def test_keep_going_is_read_from_the_command_line_and_the_profile(tmp_path):
    assert keep_going_requested(["snakemake", "--cores", "2", "--keep-going"], {})
    assert keep_going_requested(["snakemake", "-k"], {})
    assert not keep_going_requested(["snakemake", "--cores", "2"], {})
    (tmp_path / "config.yaml").write_text("keep-going: true\n")
    assert keep_going_requested(["snakemake", "--profile", str(tmp_path)], {})
    assert keep_going_requested(["snakemake"], {"SNAKEMAKE_PROFILE": str(tmp_path)})


# ---------------------------------------------------------------- 7. legacy h5ad
def test_legacy_h5ad_passes_the_config_check_and_runs_qc(tmp_path):
    a = counts(n_cells=300, n_genes=200, seed=7)
    path = write_legacy_h5ad(a, tmp_path / "pbmc_2020.h5ad")
    with h5py.File(path) as f:  # the old layout: compound obs/var, no encoding attrs
        assert isinstance(f["var"], h5py.Dataset) and "encoding-type" not in f["X"].attrs
    names = h5ad_names(path)
    assert names["obs"] == ["cell_type", "batch"] and names["raw"] is False
    assert gene_names(path)[:2] == ["MT-0", "MT-1"]
    check_datasets({"pbmc": {"rna": str(path), "label_key": "cell_type", "batch_key": "batch"}})
    adata = read_counts(path, dataset="pbmc")
    assert adata.shape == (300, 200) and adata.obs["cell_type"].nunique() == 3
    filtered, metrics, _ = run_qc(adata, QC, "batch", "pbmc")
    assert filtered.n_obs > 250 and metrics["keep"].sum() == filtered.n_obs


# ------------------------------------------------ property-based: readers and QC
@st.composite
def small_counts(draw):
    n_cells = draw(st.integers(0, 25))
    n_genes = draw(st.integers(0, 10))
    values = draw(
        st.lists(
            st.integers(0, 40) | st.just(0), min_size=n_cells * n_genes, max_size=n_cells * n_genes
        )
    )
    X = np.asarray(values, dtype=np.float32).reshape(n_cells, n_genes)
    n_mito = draw(st.integers(0, n_genes))
    batches = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n_cells, max_size=n_cells))
    return X, n_mito, batches


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(small_counts())
def test_readers_and_qc_on_random_small_matrices(case):
    X, n_mito, batches = case
    n_cells, n_genes = X.shape
    genes = [f"MT-{i}" if i < n_mito else f"G{i}" for i in range(n_genes)]
    obs = pd.DataFrame({"batch": pd.Categorical(batches)}, index=[f"c{i}" for i in range(n_cells)])
    a = ad.AnnData(sp.csr_matrix(X), obs=obs, var=pd.DataFrame(index=genes))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.h5ad"
        a.write_h5ad(path)
        h5ad_input_problems(path, dataset="d", batch_key="batch")  # only returns problems
        try:
            adata = read_counts(path, dataset="d")
        except ScinterpInputError:
            event("refused by read_counts")
            return
    metrics = qc_metrics(adata, batch_key="batch")
    flags, thresholds = adaptive_thresholds(metrics, 3, max_pct_mito=20, min_genes=0)
    assert not thresholds.select_dtypes("number").isna().any().any(), thresholds
    kept = ~flags.any(axis=1).to_numpy()
    assert (metrics["pct_mito"].to_numpy()[kept] <= 20).all()
    assert (metrics["total_counts"].to_numpy()[kept] > 0).all()
    try:
        filtered, out, _ = run_qc(adata, QC, "batch", "d")
    except ScinterpInputError:
        event("refused by run_qc")
        return
    event("cells kept")
    assert (out.loc[out["keep"], "pct_mito"] <= 20).all() and filtered.n_obs > 0
