"""Rule krumsiek11_data: scanpy's krumsiek11 as pseudo-counts, its network, its TF list."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.evaluate.grn import krumsiek11  # noqa: E402
from scinterp.io import atomic_path, write_h5ad_atomic, write_tsv_atomic  # noqa: E402

out = snakemake.output
adata, network = krumsiek11(scale=snakemake.params.scale, seed=0)
write_h5ad_atomic(adata, out.rna)
write_tsv_atomic(network, out.grn)
# Every gene of the model is a regulator of some other.
with atomic_path(out.tfs) as tmp:
    tmp.write_text("".join(f"{g}\n" for g in sorted(set(network["tf"]))))
logging.info("%s; %d edges", adata.uns["source"], len(network))
