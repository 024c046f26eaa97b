"""Rule grnboost2: the peer, GRNBoost2 (arboreto), on grn_sem's TFs, genes and cells."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

import json  # noqa: E402

from scinterp.grnboost import run_grnboost2  # noqa: E402
from scinterp.interpret.grn import model_genes  # noqa: E402
from scinterp.io import read_normalized, write_tsv_atomic  # noqa: E402

inp = snakemake.input
meta = json.loads(open(inp.meta).read())["meta"]
adata = read_normalized(inp.normalized)
genes, tfs, columns = model_genes(adata, meta, snakemake.params.dataset, inp.meta)
edges = run_grnboost2(
    adata.X[:, columns], genes, tfs, seed=snakemake.params.seed, threads=snakemake.threads
)
write_tsv_atomic(edges.assign(method="grnboost2", cell_type="all"), snakemake.output.edges)
