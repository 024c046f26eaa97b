"""Rule sweep_summary: compare the sweep's points (stability across seeds, precision@k)."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import pandas as pd  # noqa: E402

from scinterp.io import write_tsv_atomic  # noqa: E402
from scinterp.sweep import plot_summary, summarize  # noqa: E402

inp, par = snakemake.input, snakemake.params
markers = pd.read_csv(inp.markers, sep="\t") if "markers" in inp.keys() else None
summary = summarize(
    pd.DataFrame(par.points),
    [pd.read_csv(p, sep="\t") for p in inp.genes],
    [pd.read_csv(p, sep="\t") for p in inp.histories],
    k=par.k,
    markers=markers,
)
logging.info("\n%s", summary.to_string(index=False))
write_tsv_atomic(summary, snakemake.output.tsv)
plot_summary(summary, snakemake.output.png)
