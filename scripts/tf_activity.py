"""Rule tf_activity: activity of each matched motif per cell and per cell type."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], torch_inputs=snakemake.input)  # the job's log; a torch job

import torch  # noqa: E402

from scinterp.interpret.motifs import MotifsOptions, activity_step, write_activity  # noqa: E402

torch.set_num_threads(snakemake.threads)
options = MotifsOptions.from_params(snakemake.params)
inputs = dict(snakemake.input.items())
write_activity(activity_step(inputs, options, dataset=snakemake.params.dataset), snakemake.output)
