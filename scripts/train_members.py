"""Rules train_members_<model>: train a model's further ensemble members, one after the
other in this one job (imports, data and start-up paid once), each as rule train_model
would at its seed. A killed job's rerun resumes the member it was training from that
member's checkpoint; the members it had finished are outputs of the failed job, which
Snakemake removes, so they train again (deterministic: the same weights)."""

from scinterp.joblog import job_log  # noqa: E402

# stderr, logging and faulthandler to the job's log (append: resumed runs); torch job
job_log(snakemake.log[0], mode="a", torch_inputs=snakemake.input)

import logging  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from scinterp.report.plots import plot_history  # noqa: E402
from scinterp.train.run import train_from_rule  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, out, par = snakemake.input, snakemake.output, snakemake.params
for seed, model_pt, curve in zip(par.seeds, out.model, out.curve, strict=True):
    logging.getLogger("scinterp").info("%s: member seed %d", par.model, seed)
    history = train_from_rule(inp, par, Path(model_pt).parent, {**par.train, "seed": seed})
    plot_history(history, curve, title=f"{par.dataset}: {par.model} seed {seed}")
