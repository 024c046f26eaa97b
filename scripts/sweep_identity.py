"""Rule sweep_identity: identity genes from one sweep point's model and attributions."""

from pathlib import Path

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], torch_inputs=snakemake.input)  # the job's log; a torch job

import torch  # noqa: E402

from scinterp.interpret import identity  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402
from scinterp.sweep import split_point  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, par = snakemake.input, snakemake.params
train, _, _ = split_point(par.point, par.train, par.attribution)
# the point's seed and device; as the sweep always has: every cell read and gene-level
# ablation among the rankings it compares
options = identity.IdentityOptions.from_section(
    par.identity,
    seed=train["seed"],
    device=train["device"],
    max_cells_de=None,
    attribution_methods=("ablation",),
)
genes, *_ = identity.rank_identity_genes(
    inp.normalized,
    {Path(p).stem: p for p in inp.attributions},
    model_dir=Path(inp.model).parent,
    options=options,
)
write_tsv_atomic(genes, snakemake.output.genes)
