"""Rule extract_atac: the peaks of a multiome rna file (10x ARC .h5, .h5mu) as an h5ad."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115
logging.basicConfig(
    stream=sys.stderr,
    level=logging.INFO,
    force=True,
    format="%(asctime)s %(name)s %(levelname)s %(message)s",
)

from scinterp.io import read_atac, write_h5ad_atomic  # noqa: E402

par = snakemake.params
atac = read_atac(snakemake.input.rna, dataset=par.dataset, modality=par.modality or "atac")
logging.info(
    "dataset '%s': %d cells x %d peaks taken from %s",
    par.dataset,
    atac.n_obs,
    atac.n_vars,
    snakemake.input.rna,
)
write_h5ad_atomic(atac, snakemake.output.atac)
