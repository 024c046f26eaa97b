"""Rule normalize: log-normalization, HVGs, PCA, neighbours, UMAP, Leiden labels."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # the job's log
logging.basicConfig(
    stream=sys.stderr,
    level=logging.INFO,
    force=True,
    format="%(asctime)s %(name)s %(levelname)s %(message)s",
)

import anndata as ad  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import scanpy as sc  # noqa: E402

from scinterp.io import write_h5ad_atomic  # noqa: E402
from scinterp.normalize import plot_umap, run_normalize  # noqa: E402

sc.settings.n_jobs = snakemake.threads
sc.settings.logfile = sys.stderr
par = snakemake.params
path = snakemake.input.h5ad

adata = ad.read_h5ad(path)
adata = run_normalize(
    adata, dict(par.normalize or {}), par.batch_key, par.label_key, par.dataset, path=path
)

plot_umap(adata, snakemake.output.umap)
write_h5ad_atomic(adata, snakemake.output.h5ad)
