"""Rule rank_identity_genes: per cell type, genes ranked by every method + consensus."""

from pathlib import Path

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from scinterp.interpret import identity  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, par, out = snakemake.input, snakemake.params, snakemake.output
genes, adata, label_key, sampling = identity.rank_identity_genes(
    inp.normalized,
    {Path(p).stem: p for p in inp.attributions},
    model_dir=Path(inp.model).parent,
    member_dirs=[Path(p).parent for p in inp.members],
    attention_dir=Path(inp.attention).parent if "attention" in inp.keys() else None,
    marker_dirs=[Path(p).parent for p in inp.get("markers", [])],
    params=par.identity,
    seed=par.seed,
    device=par.device,
)
write_tsv_atomic(genes, out.genes)
write_tsv_atomic(sampling, out.sampling)
# labels that are no cell type or that the model did not learn, and why
write_tsv_atomic(pd.DataFrame(genes.attrs.pop("not_ranked")), out.not_ranked)
write_tsv_atomic(identity.method_summary(genes, None, par.identity["precision_k"]), out.methods)
identity.plot_top_genes(
    adata, genes, label_key, out.dotplot, out.heatmap, par.identity["n_top_plot"]
)
