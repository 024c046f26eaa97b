"""Rules grnboost2, regdiffusion, spearman, within_type_spearman: a peer network
(scinterp.interpret.grn.peers) on grn_sem's TFs, genes and cells (and their labels or Leiden
clusters, for the within-type peer)."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import json  # noqa: E402

from scinterp.interpret.grn import GrnOptions, model_genes, model_rows  # noqa: E402
from scinterp.interpret.grn.peers import run_peer  # noqa: E402
from scinterp.io import read_normalized, write_tsv_atomic  # noqa: E402

inp, par = snakemake.input, snakemake.params
meta = json.loads(open(inp.meta).read())["meta"]
# grn_sem's training cells (train.grn_max_cells) and genes only
adata = read_normalized(
    inp.normalized, var_names=meta["features"], rows=model_rows(inp.normalized, meta)
)
genes, tfs, columns = model_genes(adata, meta, par.dataset, inp.meta)
key = adata.uns.get("scinterp", {}).get("label_key")  # the labels, or the Leiden clusters
labels = adata.obs[key].astype(str).to_numpy() if key in adata.obs else None
device = par.device
if device != "cpu":  # the CPU peers' env has no torch
    from scinterp.device import resolve_device

    device = str(resolve_device(device))
edges = run_peer(
    par.peer,
    adata.X[:, columns],
    genes,
    tfs,
    seed=par.seed,
    threads=snakemake.threads,
    device=device,
    labels=labels,
    min_cells_per_type=GrnOptions.from_params(par).min_cells_per_type,
)
write_tsv_atomic(edges, snakemake.output.edges)
