"""Rule extract_atac: the peaks of a multiome rna file (10x ARC .h5, .h5mu) as an h5ad."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.io import read_atac, write_h5ad_atomic  # noqa: E402

par = snakemake.params
atac = read_atac(snakemake.input.rna, dataset=par.dataset, modality=par.modality or "atac")
logging.info(
    "dataset '%s': %d cells x %d peaks taken from %s",
    par.dataset,
    atac.n_obs,
    atac.n_vars,
    snakemake.input.rna,
)
write_h5ad_atomic(atac, snakemake.output.atac)
