"""Rule integration_metrics: scIB metrics of the PCA before and after integration,
the UMAPs before and after, and the batch/label confounding warnings."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # the job's log
logging.basicConfig(
    stream=sys.stderr,
    level=logging.INFO,
    force=True,
    format="%(asctime)s %(name)s %(levelname)s %(message)s",
)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import scanpy as sc  # noqa: E402

from scinterp.integrate import integration_metrics_to_file  # noqa: E402

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
