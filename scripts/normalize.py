"""Rule normalize: log-normalization, HVGs, PCA, integration over batches (with a
batch_key), neighbours, UMAP, Leiden labels."""

import sys

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import scanpy as sc  # noqa: E402

from scinterp.preprocess.normalize import normalize_to_file, plot_umap  # noqa: E402

sc.settings.n_jobs = snakemake.threads
sc.settings.logfile = sys.stderr
par = snakemake.params
embedded = normalize_to_file(
    snakemake.input.h5ad,
    snakemake.output.h5ad,
    dict(par.normalize or {}),
    par.batch_key,
    par.label_key,
    par.dataset,
    condition_key=par.condition_key,
)
plot_umap(embedded, snakemake.output.umap)
