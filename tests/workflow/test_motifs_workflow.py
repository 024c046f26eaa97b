"""Branch (iv) end to end: snakemake on tiny simulated ATAC data in a temporary directory."""

from __future__ import annotations

import anndata as ad
import pandas as pd
import pytest
import yaml

from scinterp.interpret.motifs import read_meme
from scinterp.simulate import write_demo

# the run_snakemake fixture's timeout (s), tests/workflow/conftest.py
SNAKEMAKE_TIMEOUT = 900

MOTIF_FILES = ("motifs.tsv", "motifs.meme", "tf_activity.tsv", "logos.png", "tf_activity.png")


def _write_config(path, datasets, **motifs):
    cfg = {
        "datasets": datasets,
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        "train": {"models": ["seq_cnn"], "seq_max_epochs": 4, "batch_size": 64, "seq_width": 300},
        "branches": {"motifs": motifs},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow  # a Snakemake dry run; tests/test_config.py checks check_datasets fast
def test_atac_without_genome_is_a_config_error(tmp_path, run_snakemake):
    """Caught when the workflow is parsed, before any job: names dataset, key and fix."""
    paths = {"rna": tmp_path / "rna.h5ad", "atac": tmp_path / "atac.h5ad"}
    for p in paths.values():
        p.write_bytes(b"")
    cfg = _write_config(
        tmp_path / "config.yaml", {"pbmc": {"rna": str(paths["rna"]), "atac": str(paths["atac"])}}
    )
    res = run_snakemake(tmp_path, "--configfile", str(cfg), "-n", timeout=300)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "dataset 'pbmc'" in out and "datasets.pbmc.genome" in out


@pytest.mark.slow
def test_motif_branch_contract(tmp_path, run_snakemake):
    paths = write_demo(tmp_path / "data", seed=1, n_cells=700, n_genes=900, n_peaks=600)
    ds = {
        "rna": str(paths["rna"]),
        "label_key": "cell_type",
        "batch_key": "batch",
        "atac": str(paths["atac"]),
        "genome": str(paths["genome"]),
        "truth": str(paths["motifs"].parent),
    }
    cfg = _write_config(
        tmp_path / "config.yaml",
        {"tiny": ds},
        n_per_type=20,
        n_refs=2,
        modisco_leiden_runs=2,
        modisco_min_metacluster_size=20,
        modisco_min_cluster_size=10,
        filter_max_motifs=5,
        n_background=30,
        chromvar_backgrounds=5,
    )
    targets = [f"results/tiny/motifs/{f}" for f in (*MOTIF_FILES, "evaluation.tsv")]
    res = run_snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", *targets)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]

    out = tmp_path / "results" / "tiny" / "motifs"
    motifs = pd.read_csv(out / "motifs.tsv", sep="\t", keep_default_na=False)
    contract = ["motif", "consensus", "n_seqlets", "match_id", "match_name", "qvalue"]
    assert list(motifs.columns[:6]) == contract
    assert set(motifs["method"]) <= {"modisco", "filters"}
    assert motifs["consensus"].str.fullmatch("[ACGT]+").all()
    meme = read_meme(out / "motifs.meme")
    assert [m[0] for m in meme] == list(motifs["motif"])
    # a named motif has a significant q-value; an unnamed one keeps its best guess
    named = motifs[motifs["match_name"] != ""]
    assert (pd.to_numeric(named["qvalue"]) < 0.05).all()

    activity = pd.read_csv(out / "tf_activity.tsv", sep="\t", keep_default_na=False)
    assert list(activity.columns[:3]) == ["cell_type", "motif", "score"]
    assert set(activity["motif"]) <= set(named["motif"])
    cells = ad.read_h5ad(out / "cell_activity.h5ad")
    assert cells.n_obs == ad.read_h5ad(paths["atac"]).n_obs

    evaluation = pd.read_csv(out / "evaluation.tsv", sep="\t")
    truth = pd.read_csv(paths["motifs"], sep="\t")
    assert set(evaluation["motif_id"]) == set(truth["motif_id"])
    assert {"recovered", "qvalue", "n_unmatched"} <= set(evaluation.columns)
    for rule in ("motif_peaks", "motif_contributions", "discover_motifs", "tf_activity"):
        assert (tmp_path / "logs" / "tiny" / f"{rule}.log").exists()
        assert (tmp_path / "results" / "tiny" / "benchmarks" / f"{rule}.tsv").exists()
