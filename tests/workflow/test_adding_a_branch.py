"""Adding a branch touches the files README "How to extend" lists, and nothing else.

A copy of the repository gets a toy branch, written as a newcomer would from that list:
its library and ``_branch.py`` (one ``Branch``), a script, its two workflow files, its
config section in the schema and the regenerated config/README.md. The workflow then
runs it: the branch finds its model by role (``cell_types``, here the MLP), its section
is on summary.md, its column in cell_activity.h5ad, and when it is switched off (or has
no model) the "Not run" section says why. The files the toy touched are compared with
README's list, so the count README states stays true.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml

from scinterp.simulate import write_demo

pytestmark = pytest.mark.slow
SNAKEMAKE_TIMEOUT = 1200
# what the copy holds: the workflow and the package it runs
COPIED = ("Snakefile", "workflow", "scripts", "resources", "envs", "config", "src/scinterp")

# ---- the toy branch, file by file ---------------------------------------------------------
TOY_FILES = {
    "src/scinterp/interpret/toy/__init__.py": '''
        """A toy branch: the gene most raised in each cell type its model tells apart."""

        import json

        import anndata as ad
        import numpy as np
        import pandas as pd


        def toy_tables(normalized, model_json):
            """(top gene per cell type of the model's classes, each cell's total expression)."""
            a = ad.read_h5ad(normalized)
            meta = json.loads(open(model_json).read())["meta"]
            labels = a.obs[a.uns["scinterp"]["label_key"]].astype(str).to_numpy()
            X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
            rows = []
            for c in meta["classes"]:
                raised = X[labels == c].mean(0) - X.mean(0)
                g = int(np.argmax(raised))
                rows.append({"cell_type": c, "gene": a.var_names[g], "score": float(raised[g])})
            cells = pd.DataFrame({"cell": a.obs_names, "total": X.sum(1)})
            return pd.DataFrame(rows), cells


        def toy_section(table, *, figures=()):
            from scinterp.report.summary import Section, Table

            return Section("Toy genes", [f"{len(table)} cell types.", Table(table.astype(str))])


        def toy_columns(cells_table, *, cells, **_):
            from scinterp.interpret.branches import Columns

            total = cells_table.set_index("cell")["total"].astype(float).reindex(cells.obs_names)
            return Columns(total.to_numpy()[:, None], [("toy:total", "toy", "total", "toy", "", "")])
    ''',
    "src/scinterp/interpret/toy/_branch.py": """
        from scinterp.interpret.branches import Branch, register_branch

        register_branch(
            Branch(
                name="toy",
                order=50,
                reads=("cell_types",),
                summary_tables={"toy_genes": "toy/genes.tsv"},
                section="scinterp.interpret.toy:toy_section",
                cell_activity={"toy_cells": "toy/cells.tsv"},
                columns="scinterp.interpret.toy:toy_columns",
            )
        )
    """,
    "scripts/toy.py": """
        from scinterp.interpret.toy import toy_tables

        genes, cells = toy_tables(snakemake.input.normalized, snakemake.input.model)
        genes.to_csv(snakemake.output.genes, sep="\\t", index=False)
        cells.to_csv(snakemake.output.cells, sep="\\t", index=False)
    """,
    "workflow/rules/inputs/toy.smk": """
        def toy_targets(dataset):
            if not branch_on("toy", dataset):
                return []
            return [f"results/{dataset}/toy/{f}" for f in ("genes.tsv", "cells.tsv")]


        TARGETS.append(toy_targets)
    """,
    "workflow/rules/toy.smk": """
        rule toy:
            input:
                normalized="results/{dataset}/normalized.h5ad",
                model=branch_model_file("toy", "model.json"),
            output:
                genes="results/{dataset}/toy/genes.tsv",
                cells="results/{dataset}/toy/cells.tsv",
            script:
                "../../scripts/toy.py"
    """,
}
TOY_SCHEMA = {
    "description": "A toy branch.",
    "type": "object",
    "additionalProperties": False,
    "default": {},
    "properties": {"enabled": {"description": "Run it.", "type": "boolean", "default": True}},
}
# ---------------------------------------------------------------------------------------------


def _readme_branch_files(repo: Path) -> tuple[int, list[str]]:
    """The count and the numbered files of README "How to extend", **A branch**."""
    text = (repo / "README.md").read_text()
    block = text[text.index("**A branch**") :]
    block = block[: block.index("\n## ")]
    counts = {int(n) for n in re.findall(r"(\d+) files", block[: block.index("\n1. ")])}
    assert len(counts) == 1, f"README states several counts for a branch: {counts}"
    files = re.findall(r"^\d+\. `([^`]+)`", block, flags=re.M)
    return counts.pop(), files


@pytest.fixture(scope="module")
def toy_repo(repo, tmp_path_factory):
    """A copy of the workflow and package with the toy branch added; the files it touched."""
    root = tmp_path_factory.mktemp("toy_repo")
    for part in COPIED:
        src, dst = repo / part, root / part
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    for rel, code in TOY_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code).lstrip())
    schema_path = root / "workflow" / "schemas" / "config.schema.yaml"
    schema = yaml.safe_load(schema_path.read_text())
    schema["properties"]["branches"]["properties"]["toy"] = TOY_SCHEMA
    schema_path.write_text(yaml.safe_dump(schema, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    readme = subprocess.run(
        [sys.executable, "-m", "scinterp.config"], env=env, capture_output=True, text=True
    )
    assert readme.returncode == 0, readme.stderr
    (root / "config" / "README.md").write_text(readme.stdout)

    touched = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if "__pycache__" in rel:
            continue
        original = repo / rel
        if not original.exists() or not filecmp.cmp(path, original, shallow=False):
            touched.append(rel)
    return root, env, touched


def test_readme_lists_the_files_a_branch_touches(repo, toy_repo):
    _, _, touched = toy_repo
    count, listed = _readme_branch_files(repo)
    expected = sorted(f.replace("<branch>", "toy").replace("<rule>", "toy") for f in listed)
    assert touched == expected
    assert count == len(listed)


def _run(root, env, cfg, *targets):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "-d", str(root)]
    cmd += ["--configfile", str(cfg), "--cores", "2", *targets]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=SNAKEMAKE_TIMEOUT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]


def test_a_registered_branch_runs_through_the_workflow(toy_repo):
    root, env, _ = toy_repo
    paths = write_demo(root / "data", seed=3, n_cells=300, n_genes=900, n_peaks=100)
    off = {"enabled": False}

    def config(name, *, models=("mlp_classifier",), toy=True):
        cfg = {
            "datasets": {"ds": {"rna": str(paths["rna"]), "label_key": "cell_type"}},
            "normalize": {"n_top_genes": 300, "n_pcs": 10},
            "train": {"max_epochs": 2, "models": list(models)},
            "attribution": {"max_cells": 40, "methods": ["saliency"]},
            "branches": {
                "identity": off,
                "programs": off,
                "grn": off,
                "motifs": off,
                "toy": {"enabled": toy},
            },
        }
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    _run(root, env, config("on"))
    out = root / "results" / "ds"
    genes = pd.read_csv(out / "toy" / "genes.tsv", sep="\t")
    norm = ad.read_h5ad(out / "normalized.h5ad")
    assert set(genes["cell_type"]) == set(norm.obs["cell_type"].astype(str))
    summary = (out / "summary.md").read_text()
    assert "## Toy genes" in summary
    for _, row in genes.iterrows():
        assert f"| {row['cell_type']} | {row['gene']} |" in summary
    assert "branch toy" not in summary
    cells = ad.read_h5ad(out / "cell_activity.h5ad")
    assert cells.var.loc["toy:total", "kind"] == "toy"
    X = norm.X.toarray() if hasattr(norm.X, "toarray") else np.asarray(norm.X)
    np.testing.assert_allclose(
        cells[:, "toy:total"].X.ravel(), X.sum(1), rtol=1e-5
    )  # float32 in the export

    # switched off: its section and column go, "Not run" says why
    _run(root, env, config("off", toy=False))
    summary = (out / "summary.md").read_text()
    assert "## Toy genes" not in summary
    assert "| branch toy | branches.toy.enabled is false |" in summary
    assert "toy:total" not in ad.read_h5ad(out / "cell_activity.h5ad").var_names

    # no model of its role trained: off, and the reason names the models that could be
    _run(root, env, config("nomodel", models=()), "results/ds/summary.md")
    summary = (out / "summary.md").read_text()
    reason = re.search(r"\| branch toy \| (.*) \|", summary).group(1)
    assert reason.startswith("no model of ") and "mlp_classifier" in reason
