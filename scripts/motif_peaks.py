"""Rule motif_peaks: validated fixed-width peaks of the ATAC data and their one-hot sequences."""


from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import anndata as ad  # noqa: E402

from scinterp.data.sequences import prepare_peak_sequences, write_npz_atomic  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

inp, out, par = snakemake.input, snakemake.output, snakemake.params
peaks, onehot = prepare_peak_sequences(
    ad.read_h5ad(inp.atac, backed="r"),
    inp.genome,
    width=par.width,
    dataset=par.dataset,
    atac_path=inp.atac,
    max_n_fraction=par.max_n_fraction,
    tss_bed=inp.get("tss"),
)
write_tsv_atomic(peaks, out.peaks)
write_npz_atomic(out.sequences, onehot=onehot, var_idx=peaks["var_idx"].to_numpy())
