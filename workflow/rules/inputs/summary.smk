# The findings summary and the exports (workflow/rules/summary.smk): summary.md/.html
# (the report's first page), cell_activity.h5ad and the branches' exports
# (grn/adjacencies.tsv) read what the branches that are switched on wrote, so this file
# comes after every branch's. Nothing here names a branch: each one's files, section and
# columns are in its Branch (scinterp.interpret.branches), why it is off in branch_off
# (common.smk).

for _b in branches():
    if f"{_b.name}_targets" not in globals():
        raise ScinterpInputError(
            f"branch {_b.name!r} is registered but no {_b.name}_targets(dataset) is "
            f"defined: is {_b.rules[0]} included and does it define it?",
            path=_b.rules[0],
            fix=f"define {_b.name}_targets(dataset) in {_b.rules[0]}",
        )


def branches_off(dataset):
    """Branch -> why it does not run on the dataset (config switch, missing data, no
    model); a branch that the data do not fit is in run/skipped.tsv instead (its reason
    there, with the skipped models')."""
    skipped = SKIPPED[dataset]
    off = {}
    for b in branches():
        reason = branch_off(b.name, dataset)
        if reason is not None and reason != skipped.get(f"branch {b.name}"):
            off[b.name] = reason
    return off


def summary_switched_off(wildcards):
    return branches_off(wildcards.dataset)


def summary_inputs(wildcards):
    """The tables and figures of every branch that runs on the dataset, by their
    Branch.summary_tables and summary_figures keys (those among its targets)."""
    d = wildcards.dataset
    r = f"results/{d}"
    inputs = {
        "qc_metrics": f"{r}/qc/metrics.tsv",
        "qc_plot": f"{r}/qc/qc.png",
        "umap": f"{r}/normalize/umap.png",
        "skipped": f"{r}/run/skipped.tsv",
    }
    inputs.update(zip(INTEGRATION_KEYS, integration_outputs(d)))
    for b in branches():
        on = set(branch_targets(b.name, d))
        inputs.update(
            {k: f"{r}/{f}" for k, f in b.summary_files().items() if f"{r}/{f}" in on}
        )
    return inputs


def cell_activity_inputs(wildcards):
    """normalized.h5ad and the per-cell files (Branch.cell_activity) of every branch
    that runs on the dataset."""
    d = wildcards.dataset
    inputs = {"normalized": f"results/{d}/normalized.h5ad"}
    for b in branches():
        if branch_on(b.name, d):
            inputs.update({k: f"results/{d}/{f}" for k, f in b.cell_activity.items()})
    return inputs


def summary_targets(dataset):
    out = [
        f"results/{dataset}/{f}"
        for f in ("summary.md", "summary.html", "cell_activity.h5ad")
    ]
    for b in branches():
        if branch_on(b.name, dataset):
            out += [f"results/{dataset}/{f}" for f in b.exports]
    return out


TARGETS.append(summary_targets)
