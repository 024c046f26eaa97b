"""Rule train_model: train one model on one dataset (resumes a killed run)."""


from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], mode="a")  # stderr, logging and faulthandler to the job's log (append: resumed runs)

import torch  # noqa: E402

from scinterp.report.plots import plot_history  # noqa: E402
from scinterp.train.run import train_from_files  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, par = snakemake.input, snakemake.params
history = train_from_files(
    par.model,
    normalized=inp.normalized,
    outdir=snakemake.output.model.rsplit("/", 1)[0],
    params=par.train,
    gene_sets=inp.gene_sets,
    tfs=inp.tfs,
    batch_key=par.batch_key,
    atac=inp.get("atac"),
    genome=inp.get("genome"),
    dataset=par.dataset,
)
plot_history(history, snakemake.output.curve, title=f"{par.dataset}: {par.model}")
