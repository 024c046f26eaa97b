"""Real-world layouts end to end: a CELLxGENE-style h5ad (Ensembl IDs, feature_name symbols,
counts only in .raw) through QC to identity genes, and a Cell Ranger ARC multiome .h5 whose
peaks feed the motif branch (atac: from_rna). The files are made from the tiny simulated
data in the test (tests/layouts.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import pandas as pd
import pytest
import yaml

from scinterp.simulate import write_demo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from layouts import write_arc_h5, write_cellxgene_h5ad  # noqa: E402

pytestmark = pytest.mark.slow
# the run_snakemake fixture's timeout (s), tests/workflow/conftest.py
SNAKEMAKE_TIMEOUT = 1500


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("layouts")
    paths = write_demo(root / "data", seed=1, n_cells=700, n_genes=900, n_peaks=600)
    return root, paths


def test_cellxgene_h5ad_qc_to_identity(demo, run_snakemake):
    root, paths = demo
    rna = ad.read_h5ad(paths["rna"])
    atlas = root / "data" / "atlas.h5ad"
    written = write_cellxgene_h5ad(rna, atlas)
    cfg = {
        "datasets": {
            "atlas": {
                "rna": str(atlas),
                "symbol_key": "feature_name",
                "species": "human",
                "label_key": "cell_type",
                "batch_key": "batch",
                "gene_sets": str(paths["gene_sets"]),
                "tfs": str(paths["tfs"]),
            }
        },
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        "train": {"max_epochs": 15, "models": ["mlp_classifier"]},
        "attribution": {"max_cells": 150, "n_steps": 8, "methods": ["integrated_gradients"]},
        "branches": {
            "grn": {"enabled": False},
            "programs": {"enabled": False},
            "identity": {"ensemble": 1},
        },
    }
    path = root / "atlas.yaml"
    path.write_text(yaml.safe_dump(cfg))
    target = "results/atlas/identity/genes.tsv"
    res = run_snakemake(root, "--configfile", str(path), "--cores", "2", target)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]

    log = (root / "logs" / "atlas" / "qc.log").read_text()
    assert "taken from .raw.X" in log and "symbols of var['feature_name']" in log
    norm = ad.read_h5ad(root / "results" / "atlas" / "normalized.h5ad")
    # symbols are the names, the Ensembl IDs kept beside them
    assert set(norm.var_names) <= set(rna.var_names)
    id_of = pd.Series(written.var_names, index=rna.var_names)
    assert (norm.var["gene_ids"] == id_of[norm.var_names].to_numpy()).all()
    # the counts are .raw's integers, not .X's log values
    counts = norm.layers["counts"]
    assert (counts.data == counts.data.round()).all() and counts.data.max() > 10
    genes = pd.read_csv(root / target, sep="\t")
    assert genes["gene"].isin(rna.var_names).all()
    assert not genes["gene"].str.startswith("ENSG").any()
    markers = pd.read_csv(paths["markers"], sep="\t")
    top = genes[(genes["method"] == "consensus") & (genes["rank"] <= 20)]
    assert top["gene"].isin(markers["gene"]).mean() > 0.3  # the planted markers, by symbol


def test_arc_multiome_h5_feeds_the_motif_branch(demo, run_snakemake):
    root, paths = demo
    arc = write_arc_h5(
        root / "data" / "filtered_feature_bc_matrix.h5",
        ad.read_h5ad(paths["rna"]),
        ad.read_h5ad(paths["atac"]),
    )
    cfg = {
        "datasets": {
            "arc": {
                "rna": str(arc),
                "atac": "from_rna",
                "genome": str(paths["genome"]),
                "species": "human",
            }
        },
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        "train": {"models": ["seq_cnn"], "seq_max_epochs": 3, "batch_size": 64, "seq_width": 300},
        "branches": {
            "motifs": {
                "n_per_type": 20,
                "n_refs": 2,
                "modisco_leiden_runs": 2,
                "modisco_min_metacluster_size": 20,
                "modisco_min_cluster_size": 10,
                "filter_max_motifs": 5,
                "n_background": 30,
                "chromvar_backgrounds": 5,
            }
        },
    }
    path = root / "arc.yaml"
    path.write_text(yaml.safe_dump(cfg))
    targets = [f"results/arc/motifs/{f}" for f in ("motifs.tsv", "tf_activity.tsv")]
    res = run_snakemake(root, "--configfile", str(path), "--cores", "2", *targets)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]

    atac = ad.read_h5ad(root / "results" / "arc" / "atac.h5ad")
    truth = ad.read_h5ad(paths["atac"])
    assert atac.n_vars == truth.n_vars and {"chrom", "start", "end"} <= set(atac.var.columns)
    assert (atac.var["start"].to_numpy() == truth.var["start"].to_numpy()).all()
    motifs = pd.read_csv(root / targets[0], sep="\t", keep_default_na=False)
    assert list(motifs.columns[:6]) == [
        "motif",
        "consensus",
        "n_seqlets",
        "match_id",
        "match_name",
        "qvalue",
    ]
    activity = pd.read_csv(root / targets[1], sep="\t", keep_default_na=False)
    assert list(activity.columns[:3]) == ["cell_type", "motif", "score"]
    assert (root / "logs" / "arc" / "extract_atac.log").exists()
