"""Rule sweep_train: train the sweep's model at one point of the parameter space."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], mode="a", torch_inputs=snakemake.input)  # append: resumed runs; torch job

import torch  # noqa: E402

from scinterp.sweep import split_point, train_point  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, par = snakemake.input, snakemake.params
train, _, model_kwargs = split_point(par.point, par.train, par.attribution)
logging.info("point %s: train %s, model %s", dict(par.point), train, model_kwargs)
train_point(
    par.model,
    normalized=inp.normalized,
    outdir=snakemake.output.model.rsplit("/", 1)[0],
    params=train,
    model_kwargs=model_kwargs,
    gene_sets=inp.gene_sets,
    batch_key=par.batch_key,
    dataset=snakemake.wildcards.dataset,
)
