"""Rule rank_identity_genes: per cell type, genes ranked by every method + consensus."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0], torch_inputs=snakemake.input)  # the job's log; a torch job

import torch  # noqa: E402

from scinterp.interpret import identity  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

torch.set_num_threads(snakemake.threads)
out = snakemake.output
options = identity.IdentityOptions.from_params(snakemake.params)
res = identity.run(dict(snakemake.input.items()), options)
write_tsv_atomic(res["genes"], out.genes)
write_tsv_atomic(res["sampling"], out.sampling)
# labels that are no cell type or that the model did not learn, and why
write_tsv_atomic(res["not_ranked"], out.not_ranked)
write_tsv_atomic(res["methods"], out.methods)
identity.plot_top_genes(
    res["data"], res["genes"], res["label_key"], out.dotplot, out.heatmap, options.n_top_plot
)
