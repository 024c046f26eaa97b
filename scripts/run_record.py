"""Rule run_record: write the software versions and the config of this run."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115

from scinterp.applicability import write_skipped  # noqa: E402
from scinterp.record import write_run_record  # noqa: E402

write_run_record(
    snakemake.output.versions,
    snakemake.output.config,
    config=snakemake.params.config,
    dataset=snakemake.params.dataset,
)
write_skipped(snakemake.output.skipped, snakemake.params.skipped)
