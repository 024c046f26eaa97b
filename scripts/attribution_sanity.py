"""Rule attribution_sanity: randomization check and convergence delta of every run."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.attribution.stage import plot_sanity, sanity_table  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

table = sanity_table(list(snakemake.input))
logging.info("\n%s", table.to_string())
write_tsv_atomic(table, snakemake.output.tsv)
plot_sanity(table, snakemake.output.png)
