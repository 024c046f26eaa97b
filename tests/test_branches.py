"""The branch registry: lookup, order, off-reasons, models by role, and the summary and
export loops that read it (a toy branch registered for a test, forgotten after)."""

from __future__ import annotations

import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from scinterp.interpret import branches as registry
from scinterp.interpret.branches import Branch, branch, branch_names, branches, register_branch

BUILTIN = ["identity", "programs", "grn", "motifs"]


@pytest.fixture
def restore_registry(monkeypatch):
    """Registrations made by a test are forgotten after it."""
    branches()  # the built-ins loaded before the copy
    monkeypatch.setattr(registry, "BRANCHES", dict(registry.BRANCHES))


def test_builtin_branches_in_order():
    names = branch_names()
    assert [n for n in names if n in BUILTIN] == BUILTIN
    assert branch("grn").config_key == "branches.grn"
    assert branch("grn").rules == ("workflow/rules/inputs/grn.smk", "workflow/rules/grn.smk")


def test_unknown_branch_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown branch 'grnn'.*identity, programs, grn, motifs"):
        branch("grnn")


def test_every_branch_has_a_config_section_and_its_files(repo):
    schema = yaml.safe_load((repo / "workflow" / "schemas" / "config.schema.yaml").read_text())
    sections = schema["properties"]["branches"]["properties"]
    for b in branches():
        assert "enabled" in sections[b.name]["properties"], b.name
        for rules in b.rules:
            assert (repo / rules).is_file(), rules


def test_off_reasons_in_order():
    grn, motifs, programs = branch("grn"), branch("motifs"), branch("programs")
    ds = {"rna": "x.h5ad"}
    assert grn.off_reason(enabled=False, dataset=ds, models=["grn_sem"]) == (
        "branches.grn.enabled is false"
    )
    assert (
        motifs.off_reason(enabled=True, dataset=ds, models=[], registered=["seq_cnn"])
        == "the dataset has no atac data"
    )
    multiome = {**ds, "atac": "a.h5ad"}
    assert (
        motifs.off_reason(enabled=True, dataset=multiome, models=[], registered=["seq_cnn"])
        == "seq_cnn is not in train.models"
    )
    assert motifs.off_reason(enabled=True, dataset=multiome, models=["seq_cnn"]) is None
    # the data do not fit: the reason of run/skipped.tsv
    skipped = {"branch grn": "0 TFs of tfs.txt are genes of the data"}
    assert (
        grn.off_reason(enabled=True, dataset=ds, models=[], registered=["a", "b"], skipped=skipped)
        == "0 TFs of tfs.txt are genes of the data"
    )
    assert grn.off_reason(enabled=True, dataset=ds, models=[], registered=["a", "b"]) == (
        "a or b is not trained on this dataset (train.models or skipped)"
    )
    # the programs branch runs without a model (its score_genes baseline)
    assert programs.off_reason(enabled=True, dataset=ds, models=[]) is None


def test_branches_read_models_by_role(monkeypatch):
    from torch import nn

    from scinterp.models.registry import MODELS, ModelSpec, models_providing, register_model

    assert models_providing("network") == ["grn_sem"]
    assert models_providing("sequence") == ["seq_cnn"]
    assert set(models_providing("programs")) == {"program_vae", "ldvae", "capsule_classifier"}
    assert "attention_classifier" in models_providing("attention")
    with pytest.raises(ValueError, match="unknown role 'netwrk'.*network"):
        models_providing("netwrk")
    # a second GRN model provides a network by its kind: the grn branch reads it unchanged
    monkeypatch.setattr("scinterp.models.registry.MODELS", dict(MODELS))
    register_model(ModelSpec(name="toy_grn", cls=nn.Linear, kind="grn", build=dict))
    assert models_providing("network") == ["grn_sem", "toy_grn"]
    with pytest.raises(ValueError, match="unknown roles"):
        ModelSpec(name="bad", cls=nn.Linear, kind="grn", build=dict, provides=("edges",))


