"""Rule cell_activity: every branch's per-cell scores (identity, programs, TF activity), one
AnnData."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.io import write_h5ad_atomic  # noqa: E402
from scinterp.report.export import cell_activity, read_contribution  # noqa: E402

inp, par = snakemake.input, snakemake.params
# the path, not the AnnData: X is read in row chunks (an atlas's matrix is never held);
# every other input is a branch's per-cell file (Branch.cell_activity), by its key
adata = cell_activity(
    inp.normalized,
    n_genes=par.n_genes,
    seed=par.seed,
    dataset=par.dataset,
    **{k: read_contribution(v) for k, v in inp.items() if k != "normalized"},
)
logging.info("cell_activity: %d cells x %d scores", adata.n_obs, adata.n_vars)
write_h5ad_atomic(adata, snakemake.output.h5ad)
