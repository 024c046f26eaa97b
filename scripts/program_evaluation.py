"""Rule program_evaluation: AUROC of program activity against the ground truth, per method."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import pandas as pd  # noqa: E402

from scinterp.evaluate.programs import evaluate_activity, read_truth  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

activity = pd.read_csv(snakemake.input.activity, sep="\t")
result = evaluate_activity(activity, read_truth(snakemake.input.truth))
logging.info("program activity vs truth:\n%s", result.to_string(index=False))
write_tsv_atomic(result, snakemake.output.evaluation)