def _toy_section(table, extra=None, *, figures=()):
    from scinterp.report.summary import Section, Table

    sec = Section("Toy findings", [f"{len(table)} rows; extra {extra is not None}."])
    sec.blocks.append(Table(table.astype(str)))
    sec.blocks += [f"figure {caption}" for _, caption in figures]
    return sec


def _toy_columns(table, *, cells, **_):
    from scinterp.interpret.branches import Columns

    score = table.set_index("cell")["score"].astype(float).reindex(cells.obs_names)
    return Columns(score.to_numpy()[:, None], [("toy:score", "toy", "score", "toy", "", "")])


TOY = Branch(
    name="toy",
    order=25,
    reads=("cell_types",),
    summary_tables={"toy_table": "toy/table.tsv", "toy_extra": "toy/extra.tsv"},
    summary_figures={"toy_plot": ("toy/plot.png", "the toy plot")},
    section=_toy_section,
    other_tools=("`toy/table.tsv`: for the toy viewer",),
    cell_activity={"toy_cells": "toy/cells.tsv"},
    columns=_toy_columns,
)


def test_a_registered_branch_is_listed_in_its_order(restore_registry):
    register_branch(TOY)
    assert branch_names()[:3] == ["identity", "programs", "toy"]
    clash = {"toy_table": "toy2/table.tsv"}
    with pytest.raises(ValueError, match="input keys \\['toy_table'\\] are branch 'toy'"):
        register_branch(Branch(name="toy2", order=60, summary_tables=clash, section=_toy_section))
    with pytest.raises(ValueError, match="without a section function"):
        Branch(name="toy3", order=1, summary_tables={"k": "t.tsv"})


def test_summary_shows_a_registered_branch(restore_registry, tmp_path):
    from scinterp.report.summary import build_summary, to_markdown

    register_branch(TOY)
    qc = tmp_path / "metrics.tsv"
    pd.DataFrame({"cell": ["a", "b"], "keep": [True, False]}).to_csv(qc, sep="\t", index=False)
    table = tmp_path / "table.tsv"
    pd.DataFrame({"gene": ["G1", "G2"], "score": [2.0, 1.0]}).to_csv(table, sep="\t", index=False)
    plot = tmp_path / "plot.png"
    plot.write_bytes(b"png")
    sections = build_summary({"qc_metrics": qc, "toy_table": table, "toy_plot": plot})
    titles = [s.title for s in sections]
    assert titles == ["Quality control", "Toy findings", "Files for other tools"]
    md = to_markdown(sections, "t", base=tmp_path)
    assert "2 rows; extra False." in md and "| G1 | 2.0 |" in md and "figure the toy plot" in md
    assert "`toy/table.tsv`: for the toy viewer" in md
    # without its main table: no section, and "Not run" gives the reason passed
    sections = build_summary({"qc_metrics": qc}, switched_off={"toy": "branches.toy.enabled"})
    assert "Toy findings" not in [s.title for s in sections]
    md = to_markdown(sections, "t")
    assert "| branch toy | branches.toy.enabled |" in md


def test_cell_activity_takes_a_registered_branch_columns(restore_registry):
    from scinterp.report.export import cell_activity

    register_branch(TOY)
    cells = ad.AnnData(
        X=np.ones((3, 2), dtype=np.float32),
        obs=pd.DataFrame(index=["c0", "c1", "c2"]),
        var=pd.DataFrame(index=["G1", "G2"]),
    )
    toy = pd.DataFrame({"cell": ["c2", "c0", "c1"], "score": [3.0, 1.0, 2.0]})
    out = cell_activity(cells, toy_cells=toy)
    assert list(out.var_names) == ["toy:score"] and out.var.loc["toy:score", "kind"] == "toy"
    np.testing.assert_array_equal(out.X.ravel(), [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="no branch contributes \\['toy_celss'\\]"):
        cell_activity(cells, toy_celss=toy)


def test_the_registry_imports_no_torch():
    """The Snakefile reads the registry at parse time: the branches' declarations must not
    pull in torch or captum."""
    code = (
        "import sys; from scinterp.interpret.branches import branches; branches(); "
        "print(sorted(m for m in ('torch', 'captum', 'scanpy') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
