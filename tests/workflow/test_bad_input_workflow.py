"""Bad input through snakemake (issue 34): one truncated file among two datasets. The
message (dataset, file, fix) reaches the terminal; without --keep-going nothing runs,
with it the broken dataset is skipped and the other one, a legacy (anndata < 0.7) h5ad,
runs through qc and normalize."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bad_inputs import counts, truncate, write_legacy_h5ad  # noqa: E402

pytestmark = pytest.mark.slow
SNAKEMAKE_TIMEOUT = 900


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    adata = counts(n_cells=300, n_genes=200)
    write_legacy_h5ad(adata, root / "legacy.h5ad")
    adata.write_h5ad(root / "modern.h5ad")
    truncate(root / "modern.h5ad", root / "truncated.h5ad")
    cfg = {
        "datasets": {
            "legacy": {"rna": "legacy.h5ad", "label_key": "cell_type", "batch_key": "batch"},
            "broken": {"rna": "truncated.h5ad", "label_key": "cell_type"},
        },
        "qc": {"doublets": False},
        "compare": True,  # every model: the prior-bound ones the data leave out are named
    }
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    return root


def _block(stderr: str, dataset: str) -> list[str]:
    """The lines of the terminal report about one dataset."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"dataset '{dataset}'"))
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    return lines[start:end]


def test_broken_dataset_stops_the_run_with_its_message(two_datasets, run_snakemake):
    res = run_snakemake(two_datasets, "-n", "--configfile", str(two_datasets / "config.yaml"))
    assert res.returncode != 0
    terminal = res.stdout + res.stderr  # snakemake prints a parse-time error on stdout
    block = _block(terminal, "broken")
    assert "truncated.h5ad" in block[0] and any("Fix:" in line for line in block)
    assert len(block) <= 10, block
    assert "--keep-going" in terminal  # the hint
    assert "Job stats" not in terminal  # no job planned


def test_keep_going_skips_the_broken_dataset_and_runs_the_other(two_datasets, run_snakemake):
    res = run_snakemake(
        two_datasets,
        "--cores",
        "2",
        "--keep-going",
        "results/legacy/normalized.h5ad",
        "--configfile",
        str(two_datasets / "config.yaml"),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    block = _block(res.stderr, "broken")
    assert "truncated.h5ad" in block[0] and "cannot be read" in "\n".join(block)
    assert "skipped for bad input" in res.stderr
    normalized = ad.read_h5ad(two_datasets / "results/legacy/normalized.h5ad")
    assert normalized.n_obs > 250 and "counts" in normalized.layers
    assert not (two_datasets / "results/broken").exists()
    # each part the priors leave out is named once on the terminal, not twice
    skipped = [line for line in res.stderr.splitlines() if "attention_classifier" in line]
    assert len(skipped) == 1, skipped
