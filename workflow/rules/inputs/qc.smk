# Inputs and targets of the qc rules (workflow/rules/qc.smk). Their inputs (rna_input)
# and the config check of the qc section (check_qc_params) are in common.smk: the
# check runs before any job, with the other config checks.


def qc_targets(dataset):
    return [f"results/{dataset}/qc/metrics.tsv"]


TARGETS.append(qc_targets)
