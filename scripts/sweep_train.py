"""Rule sweep_train: train the sweep's model at one point of the parameter space."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # noqa: SIM115 (append: resumed runs)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

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
