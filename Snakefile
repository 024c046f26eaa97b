# scinterp: interpretable deep learning for single-cell omics.
# Only wiring lives here; see workflow/rules/ for the steps.
from snakemake.utils import min_version

min_version("9.0")


# The demo config is the default. A config given on the command line replaces it
# instead of being merged into it, so `--configfile my.yaml` runs exactly my.yaml.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# What the stages share (config checks, shared inputs, models, targets), then each
# stage: its inputs file (config, input functions, targets) right before its rules.
include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/inputs/qc.smk"
include: "workflow/rules/qc.smk"
include: "workflow/rules/inputs/normalize.smk"
include: "workflow/rules/normalize.smk"
include: "workflow/rules/inputs/train.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/inputs/attribute.smk"
include: "workflow/rules/attribute.smk"
# The interpretation branches, as registered (scinterp.interpret.branches, in their
# order: identity, programs, grn, motifs, ...): each one's inputs file, then its rules.
for _branch in branches():
    for _rules in _branch.rules:

        include: _rules


include: "workflow/rules/inputs/report.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/inputs/sweep.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/inputs/summary.smk"
include: "workflow/rules/summary.smk"


rule all:
    default_target: True
    input:
        final_targets(),
