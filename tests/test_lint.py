"""The code and the workflow stay lint-clean (ruff, snakemake --lint)."""

import shutil
import subprocess
import sys

import pytest


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean(repo):
    res = subprocess.run(["ruff", "check", "."], cwd=repo, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


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
