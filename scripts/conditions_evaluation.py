"""Rule conditions_evaluation: planted genes (and abundance changes) called per method."""

import logging
from pathlib import Path

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import pandas as pd  # noqa: E402

from scinterp.evaluate.conditions import evaluate_abundance, evaluate_genes  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

fdr = float(snakemake.params.fdr)
genes = pd.read_csv(snakemake.input.genes, sep="\t")
parts = [evaluate_genes(genes, pd.read_csv(snakemake.input.truth, sep="\t"), fdr=fdr)]
truth_ab = Path(snakemake.input.truth).with_name("conditions_abundance.tsv")
abundance = pd.read_csv(snakemake.input.abundance, sep="\t")
if truth_ab.exists() and len(abundance):
    parts.append(evaluate_abundance(abundance, pd.read_csv(truth_ab, sep="\t"), fdr=fdr))
result = pd.concat(parts, ignore_index=True)
logging.info("conditions vs truth (FDR %s):\n%s", fdr, result.to_string(index=False))
write_tsv_atomic(result, snakemake.output.evaluation)
