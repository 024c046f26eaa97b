"""Check a Slurm test run: the contract outputs exist and every job went through sbatch.

    python tests/slurm/check.py RUNDIR SQUEUE_TXT SLURMCTLD_LOG [--sweep] [--demo]

``--demo``: the run is the built-in demo (dataset ``demo``, every branch), and every
output of the contract is checked, with the rules of every branch among the jobs.

SQUEUE_TXT is ``squeue --states=all -h -O "JobID:|,Name:|,Partition:|,State:|,
tres-per-job:|,tres-per-node:|,Comment:|,MinMemory:|,TimeLimit:"`` captured after the run.

Memory and time: every job asked for both, and the qc job for what rule qc computes from
its input (workflow/rules/common.smk: 2000 MB + 1500 MB per GiB of the rna file, at the
first attempt), not a constant of the profile.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import anndata as ad
import pandas as pd
import yaml

GPU_RULES = {
    "train_model",
    "attribute",
    "infer_grn",
    "regdiffusion",
    "motif_contributions",
    "tf_activity",
    "sweep_train",
    "sweep_attribute",
}
CONTRACT = {
    "qc/metrics.tsv": ["cell", "total_counts", "n_genes", "pct_mito", "keep"],
    "identity/genes.tsv": ["cell_type", "gene", "score", "rank", "method"],
    "models/mlp_classifier/history.tsv": ["epoch", "train_loss", "val_loss"],
    "run/versions.tsv": ["package", "version"],
    "conditions/genes.tsv": ["cell_type", "gene", "contrast", "log_fc", "adj_p_value", "method"],
    "conditions/celltypes.tsv": ["cell_type", "contrast", "score", "adj_p_value"],
    "conditions/abundance.tsv": ["cell_type", "contrast", "log_fc", "adj_p_value", "method"],
}
# the rest of the contract's tables, written by the demo's other branches
CONTRACT_DEMO = {
    "programs/activity.tsv": ["program", "cell_type", "score"],
    "programs/loadings.tsv": ["program", "gene", "weight"],
    "grn/edges.tsv": ["tf", "target", "score", "method"],
    "grn/metrics.tsv": ["method", "auprc", "auprc_ratio", "epr", "auroc"],
    "motifs/motifs.tsv": ["motif", "consensus", "n_seqlets", "match_id", "match_name", "qvalue"],
    "motifs/tf_activity.tsv": ["cell_type", "motif", "score"],
}
# (the demo runs at compare: false: integrated gradients only, no GRN peer job, issue 32)
DEMO_RULES = {
    "train_model",
    "rank_identity_genes",
    "infer_grn",
    "evaluate_grn",
    "discover_motifs",
    "tf_activity",
    "test_conditions",
}


def fail(msg: str) -> None:
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("rundir", type=Path)
    ap.add_argument("squeue", type=Path)
    ap.add_argument("ctld_log", type=Path)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--demo", action="store_true", help="the built-in demo, every branch")
    a = ap.parse_args()
    dataset = "demo" if a.demo else "tiny"
    out = a.rundir / "results" / dataset
    contract = {**CONTRACT, **(CONTRACT_DEMO if a.demo else {})}

    for rel, cols in contract.items():
        p = out / rel
        if not p.exists():
            fail(f"missing {p}")
        missing = set(cols) - set(pd.read_csv(p, sep="\t", nrows=5).columns)
        if missing:
            fail(f"{p} lacks columns {sorted(missing)}")
    for rel in (
        "qc/filtered.h5ad",
        "normalized.h5ad",
        "models/mlp_classifier/model.pt",
        # the attribution matrix: integrated gradients by default (compare: false too)
        "attribution/mlp_classifier/integrated_gradients.h5ad",
        "run/config.yaml",
        "identity/evaluation.tsv",
        *(("motifs/motifs.meme",) if a.demo else ()),
    ):
        if not (out / rel).exists():
            fail(f"missing {out / rel}")
    norm = ad.read_h5ad(out / "normalized.h5ad", backed="r")
    if "counts" not in norm.layers:
        fail("normalized.h5ad has no counts layer")
    # The run record: the config this run used (its dataset only) and the versions.
    used = yaml.safe_load((out / "run/config.yaml").read_text())
    given = yaml.safe_load((a.rundir / "config.yaml").read_text())
    # (the record also holds the schema's defaults for the keys the config left out)
    for section in ("datasets", "train", "attribution", "sweep"):
        if section not in given:
            continue
        want = given[section][dataset] if section == "datasets" else given[section]
        have = used[section][dataset] if section == "datasets" else used[section]
        wrong = {k: have.get(k) for k, v in want.items() if have.get(k) != v}
        if wrong:
            fail(f"run/config.yaml differs from the run's config in {section}: {wrong}")
    versions = pd.read_csv(out / "run/versions.tsv", sep="\t").set_index("package")["version"]
    for pkg in ("snakemake", "snakemake-executor-plugin-slurm", "torch", "scanpy"):
        if not isinstance(versions.get(pkg), str) or not versions.get(pkg):
            fail(f"run/versions.tsv lacks the version of {pkg}")
    genes = pd.read_csv(out / "identity/genes.tsv", sep="\t")
    if "consensus" not in set(genes["method"]):
        fail("identity/genes.tsv has no consensus rows")

    # Jobs: squeue lines "id|name|partition|state|tres/job|tres/node|comment|memory|time
    # limit"; the plugin names jobs by the run's UUID and puts "rule_<rule>_wildcards_..."
    # in the comment.
    jobs = [
        [f.strip() for f in line.split("|")]
        for line in a.squeue.read_text().splitlines()
        if line.strip()
    ]
    if not jobs:
        fail("squeue shows no job: nothing went through Slurm")
    by_rule: dict[str, list[list[str]]] = {}
    for j in jobs:
        m = re.match(r"rule_([A-Za-z0-9_]+?)(_wildcards_|$)", j[6])
        by_rule.setdefault(m.group(1) if m else j[6], []).append(j)
    print("jobs per rule:", {r: len(v) for r, v in sorted(by_rule.items())})
    needed = {"qc", "normalize", "train_model", "attribute", "rank_identity_genes"}
    if a.demo:
        needed |= DEMO_RULES
    if a.sweep:
        needed |= {"sweep_train", "sweep_attribute", "sweep_identity", "sweep_summary"}
    if needed - set(by_rule):
        fail(f"rules not seen by squeue: {sorted(needed - set(by_rule))}")
    for rule, js in by_rule.items():
        for j in js:
            if j[3] != "COMPLETED":
                fail(f"job {j[0]} ({rule}) ended {j[3]}")
            gpu = "gpu" in j[4] + j[5]
            on_gpu = rule in GPU_RULES or rule.startswith("train_members_")
            if on_gpu != gpu:
                fail(f"job {j[0]} ({rule}): TRES '{j[4]}' / '{j[5]}', partition {j[2]}")
            if on_gpu != (j[2] == "gpu"):
                fail(f"job {j[0]} ({rule}) ran in partition {j[2]}")
    # Memory (MinMemory, e.g. "2029M") and time limit (e.g. "1:00:00") of every job, and
    # qc's memory sized by its input: the rules' requests reach sbatch (the profile sets
    # none that would replace them).
    for rule, js in by_rule.items():
        for j in js:
            if not re.fullmatch(r"\d+[MG]", j[7]) or j[8] in ("", "UNLIMITED"):
                fail(f"job {j[0]} ({rule}): memory '{j[7]}', time limit '{j[8]}'")
    rna = given["datasets"][dataset]["rna"]
    rna = rna if os.path.isabs(rna) else a.rundir / rna
    want = int(2000 + 1500 * os.path.getsize(rna) / 2**30)
    asked = [int(j[7][:-1]) * (1024 if j[7].endswith("G") else 1) for j in by_rule["qc"]]
    if want not in asked:
        fail(f"qc asked for {asked} MB, its rna input sizes it at {want} MB")
    print(f"qc asked for {asked[0]} MB (2000 + 1500 per GiB of {os.path.getsize(rna)} bytes)")

    log = a.ctld_log.read_text()
    ids = [j[0] for j in jobs]
    unseen = [i for i in ids if not re.search(rf"JobId={i}\b", log)]
    if unseen:
        fail(f"slurmctld log does not mention jobs {unseen}")
    submitted = re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+)", log)
    nums = sorted(int(i) for i in ids)
    print(f"slurmctld: {len(submitted)} batch submissions, job ids {nums[0]}..{nums[-1]}")

    if a.sweep:
        summary = pd.read_csv(out / "sweep" / "summary.tsv", sep="\t")
        if len(summary) < 4:
            fail(f"sweep summary has {len(summary)} points, expected >= 4")
        print(summary.to_string(index=False))
    print("all checks passed")


if __name__ == "__main__":
    main()
