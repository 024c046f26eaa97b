"""Rule infer_grn: TF -> target edges from grn_sem (adjacency, integrated gradients, consensus),
with a confidence from its seed ensemble."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], torch_inputs=snakemake.input)  # the job's log; a torch job

import torch  # noqa: E402

from scinterp.interpret.grn import GrnOptions, run  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

torch.set_num_threads(snakemake.threads)
edges = run(
    dict(snakemake.input.items()),
    GrnOptions.from_params(snakemake.params),
    dataset=snakemake.params.dataset,
)
write_tsv_atomic(edges, snakemake.output.edges)
