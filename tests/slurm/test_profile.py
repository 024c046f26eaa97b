"""The SLURM profile: every GPU rule goes to the GPU partition, its values parse."""

from __future__ import annotations

import re

import yaml


def _gpu_rules(repo) -> set[str]:
    """Rules whose resources declare gpu=1, from the rule files."""
    rules = set()
    for smk in (repo / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"\n(?=\s*rule \w+:)", smk.read_text()):
            m = re.match(r"\s*rule (\w+):", block)
            if m and re.search(r"^\s*gpu=1,", block, re.M):
                rules.add(m.group(1))
    return rules


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
    profile = yaml.safe_load((repo / "config/profiles/slurm/config.yaml").read_text())
    for rule, res in profile["set-resources"].items():
        if "mem_mb" in res:
            expr = str(res["mem_mb"])
            assert "attempt" in expr, rule
            first, third = eval(expr, {"attempt": 1}), eval(expr, {"attempt": 3})  # noqa: S307
            assert third > first > 0, rule
