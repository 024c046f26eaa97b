"""Rule integration_metrics: scIB metrics of the PCA before and after integration,
the UMAPs before and after, and the batch/label confounding warnings."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import scanpy as sc  # noqa: E402

from scinterp.preprocess.integrate import integration_metrics_to_file  # noqa: E402

sc.settings.n_jobs = snakemake.threads
par = snakemake.params
integration_metrics_to_file(
    snakemake.input.h5ad,
    snakemake.output.tsv,
    snakemake.output.umap,
    snakemake.output.warnings,
    dict(par.normalize or {}),
    par.batch_key,
    par.label_key,
)
