"""The SLURM profile: every GPU rule goes to the GPU partition, its values parse, and the
rules' memory and time, which grow with their input, reach the jobs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import anndata as ad
import numpy as np
import pytest
import yaml
from scipy import sparse


def _rule_blocks(repo) -> dict[str, str]:
    """Rule name -> its text, from the rule files."""
    blocks = {}
    for smk in (repo / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"\n(?=\s*rule \w+:)", smk.read_text()):
            m = re.match(r"\s*rule (\w+):", block)
            if m:
                blocks[m.group(1)] = block
    return blocks


def _ensemble_models(repo) -> set[str]:
    """Registered models that a branch with an ``ensemble`` option may read: each has a
    rule train_members_<model> (defined in a loop in workflow/rules/train.smk)."""
    from scinterp.interpret.branches import branches
    from scinterp.models.registry import model_names, model_spec

    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())
    options = schema["properties"]["branches"]["properties"]
    roles = {r for b in branches() if "ensemble" in options[b.name]["properties"] for r in b.reads}
    return {m for m in model_names() if roles & set(model_spec(m).provides)}


def _gpu_rules(repo) -> set[str]:
    """Rules whose resources declare gpu=1, from the rule files; the loop's rules
    train_members_<model> by the models they are made for."""
    rules = {r for r, b in _rule_blocks(repo).items() if re.search(r"^\s*gpu=1,", b, re.M)}
    train = (repo / "workflow/rules/train.smk").read_text()
    loop = train[train.index('f"train_members_{_model}"') :]
    assert re.search(r"^\s*gpu=1,", loop, re.M)
    return rules | {f"train_members_{m}" for m in _ensemble_models(repo)}


def test_gpu_rules_go_to_the_gpu_partition(repo):
    profile = yaml.safe_load((repo / "config/profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    assert profile["default-resources"]["slurm_partition"] == "cpu"
    gpu = _gpu_rules(repo)
    assert {"train_model", "attribute"} <= gpu
    sets = profile["set-resources"]
    missing = sorted(r for r in gpu if sets.get(r, {}).get("slurm_partition") != "gpu")
    assert not missing, f"add `slurm_partition: gpu` for {missing} to the profile's set-resources"
    wrong = sorted(r for r, v in sets.items() if v.get("slurm_partition") == "gpu" and r not in gpu)
    assert not wrong, f"{wrong} are sent to the gpu partition without declaring gpu=1"


def test_memory_grows_with_attempt(repo):
    """The profile's own values (the default for a rule without resources, a site's
    override) grow with attempt like the rules' do."""
    profile = yaml.safe_load((repo / "config/profiles/slurm/config.yaml").read_text())
    entries = {**profile["set-resources"], "default-resources": profile["default-resources"]}
    for rule, res in entries.items():
        if "mem_mb" in res:
            expr = str(res["mem_mb"])
            assert "attempt" in expr, rule
            first, third = eval(expr, {"attempt": 1}), eval(expr, {"attempt": 3})  # noqa: S307
            assert third > first > 0, rule


def test_every_rule_asks_for_memory_and_time_that_grow(repo):
    """mem_mb() and runtime() of workflow/rules/common.smk: x attempt, + per GiB of input."""
    blocks = _rule_blocks(repo)
    assert len(blocks) > 30
    bad = sorted(
        r
        for r, b in blocks.items()
        if not re.search(r"^\s*mem_mb=mem_mb\(\d+(, \d+)?\),$", b, re.M)
        or not re.search(r"^\s*runtime=runtime\(\d+(, \d+)?\),$", b, re.M)
    )
    assert not bad, f"give {bad} `mem_mb=mem_mb(base[, per_gb])` and `runtime=runtime(...)`"


def test_the_profile_leaves_memory_and_time_to_the_rules(repo):
    """A constant in set-resources would replace a rule's input-sized request."""
    profile = yaml.safe_load((repo / "config/profiles/slurm/config.yaml").read_text())
    fixed = sorted(r for r, v in profile["set-resources"].items() if {"mem_mb", "runtime"} & set(v))
    assert not fixed, f"{fixed}: memory and time come from the rules (common.smk)"


def _sized_h5ad(path, gib):
    """A valid little .h5ad that is `gib` GiB on disk (a sparse file: no disk used)."""
    rng = np.random.default_rng(0)
    a = ad.AnnData(sparse.csr_matrix(rng.poisson(2.0, (60, 40)).astype(np.float32)))
    a.var_names = [f"G{i}" for i in range(40)]
    a.write_h5ad(path)
    os.truncate(path, int(gib * 2**30))


@pytest.mark.slow  # a Snakemake dry run: the fast suite runs none (tests/conftest.py)
def test_requests_grow_with_the_input(repo, tmp_path):
    """Through the profile, qc asks for 2000 MB + 1500 MB and 60 min + 2 min per GiB of
    its rna file: a 4 GiB file gets 8000 MB, a small one about 2000 MB."""
    for name, gib in (("small", 0.001), ("big", 4)):
        _sized_h5ad(tmp_path / f"{name}.h5ad", gib)
    cfg = {"datasets": {n: {"rna": str(tmp_path / f"{n}.h5ad")} for n in ("small", "big")}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(tmp_path)]
    cmd += [
        "--profile",
        str(repo / "config/profiles/slurm"),
        "--configfile",
        str(tmp_path / "config.yaml"),
    ]
    cmd += ["-n", "results/small/qc/metrics.tsv", "results/big/qc/metrics.tsv"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    got = {}
    for job in re.split(r"\n(?=rule \w+:)", out):
        m = re.search(r"wildcards: dataset=(\w+)", job)
        if job.startswith("rule qc:") and m:
            res_line = re.search(r"resources: (.*)", job).group(1)
            got[m.group(1)] = dict(kv.split("=", 1) for kv in res_line.split(", "))
    assert set(got) == {"small", "big"}, out[-3000:]
    small, big = got["small"], got["big"]
    assert int(big["mem_mb"]) == 2000 + 1500 * 4 and int(big["runtime"]) == 60 + 2 * 4
    assert int(small["mem_mb"]) == 2001 and int(small["runtime"]) == 60
