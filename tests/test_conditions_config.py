"""The conditions branch's config: schema defaults, the design checks before any job,
the branch's registration (why it is off or skipped), its section and per-cell scores."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

from scinterp.config import dataset_problems
from scinterp.interpret.branches import branch
from scinterp.interpret.conditions import ConditionsOptions
from scinterp.interpret.conditions._branch import condition_columns, design_skip

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _schema():
    return yaml.safe_load(SCHEMA.read_text())


def test_schema_defaults_are_the_options_defaults():
    section = _schema()["properties"]["branches"]["properties"]["conditions"]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(ConditionsOptions)}
    wiring = {"enabled", "n_top_genes"}  # the workflow's own keys (WORKFLOW_KEYS)
    assert set(section) - wiring == set(fields)
    for name, default in fields.items():
        assert section[name]["default"] == default, name
        assert section[name]["description"]


def test_schema_has_the_dataset_keys():
    ds = _schema()["properties"]["datasets"]["additionalProperties"]["properties"]
    for key in ("sample_key", "condition_key", "reference", "contrasts"):
        assert ds[key]["default"] is None and ds[key]["description"]


def _h5ad(tmp_path, donors, conditions, n_per=12, name="rna.h5ad"):
    """Counts whose cells belong to ``donors`` (n_per each) in ``conditions``."""
    rng = np.random.default_rng(0)
    n = n_per * len(donors)
    obs = pd.DataFrame(
        {
            "cell_type": np.tile(["A", "B"], n // 2),
            "donor": np.repeat(donors, n_per),
            "condition": np.repeat(conditions, n_per),
        },
        index=[f"c{i}" for i in range(n)],
    )
    X = sp.csr_matrix(rng.poisson(2.0, size=(n, 30)).astype(np.float32))
    a = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(30)]))
    path = tmp_path / name
    a.write_h5ad(path)
    return str(path)


GOOD = (["d1", "d2", "d3", "d4"], ["healthy", "healthy", "disease", "disease"])


def _problems(path, **keys):
    found = dataset_problems("ds", {"rna": path, "label_key": "cell_type", **keys})
    for err in found:
        assert err.dataset == "ds" and err.path == path and err.fix
    return [str(e) for e in found]


def test_a_sound_design_passes(tmp_path):
    path = _h5ad(tmp_path, *GOOD)
    keys = dict(sample_key="donor", condition_key="condition", reference="healthy")
    assert _problems(path, **keys) == []
    assert _problems(path, **keys, contrasts=[["disease", "healthy"]]) == []


def test_condition_key_without_sample_key_is_an_error(tmp_path):
    path = _h5ad(tmp_path, *GOOD)
    (msg,) = _problems(path, condition_key="condition")
    assert "without sample_key" in msg and "cells" in msg
    assert "datasets.ds.sample_key" in msg


def test_a_sample_in_two_conditions_is_an_error(tmp_path):
    path = _h5ad(tmp_path, ["d1", "d1", "d2", "d3"], ["healthy", "disease", "healthy", "disease"])
    (msg,) = _problems(path, sample_key="donor", condition_key="condition")
    assert "sample 'd1'" in msg and "'donor'" in msg and "2 conditions" in msg
    assert "Fix:" in msg


def test_unknown_levels_and_columns_are_errors(tmp_path):
    path = _h5ad(tmp_path, *GOOD)
    keys = dict(sample_key="donor", condition_key="condition")
    (msg,) = _problems(path, **keys, reference="control")
    assert "reference 'control'" in msg and "healthy" in msg and "disease" in msg
    (msg,) = _problems(path, **keys, contrasts=[["treated", "healthy"]])
    assert "'treated'" in msg and "'condition'" in msg
    (msg,) = _problems(path, sample_key="donr", condition_key="condition")
    assert "sample_key 'donr' is not a column of obs; did you mean 'donor'?" in msg
    (msg,) = _problems(path, reference="healthy")
    assert "condition_key is not" in msg and "datasets.ds.condition_key" in msg


def test_a_condition_with_one_sample_skips_the_branch_without_error(tmp_path):
    path = _h5ad(tmp_path, ["d1", "d2", "d3"], ["healthy", "healthy", "disease"])
    keys = dict(sample_key="donor", condition_key="condition", reference="healthy")
    assert _problems(path, **keys) == []
    obs = ad.read_h5ad(path).obs
    why = design_skip(obs, keys, dataset="ds", path=path)
    assert "disease" in why and "1 sample" in why
    spec = branch("conditions")
    assert (
        spec.off_reason(enabled=True, dataset=keys, models=[], skipped={"branch conditions": why})
        == why
    )
    # two samples on both sides: runs
    obs4 = ad.read_h5ad(_h5ad(tmp_path, *GOOD, name="good.h5ad")).obs
    assert design_skip(obs4, keys) is None


def test_the_branch_is_off_without_condition_key_and_on_with_it():
    spec = branch("conditions")
    assert spec.order == 50 and not spec.needs_model
    why = spec.off_reason(enabled=True, dataset={"rna": "x.h5ad"}, models=[])
    assert "condition_key" in why
    keys = {"rna": "x.h5ad", "sample_key": "donor", "condition_key": "condition"}
    assert spec.off_reason(enabled=True, dataset=keys, models=[]) is None
    assert spec.off_reason(enabled=False, dataset=keys, models=[]) == (
        "branches.conditions.enabled is false"
    )


def _genes_table():
    rows = []
    for t in ("A", "B"):
        for i in range(30):
            up = t == "A" and i < 3
            rows.append(
                (t, f"g{i}", "disease_vs_healthy", 2.0 if up else 0.1, 0.001 if up else 0.8)
            )
    df = pd.DataFrame(rows, columns=["cell_type", "gene", "contrast", "log_fc", "p_value"])
    df["adj_p_value"] = np.where(df["p_value"] < 0.01, 0.01, 0.9)
    df["stat"], df["method"], df["confidence"] = 0.0, "consensus", 1.0
    return df


def test_section_names_responding_types_genes_and_abundance():
    from scinterp.report.summary import conditions_section, to_markdown

    celltypes = pd.DataFrame(
        {
            "cell_type": ["A", "B"],
            "contrast": "disease_vs_healthy",
            "score": [0.9, 0.5],
            "p_value": [0.01, 0.6],
            "adj_p_value": [0.02, 0.6],
            "n_cells": 100,
            "n_samples_test": 4,
            "n_samples_ref": 4,
            "method": "classifier",
        }
    )
    abundance = pd.DataFrame(
        {
            "cell_type": ["A", "B"],
            "contrast": "disease_vs_healthy",
            "log_fc": [1.0, -0.2],
            "p_value": [0.001, 0.5],
            "adj_p_value": [0.002, 0.5],
            "method": "propeller",
        }
    )
    skipped = pd.DataFrame(
        {"table": ["genes"], "reason": ["cell type C: 1 sample(s) in condition 'disease'"]}
    )
    md = to_markdown([conditions_section(_genes_table(), celltypes, None, abundance, skipped)], "t")
    assert "## What changes between conditions" in md
    assert "g0 (+; 0.01)" in md and "| B | 0.5 (0.6) | 4/4 | 0 | - |" in md
    assert "changed: A (+; 0.002)" in md
    assert "Not tested: cell type C: 1 sample(s) in condition 'disease'." in md


def test_cell_scores_are_higher_in_cells_expressing_the_raised_genes():
    rng = np.random.default_rng(1)
    X = rng.poisson(np.linspace(0.1, 6.0, 300), size=(200, 300)).astype(float)
    X[:100, :3] += rng.poisson(6.0, size=(100, 3))  # the first 100 cells raise g0-g2
    cells = ad.AnnData(np.log1p(X), var=pd.DataFrame(index=[f"g{i}" for i in range(300)]))
    cells.obs_names = [f"c{i}" for i in range(200)]
    cols = condition_columns(
        _genes_table(), cells=cells, source=cells, n_genes=20, seed=0, chunk_rows=None
    )
    assert cols.var[0][0] == "condition:disease_vs_healthy"
    assert cols.var[0][4] == "+g0,+g1,+g2"
    score = cols.X[:, 0]
    assert score[:100].mean() > score[100:].mean() + 1
    none = _genes_table().assign(adj_p_value=0.9)
    assert (
        condition_columns(none, cells=cells, source=cells, n_genes=20, seed=0, chunk_rows=None)
        is None
    )
