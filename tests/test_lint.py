"""The code and the workflow stay lint-clean (ruff, snakemake --lint)."""

import re
import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean(repo):
    res = subprocess.run(["ruff", "check", "."], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow  # starts Snakemake: the fast suite runs none (tests/conftest.py)
def test_snakemake_lint_clean(repo):
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert "Congratulations, your workflow is in a good condition!" in out, out


INNER = """
import subprocess, sys
import pytest

def test_subprocess():
    subprocess.run([sys.executable, "-m", "snakemake", "--version"])

def test_error_caught():
    try:
        subprocess.run(["/usr/bin/snakemake", "-n"])
    except RuntimeError:
        pass

def test_api():
    import snakemake.api  # noqa: F401

def test_other_subprocesses_run():
    code = "print('snakemake')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "snakemake"

@pytest.mark.slow
def test_slow_may():
    with pytest.raises(FileNotFoundError):
        subprocess.run(["snakemake-no-such-binary"])
"""


def test_a_fast_test_that_starts_snakemake_fails(repo, tmp_path):
    """tests/conftest.py's guard: a test not marked slow that starts Snakemake (a
    subprocess, even one whose error it catches, or the API) fails and says why."""
    shutil.copy(repo / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: end to end\n")
    (tmp_path / "test_inner.py").write_text(INNER)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "test_inner.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = res.stdout + res.stderr
    # -rA's summary lines: "PASSED test_inner.py::name", "FAILED test_inner.py::name - ..."
    outcome = {
        m.group(2): m.group(1)
        for m in re.finditer(r"^(PASSED|FAILED|ERROR) test_inner\.py::(\w+)", out, re.M)
    }
    assert outcome == {
        "test_subprocess": "FAILED",
        "test_error_caught": "ERROR",  # the call passed; the guard fails it at teardown
        "test_api": "FAILED",
        "test_other_subprocesses_run": "PASSED",
        "test_slow_may": "PASSED",
    }, out
    assert "not marked slow: mark it @pytest.mark.slow" in out


def test_numba_leaves_torch_one_thread():
    """A numba parallel loop (scanpy's Wilcoxon here) under numba's OpenMP layer sets the
    OpenMP pool torch shares to NUMBA_NUM_THREADS; conftest sets one thread and the
    workqueue layer, so later torch tests do not spin a second thread on the shared
    machine (5-40x their CPU time under load)."""
    import anndata as ad
    import numpy as np
    import pandas as pd
    import scanpy as sc
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        a = ad.AnnData(
            rng.random((40, 5)).astype(np.float32),
            obs=pd.DataFrame({"t": np.repeat(["a", "b"], 20)}, index=[f"c{i}" for i in range(40)]),
        )
        a.obs["t"] = a.obs["t"].astype("category")
        sc.tl.rank_genes_groups(a, "t", method="wilcoxon")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
