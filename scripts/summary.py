"""Rule summary: the one-page findings summary of a dataset, as Markdown and HTML."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.report.summary import write_summary  # noqa: E402

sections = write_summary(
    snakemake.output.md,
    snakemake.output.html,
    {k: v for k, v in snakemake.input.items()},
    dataset=snakemake.params.dataset,
    switched_off=snakemake.params.switched_off,
)
logging.info("summary sections: %s", ", ".join(s.title for s in sections))
