"""Rule evaluate_motifs: recovery of the planted motifs and TF-activity AUROC."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import anndata as ad  # noqa: E402
import pandas as pd  # noqa: E402

from scinterp.evaluate.motifs import activity_long, evaluate_motifs, read_truth_motifs  # noqa: E402
from scinterp.interpret.motifs import MotifsOptions  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

inp, out, par = snakemake.input, snakemake.output, snakemake.params
evaluation = evaluate_motifs(
    pd.read_csv(inp.motifs, sep="\t", keep_default_na=False),
    read_truth_motifs(inp.truth, dataset=par.dataset),
    activity_long(ad.read_h5ad(inp.cells)),
    max_qvalue=MotifsOptions.from_params(par).max_qvalue,
)
logging.info("evaluation:\n%s", evaluation.to_string())
write_tsv_atomic(evaluation, out.evaluation)
