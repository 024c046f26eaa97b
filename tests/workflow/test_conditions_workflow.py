"""End-to-end: the conditions branch on a small demo with 8 donors in two conditions
(tables, figures, evaluation against the planted truth, findings page, per-cell scores),
and a dataset whose disease condition has one donor: skipped, and the page says why."""

from __future__ import annotations

import anndata as ad
import pandas as pd
import pytest
import yaml

from scinterp.simulate import write_demo

pytestmark = pytest.mark.slow
# the run_snakemake fixture's timeout (s), tests/workflow/conftest.py
SNAKEMAKE_TIMEOUT = 1200
TABLES = {
    "genes": [
        "cell_type",
        "gene",
        "contrast",
        "log_fc",
        "stat",
        "p_value",
        "adj_p_value",
        "method",
        "confidence",
    ],
    "programs": [
        "cell_type",
        "program",
        "contrast",
        "effect",
        "stat",
        "p_value",
        "adj_p_value",
        "method",
    ],
    "celltypes": [
        "cell_type",
        "contrast",
        "score",
        "p_value",
        "adj_p_value",
        "n_cells",
        "n_samples_test",
        "n_samples_ref",
        "method",
    ],
    "abundance": ["cell_type", "contrast", "log_fc", "p_value", "adj_p_value", "method"],
}


@pytest.fixture(scope="module")
def conditions_run(tmp_path_factory, run_snakemake):
    root = tmp_path_factory.mktemp("conditions")
    paths = write_demo(root / "data", seed=0, n_cells=1500, n_genes=1000, n_peaks=200)
    rna = ad.read_h5ad(paths["rna"])
    # every disease cell from one donor: a condition with one sample
    donor = rna.obs["donor"].astype(str).where(rna.obs["condition"] == "healthy", "donor2")
    rna.obs["donor"] = donor.astype("category")
    one = root / "data" / "one_disease_donor.h5ad"
    rna.write_h5ad(one)
    design = {
        "label_key": "cell_type",
        "batch_key": "batch",
        "sample_key": "donor",
        "condition_key": "condition",
        "reference": "healthy",
    }
    cfg = {
        "datasets": {
            "tiny": {
                "rna": str(paths["rna"]),
                "truth": str(paths["rna"].parent / "truth"),
                **design,
            },
            "one": {"rna": str(one), **design},
        },
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        # no model: the programs branch's score_genes baseline feeds conditions/programs.tsv
        "train": {"models": [], "max_epochs": 2},
        "branches": {
            "identity": {"enabled": False},
            "grn": {"enabled": False},
            "motifs": {"enabled": False},
            "conditions": {"n_permutations": 50},
        },
    }
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    targets = [
        "results/tiny/summary.md",
        "results/tiny/conditions/evaluation.tsv",
        "results/tiny/cell_activity.h5ad",
        "results/one/summary.md",
    ]
    res = run_snakemake(root, "--configfile", str(config), "--cores", "2", *targets)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    return root / "results", paths


def test_tables_follow_the_contract(conditions_run):
    results, _ = conditions_run
    out = results / "tiny" / "conditions"
    for name, columns in TABLES.items():
        table = pd.read_csv(out / f"{name}.tsv", sep="\t")
        assert list(table.columns[: len(columns)]) == columns, name
        if name != "programs":
            assert len(table) and set(table["contrast"]) == {"disease_vs_healthy"}, name
    genes = pd.read_csv(out / "genes.tsv", sep="\t")
    assert {"pseudobulk", "consensus"} <= set(genes["method"])
    programs = pd.read_csv(out / "programs.tsv", sep="\t")
    assert len(programs)  # the programs branch's score_genes activity per cell
    skipped = pd.read_csv(out / "skipped.tsv", sep="\t")
    assert list(skipped.columns) == ["table", "reason"]
    for name in ("volcano", "heatmap", "abundance"):
        assert (out / f"{name}.png").stat().st_size > 10_000, name


def test_planted_changes_are_found(conditions_run):
    results, paths = conditions_run
    out = results / "tiny" / "conditions"
    ev = pd.read_csv(out / "evaluation.tsv", sep="\t")
    cons = ev[(ev["method"] == "consensus") & (ev["kind"] == "all")].iloc[0]
    assert cons["recall"] >= 0.5, ev.to_string()
    assert cons["precision"] >= 0.8, ev.to_string()
    de = ev[(ev["method"] == "consensus") & (ev["kind"] == "DE")].iloc[0]
    assert de["recall"] >= 0.7, ev.to_string()
    # the responding types respond more than the two that do not
    types = pd.read_csv(out / "celltypes.tsv", sep="\t").set_index("cell_type")["score"]
    assert types[["T cell", "Monocyte"]].min() > types[["Dendritic cell", "Erythroid"]].max()


def test_findings_page_and_cell_scores(conditions_run):
    results, _ = conditions_run
    summary = (results / "tiny" / "summary.md").read_text()
    assert "## What changes between conditions" in summary
    assert "**disease_vs_healthy**" in summary
    cells = ad.read_h5ad(results / "tiny" / "cell_activity.h5ad")
    col = "condition:disease_vs_healthy"
    assert cells.var.loc[col, "kind"] == "condition"
    score = pd.Series(cells[:, col].X.ravel(), index=cells.obs_names)
    by = score.groupby(cells.obs["condition"].astype(str)).mean()
    assert by["disease"] > by["healthy"]


def test_one_sample_condition_skips_the_branch_with_its_reason(conditions_run):
    results, _ = conditions_run
    assert not (results / "one" / "conditions").exists()
    summary = (results / "one" / "summary.md").read_text()
    assert "## What changes between conditions" not in summary
    line = next(x for x in summary.splitlines() if x.startswith("| branch conditions |"))
    assert "'disease' has 1 sample" in line
    skipped = pd.read_csv(results / "one" / "run" / "skipped.tsv", sep="\t")
    assert "branch conditions" in set(skipped["part"])
