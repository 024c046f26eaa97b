"""Rule run_record: write the software versions and the config of this run."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.applicability import write_skipped  # noqa: E402
from scinterp.report.record import write_run_record  # noqa: E402

write_run_record(
    snakemake.output.versions,
    snakemake.output.config,
    config=snakemake.params.config,
    dataset=snakemake.params.dataset,
)
write_skipped(snakemake.output.skipped, snakemake.params.skipped)
