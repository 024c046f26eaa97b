# Parameter sweeps (workflow/rules/sweep.smk): one Paramspace point per row of
# sweep.table, under results/{dataset}/sweep/{params}/ with {params} like
# "learning_rate~0.001_seed~0". Off (no rules, no targets) while sweep.table is null.
# Its config (the table, checked here at parse time), inputs and targets.
SWEEP = config["sweep"]
SWEEP_SPACE = None
if SWEEP["table"]:
    from snakemake.utils import Paramspace

    from scinterp.sweep import check_table, read_table

    _sweep_df = read_table(SWEEP["table"])
    check_table(
        _sweep_df, config["train"], config["attribution"], SWEEP["model"], path=SWEEP["table"]
    )
    SWEEP_SPACE = Paramspace(_sweep_df, filename_params="*", single_wildcard="params")
    for _ds in SWEEP["datasets"] or []:
        if _ds not in DATASETS:
            raise ScinterpInputError(
                f"sweep.datasets names '{_ds}', which is not a dataset of the config.",
                fix=f"use names from `datasets` ({', '.join(DATASETS)}), or null for all.",
            )


def sweep_enabled(dataset):
    return SWEEP_SPACE is not None and (
        SWEEP["datasets"] is None or dataset in SWEEP["datasets"]
    )


def sweep_point(wildcards):
    """The point's parameters (a dict, column -> value of the right type)."""
    return SWEEP_SPACE.instance(wildcards)


def sweep_point_dirs(wildcards):
    return [
        f"results/{wildcards.dataset}/sweep/{p}"
        for p in SWEEP_SPACE.instance_patterns
    ]


def sweep_identity_inputs(wildcards):
    base = f"results/{wildcards.dataset}/sweep/{wildcards.params}"
    return {
        "normalized": f"results/{wildcards.dataset}/normalized.h5ad",
        "model": f"{base}/model/model.pt",
        "attributions": [f"{base}/attribution/{m}.h5ad" for m in SWEEP["methods"]],
    }


def sweep_summary_inputs(wildcards):
    dirs = sweep_point_dirs(wildcards)
    inputs = {
        "genes": [f"{d}/identity/genes.tsv" for d in dirs],
        "histories": [f"{d}/model/history.tsv" for d in dirs],
    }
    if DATASETS[wildcards.dataset].get("truth"):
        inputs["markers"] = identity_truth(wildcards)
    return inputs


def sweep_targets(dataset):
    if not sweep_enabled(dataset):
        return []
    return [f"results/{dataset}/sweep/{f}" for f in ("summary.tsv", "summary.png")]


TARGETS.append(sweep_targets)
