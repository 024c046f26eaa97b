"""Rule program_tables: program activity per cell type, loadings, de novo enrichment."""

from pathlib import Path

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import torch  # noqa: E402

from scinterp.interpret.programs import compute_programs  # noqa: E402
from scinterp.io import write_h5ad_atomic, write_tsv_atomic  # noqa: E402
from scinterp.train.loop import resolve_device  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, out, par = snakemake.input, snakemake.output, snakemake.params
opts = par.options
models = {k[len("model_") :]: str(Path(v).parent) for k, v in inp.items() if k.startswith("model_")}
members = {
    k[len("members_") :]: [str(Path(p).parent) for p in v]
    for k, v in inp.items()
    if k.startswith("members_")
}
# the path, not the AnnData: X is read in row chunks (an atlas's matrix is never held)
res = compute_programs(
    inp.normalized,
    inp.gene_sets,
    models,
    min_set_size=par.min_set_size,
    used_threshold=opts["used_threshold"],
    n_top_denovo=opts["n_top_denovo"],
    n_posterior_samples=opts["n_posterior_samples"],
    ctrl_size=opts["score_genes_ctrl_size"],
    seed=par.seed,
    device=str(resolve_device(par.device)),
    dataset=par.dataset,
    member_dirs=members,
    confidence_top=opts["confidence_top"],
)
write_tsv_atomic(res["activity"], out.activity)
write_tsv_atomic(res["loadings"], out.loadings)
write_tsv_atomic(res["denovo_enrichment"], out.enrichment)
write_tsv_atomic(res["denovo_matches"], out.matches)
write_h5ad_atomic(res["cell_activity"], out.cells)
