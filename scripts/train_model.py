"""Rule train_model: train one model on one dataset (resumes a killed run)."""

from scinterp.joblog import job_log  # noqa: E402

# stderr, logging and faulthandler to the job's log (append: resumed runs); torch job
job_log(snakemake.log[0], mode="a", torch_inputs=snakemake.input)

import torch  # noqa: E402

from scinterp.report.plots import plot_history  # noqa: E402
from scinterp.train.run import train_from_rule  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, par = snakemake.input, snakemake.params
history = train_from_rule(inp, par, snakemake.output.model.rsplit("/", 1)[0], par.train)
plot_history(history, snakemake.output.curve, title=f"{par.dataset}: {par.model}")
