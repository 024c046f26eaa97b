"""The config schema and the checks run before any job starts."""

from __future__ import annotations

import copy
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from scinterp.config import check_datasets, h5ad_names
from scinterp.errors import ScinterpInputError


@pytest.fixture()
def schema(repo):
    return str(repo / "workflow" / "schemas" / "config.schema.yaml")


def _tiny_h5ad(path, obs_cols=("cell_type",), layers=()):
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.poisson(1.0, size=(20, 10)).astype(np.float32))
    obs = pd.DataFrame(
        {c: ["a"] * 10 + ["b"] * 10 for c in obs_cols}, index=[f"c{i}" for i in range(20)]
    )
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(10)]))
    for layer in layers:
        adata.layers[layer] = X.copy()
    adata.write_h5ad(path)
    return str(path)


def test_schema_fills_every_default(schema, repo):
    config = {"datasets": {"d1": {"rna": "x.h5ad"}}}
    validate(config, schema=schema)
    assert config["qc"]["mode"] == "adaptive"
    assert config["qc"]["n_mads"] == 3
    assert config["train"]["device"] == "auto"
    assert config["datasets"]["d1"]["label_key"] is None
    assert config["datasets"]["d1"]["motif_database"] == "JASPAR2024"
    assert config["branches"]["grn"]["enabled"] is True


def test_every_schema_key_has_description_and_default(repo):
    doc = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())

    def walk(node, path, need_default):
        assert "description" in node, f"{path} has no description"
        if need_default:
            assert "default" in node, f"{path} has no default"
        if node.get("type") == "object":
            if "properties" in node:
                assert node.get("additionalProperties") is False, f"{path} allows unknown keys"
            for key, sub in node.get("properties", {}).items():
                # an old spelling has none: the config sets it or it is not read
                need = key not in node.get("required", []) and not sub.get("deprecated")
                walk(sub, f"{path}.{key}", need_default=need)

    for key, sub in doc["properties"].items():
        walk(sub, key, need_default=key != "datasets")
    ds = doc["properties"]["datasets"]["additionalProperties"]
    assert ds["additionalProperties"] is False
    for key, sub in ds["properties"].items():
        assert "description" in sub, key
        if key not in ds["required"]:
            assert "default" in sub, key


@pytest.mark.parametrize(
    "bad",
    [
        {"datasets": {"d1": {"rna": "x.h5ad"}}, "qcc": {}},  # unknown top-level key
        {"datasets": {"d1": {"rna": "x.h5ad", "lable_key": "c"}}},  # typo in a dataset key
        {"datasets": {"bad name!": {"rna": "x.h5ad"}}},  # dataset name with bad characters
        {"datasets": {"d1": {"rna": "x.h5ad"}}, "qc": {"n_mads": -1}},
        {"datasets": {"d1": {"rna": "x.h5ad"}}, "train": {"device": "gpu"}},
        {"datasets": {}},
    ],
)
def test_schema_rejects(schema, bad):
    with pytest.raises(WorkflowError):
        validate(copy.deepcopy(bad), schema=schema)


def test_missing_file_names_dataset_file_and_fix(tmp_path):
    with pytest.raises(ScinterpInputError) as err:
        check_datasets({"pbmc": {"rna": str(tmp_path / "nope.h5ad")}})
    msg = str(err.value)
    assert "pbmc" in msg and "nope.h5ad" in msg and "Fix:" in msg


def test_label_key_not_in_obs(tmp_path):
    path = _tiny_h5ad(tmp_path / "a.h5ad", obs_cols=("cell_type", "sample"))
    assert h5ad_names(path)["obs"] == ["cell_type", "sample"]
    with pytest.raises(ScinterpInputError, match="label_key 'celltype'.*cell_type, sample"):
        check_datasets({"d": {"rna": path, "label_key": "celltype"}})
    with pytest.raises(ScinterpInputError, match="batch_key 'donor'"):
        check_datasets({"d": {"rna": path, "batch_key": "donor"}})
    check_datasets({"d": {"rna": path, "label_key": "cell_type", "batch_key": "sample"}})


def test_counts_layer_absent(tmp_path):
    path = _tiny_h5ad(tmp_path / "a.h5ad", layers=("raw_counts",))
    with pytest.raises(ScinterpInputError, match="counts_layer 'counts'.*raw_counts"):
        check_datasets({"d": {"rna": path, "counts_layer": "counts"}})
    check_datasets({"d": {"rna": path, "counts_layer": "raw_counts"}})


def test_atac_without_genome(tmp_path):
    path = _tiny_h5ad(tmp_path / "a.h5ad")
    with pytest.raises(ScinterpInputError, match="genome") as err:
        check_datasets({"d": {"rna": path, "atac": path}})
    assert "datasets.d.genome" in str(err.value)


def test_unknown_motif_database(tmp_path):
    path = _tiny_h5ad(tmp_path / "a.h5ad")
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\nACGT\n")
    with pytest.raises(ScinterpInputError, match="JASPAR1999"):
        check_datasets(
            {"d": {"rna": path, "atac": path, "genome": str(fa), "motif_database": "JASPAR1999"}},
            motif_releases=["JASPAR2024"],
        )


def test_not_an_h5ad(tmp_path):
    path = tmp_path / "broken.h5ad"
    path.write_text("not hdf5")
    with pytest.raises(ScinterpInputError, match="cannot be read as h5ad"):
        check_datasets({"d": {"rna": str(path)}})


def _dry_run(repo, workdir, *extra):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(repo / "Snakefile"),
            "-d",
            str(workdir),
            "-n",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # a Snakemake dry run: the fast suite runs none (tests/conftest.py)
def test_configfile_runs_exactly_its_datasets(repo, tmp_path):
    path = _tiny_h5ad(tmp_path / "mine.h5ad")
    cfg = tmp_path / "my.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"mine": {"rna": path, "label_key": "cell_type"}}}))
    res = _dry_run(repo, tmp_path, "--configfile", str(cfg))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "results/mine/qc/metrics.tsv" in out
    assert "results/demo" not in out and "simulate_demo" not in out


@pytest.mark.slow  # a Snakemake dry run (check_datasets is tested fast above)
def test_bad_config_stops_before_any_job(repo, tmp_path):
    cfg = tmp_path / "my.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"mine": {"rna": "missing.h5ad"}}}))
    res = _dry_run(repo, tmp_path, "--configfile", str(cfg))
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "dataset 'mine'" in out and "missing.h5ad" in out and "Fix:" in out


def test_config_readme_is_current(repo):
    from scinterp.config import schema_to_markdown

    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())
    current = (repo / "config" / "README.md").read_text()
    assert current == schema_to_markdown(schema), (
        "config/README.md is stale: run `python -m scinterp.config > config/README.md`"
    )


def test_schema_model_enums_follow_the_registry(schema):
    """The schema cannot import the registry: its model enums must list what it holds
    (a new model's register_model also goes into these enums)."""
    from scinterp.models.registry import MODELS, model_names

    props = yaml.safe_load(open(schema))["properties"]
    train = props["train"]["properties"]["models"]["items"]["enum"]
    identity = props["branches"]["properties"]["identity"]["properties"]["model"]["enum"]
    sweep = props["sweep"]["properties"]["model"]["enum"]
    assert train == model_names(), "train.models enum != registered models (in order)"
    assert set(identity) == set(model_names(kind="classifier")), (
        "branches.identity.model enum != registered classifiers"
    )
    sweepable = [n for n in model_names(kind="classifier") if MODELS[n].sweep_kwargs]
    assert set(sweep) == set(sweepable), "sweep.model enum != classifiers with sweep_kwargs"
