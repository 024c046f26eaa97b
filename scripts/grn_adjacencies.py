"""Rule grn_adjacencies: the consensus network as GRNBoost2/pySCENIC adjacencies."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import pandas as pd  # noqa: E402

from scinterp.io import write_tsv_atomic  # noqa: E402
from scinterp.report.export import grn_adjacencies  # noqa: E402

edges = pd.read_csv(snakemake.input.edges, sep="\t", keep_default_na=False)
write_tsv_atomic(grn_adjacencies(edges), snakemake.output.adjacencies)
