"""Rule qc: per-cell metrics, adaptive or fixed thresholds, doublets, gene filter."""

import sys

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import json  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import scanpy as sc  # noqa: E402

from scinterp.io import read_counts, validate_obs_keys, write_h5ad_atomic, write_tsv_atomic  # noqa: E402
from scinterp.preprocess.qc import plot_qc, run_qc  # noqa: E402

sc.settings.n_jobs = snakemake.threads
sc.settings.logfile = sys.stderr
par = snakemake.params
path = snakemake.input.rna

adata = read_counts(
    path,
    dataset=par.dataset,
    counts_layer=par.counts_layer,
    symbol_key=par.symbol_key,
    modality=par.modality or "rna",
    species=par.species,
)
validate_obs_keys(adata, par.dataset, path, label_key=par.label_key, batch_key=par.batch_key)
filtered, metrics, summary = run_qc(
    adata, dict(par.qc or {}), par.batch_key, par.dataset, path=path
)
filtered.uns["scinterp"] = {"dataset": par.dataset, "qc_summary": json.dumps(summary)}

plot_qc(metrics, snakemake.output.plot)
write_tsv_atomic(metrics, snakemake.output.metrics)
write_h5ad_atomic(filtered, snakemake.output.h5ad)
