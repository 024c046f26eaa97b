"""Rule program_tables: program activity per cell type, loadings, de novo enrichment."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], torch_inputs=snakemake.input)  # the job's log; a torch job

import torch  # noqa: E402

from scinterp.interpret.programs import ProgramsOptions, run  # noqa: E402
from scinterp.io import write_h5ad_atomic, write_tsv_atomic  # noqa: E402

torch.set_num_threads(snakemake.threads)
out = snakemake.output
# the path, not the AnnData: X is read in row chunks (an atlas's matrix is never held)
res = run(
    dict(snakemake.input.items()),
    ProgramsOptions.from_params(snakemake.params),
    dataset=snakemake.params.dataset,
)
write_tsv_atomic(res["activity"], out.activity)
write_tsv_atomic(res["loadings"], out.loadings)
write_tsv_atomic(res["denovo_enrichment"], out.enrichment)
write_tsv_atomic(res["denovo_matches"], out.matches)
write_h5ad_atomic(res["cell_activity"], out.cells)
