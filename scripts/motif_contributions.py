"""Rule motif_contributions: hypothetical contributions of type-specific peaks; filter PWMs."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], torch_inputs=snakemake.input)  # the job's log; a torch job

import torch  # noqa: E402

from scinterp.interpret.motifs import (  # noqa: E402
    MotifsOptions,
    contributions_step,
    write_contributions,
)

torch.set_num_threads(snakemake.threads)
options = MotifsOptions.from_params(snakemake.params)
inputs = dict(snakemake.input.items())
result = contributions_step(inputs, options, dataset=snakemake.params.dataset)
write_contributions(result, snakemake.output)
