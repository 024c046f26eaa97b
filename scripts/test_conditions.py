"""Rule test_conditions: the four tables of what changes between conditions
(scinterp.interpret.conditions.run), the sample as the unit."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import pandas as pd  # noqa: E402

from scinterp.interpret.conditions import ConditionsOptions, run  # noqa: E402
from scinterp.io import read_meta, write_tsv_atomic  # noqa: E402

normalized = snakemake.input.normalized
label_key = read_meta(normalized, ("uns",))["uns"].get("scinterp", {}).get("label_key")
inputs = {"normalized": normalized}
if "programs" in snakemake.input.keys():  # the programs branch's per-cell activity
    inputs["activity"] = snakemake.input.programs
design = snakemake.params.design
tables = run(
    inputs,
    ConditionsOptions.from_params(snakemake.params),
    dataset=snakemake.params.dataset,
    label_key=label_key or "leiden",
    n_jobs=snakemake.threads,
    **design,
)
skipped = []  # what was not tested and why: the findings page lists it
for name, table in tables.items():
    for reason in table.attrs.get("skipped", []):
        logging.info("%s: %s", name, reason)
        skipped.append((name, str(reason)))
    write_tsv_atomic(table, snakemake.output[name])
write_tsv_atomic(pd.DataFrame(skipped, columns=["table", "reason"]), snakemake.output.skipped)
