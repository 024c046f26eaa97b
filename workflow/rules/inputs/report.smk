# The run record (run_record in workflow/rules/report.smk), its params and targets.


def skipped_of(wildcards):
    return SKIPPED[wildcards.dataset]


def report_targets(dataset):
    return [
        f"results/{dataset}/run/versions.tsv",
        f"results/{dataset}/run/config.yaml",
        f"results/{dataset}/run/skipped.tsv",
    ]


TARGETS.append(report_targets)
