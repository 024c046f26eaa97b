"""Fixtures of the end-to-end workflow tests."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def run_snakemake(repo, request):
    """The workflow runner: ``run_snakemake(workdir, *args, timeout=None)`` runs
    ``snakemake -s <repo>/Snakefile -d workdir *args`` in a subprocess and returns the
    ``CompletedProcess`` (stdout and stderr captured as text). The timeout (seconds) is the
    test module's ``SNAKEMAKE_TIMEOUT`` (1500 where it sets none) unless the call gives one.
    Module-scoped, so that module-scoped fixtures that run the workflow can use it."""
    default = getattr(request.module, "SNAKEMAKE_TIMEOUT", 1500)

    def run(workdir, *args, timeout=None):
        cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir)]
        return subprocess.run(
            cmd + list(args), capture_output=True, text=True, timeout=timeout or default
        )

    return run
