"""Rule evaluate_identity: precision@k and AUROC of the true markers per type and method."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import pandas as pd  # noqa: E402

from scinterp.evaluate.identity import evaluate_identity, plot_evaluation  # noqa: E402
from scinterp.io import read_var, write_tsv_atomic  # noqa: E402

genes = pd.read_csv(snakemake.input.genes, sep="\t")
markers = pd.read_csv(snakemake.input.markers, sep="\t")
universe = list(read_var(snakemake.input.normalized).index)  # var only, no matrices
k = snakemake.params.k
evaluation = evaluate_identity(genes, markers, universe, k=k)
logging.info("\n%s", evaluation.groupby("method")[["precision_at_k", "auroc"]].mean())
write_tsv_atomic(evaluation, snakemake.output.tsv)
plot_evaluation(evaluation, snakemake.output.png, k=k)
