"""Rule cell_activity: per-cell identity scores and program activity, one AnnData."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

import anndata as ad  # noqa: E402
import pandas as pd  # noqa: E402

from scinterp.export import cell_activity  # noqa: E402
from scinterp.io import write_h5ad_atomic  # noqa: E402

inp, par = snakemake.input, snakemake.params
keys = list(inp.keys())
# the path, not the AnnData: X is read in row chunks (an atlas's matrix is never held)
adata = cell_activity(
    inp.normalized,
    genes=pd.read_csv(inp.genes, sep="\t", keep_default_na=False) if "genes" in keys else None,
    programs=ad.read_h5ad(inp.programs) if "programs" in keys else None,
    motifs=ad.read_h5ad(inp.motifs) if "motifs" in keys else None,
    n_genes=par.n_genes,
    seed=par.seed,
    dataset=par.dataset,
)
logging.info("cell_activity: %d cells x %d scores", adata.n_obs, adata.n_vars)
write_h5ad_atomic(adata, snakemake.output.h5ad)
