"""The top-level ``compare`` switch (issue 32): by default the workflow computes what the
findings read; ``compare: true`` adds every model, attribution method and peer; a list
or switch the config sets wins either way."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml

from scinterp.config import apply_compare, compare_keys, schema_to_markdown


@pytest.fixture(scope="module")
def schema(repo):
    return yaml.safe_load((repo / "workflow" / "schemas" / "config.schema.yaml").read_text())


# the models the findings read (the identity consensus, programs, GRN, motifs) and those
# only compared (attention rows of the identity table, capsule rows of the programs table)
FINDINGS = ("mlp_classifier", "program_vae", "grn_sem", "seq_cnn")
COMPARED_ONLY = ("attention_classifier", "capsule_classifier")
# the GRN peers that compare: true switches on (regdiffusion stays off: its cost off a GPU)
PEERS = ("grnboost2", "spearman", "within_type_spearman")


def _models(schema):
    node = schema["properties"]["train"]["properties"]["models"]
    return node["default"], node["x-compare"]


def test_default_computes_what_the_findings_read(schema):
    default, full = _models(schema)
    assert set(FINDINGS) <= set(default) and not set(COMPARED_ONLY) & set(default)
    assert set(default) <= set(full) and set(COMPARED_ONLY) <= set(full)
    cfg = {"datasets": {}}
    filled = apply_compare(cfg, schema)
    assert cfg["train"]["models"] == default
    assert filled == {"train.models": default}
    # the other keys keep their schema defaults (filled in later by validate)
    props = schema["properties"]
    # the contract's attribution matrix: integrated gradients only
    assert props["attribution"]["properties"]["methods"]["default"] == ["integrated_gradients"]
    grn = props["branches"]["properties"]["grn"]["properties"]
    assert not any(grn[p]["default"] for p in PEERS)


def test_default_models_follow_the_identity_branch(schema):
    default, _ = _models(schema)
    cfg = {
        "branches": {
            "identity": {
                "model": "capsule_classifier",
                "consensus": ["attention", "contrastive_ig", "wilcoxon"],
            }
        }
    }
    apply_compare(cfg, schema)
    want = ["capsule_classifier" if m == "mlp_classifier" else m for m in default]
    want.insert(want.index("capsule_classifier") + 1, "attention_classifier")
    assert cfg["train"]["models"] == want


def test_compare_fills_every_marked_key_the_config_leaves_unset(schema):
    _, full = _models(schema)
    cfg = {"compare": True, "branches": {"grn": {"spearman": False}}}
    filled = apply_compare(cfg, schema)
    assert cfg["train"]["models"] == full
    assert cfg["attribution"]["methods"] == [
        "integrated_gradients",
        "deeplift",
        "gradient_shap",
        "saliency",
        "input_x_gradient",
        "ablation",
    ]
    assert cfg["branches"]["grn"]["grnboost2"] is True
    assert cfg["branches"]["grn"]["within_type_spearman"] is True
    assert cfg["branches"]["grn"]["spearman"] is False  # the config's own value wins
    assert "branches.grn.spearman" not in filled
    # every marked key is filled, and with a value its schema accepts
    marked = dict(compare_keys(schema))
    assert set(filled) == {".".join(k) for k in marked} - {"branches.grn.spearman"}
    from jsonschema import Draft202012Validator

    assert not list(
        Draft202012Validator(schema).iter_errors({"datasets": {"d": {"rna": "x.h5ad"}}, **cfg})
    )


def test_explicit_lists_win_with_compare(schema):
    cfg = {"compare": True, "train": {"models": ["grn_sem"]}, "attribution": {"methods": []}}
    apply_compare(cfg, schema)
    assert cfg["train"]["models"] == ["grn_sem"]
    assert cfg["attribution"]["methods"] == []


def test_readme_shows_the_compare_values(schema):
    default, full = _models(schema)
    text = schema_to_markdown(schema)
    row = next(line for line in text.splitlines() if line.startswith("| `train.models`"))
    assert f"`{json.dumps(default)}` (`compare: true`: `{json.dumps(full)}`)" in row
    assert any(line.startswith("| `compare` | boolean | `false`") for line in text.splitlines())


def _job_counts(repo, workdir, *extra) -> dict[str, int]:
    """Rule -> jobs of a dry run of the demo config (the simulated data not yet written)."""
    workdir.mkdir()
    cfg = workdir / "demo.yaml"
    cfg.write_text((repo / "config" / "config.yaml").read_text())
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir)]
        + ["-n", "--cores", "2", "--configfile", str(cfg), *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    stats = out[out.index("Job stats:") :].split("\n\n")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE)}


@pytest.mark.slow
def test_demo_dry_run_job_set(repo, tmp_path, schema):
    """The demo at its defaults: no job whose output no finding reads (one attribution
    method, no model or peer only compared), every branch's rules; compare: true the full
    set of models, six methods on the four attributed models, the GRN peers."""
    jobs = _job_counts(repo, tmp_path / "default")
    for rule in PEERS:
        assert rule not in jobs, jobs
    # integrated gradients of the attributed default models (the identity model and
    # program_vae): the attribution matrix the contract lists, and its sanity check
    assert jobs["attribute"] == 2, jobs
    assert jobs["attribution_sanity"] == 1, jobs
    default, full = _models(schema)
    assert jobs["train_model"] == len(default)  # the demo has every model's data
    for rule in (
        "rank_identity_genes",
        "evaluate_identity",
        "program_tables",
        "program_evaluation",
        "infer_grn",
        "evaluate_grn",
        "discover_motifs",
        "tf_activity",
        "evaluate_motifs",
        "test_conditions",
        "summary",
        "cell_activity",
    ):
        assert jobs.get(rule) == 1, (rule, jobs)

    compared = _job_counts(repo, tmp_path / "compare", "--config", "compare=True")
    assert compared["train_model"] == len(full)
    assert compared["attribute"] == 4 * 6  # three classifiers and program_vae, six methods
    for rule in ("attribution_sanity", *PEERS):
        assert compared.get(rule) == 1, (rule, compared)
    assert set(jobs) <= set(compared)
