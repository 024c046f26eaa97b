"""Rule attribute: one model, one Captum method -> attribution/{model}/{method}.h5ad."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], torch_inputs=snakemake.input)  # the job's log; a torch job

import torch  # noqa: E402

from scinterp.attribution.stage import attribute_from_files  # noqa: E402
from scinterp.io import write_h5ad_atomic  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, par = snakemake.input, snakemake.params
out = attribute_from_files(
    inp.model.rsplit("/", 1)[0],
    inp.normalized,
    snakemake.wildcards.method,
    par.attribution,
    gene_sets=inp.gene_sets,
    seed=par.seed,
    device=par.device,
)
write_h5ad_atomic(out, snakemake.output.h5ad)
