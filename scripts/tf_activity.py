"""Rule tf_activity: activity of each matched motif per cell and per cell type."""

from pathlib import Path

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import anndata as ad  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from scinterp.data.sequences import read_peak_sequences  # noqa: E402
from scinterp.device import resolve_device  # noqa: E402
from scinterp.interpret import motifs as M  # noqa: E402
from scinterp.io import write_h5ad_atomic, write_tsv_atomic  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, out, par = snakemake.input, snakemake.output, snakemake.params
opts, device = par.options, resolve_device(par.device)
atac = ad.read_h5ad(inp.atac)
onehot, acc = read_peak_sequences(inp.sequences, atac, dataset=par.dataset)
model, labels = M.load_sequence_model(
    Path(inp.model).parent, atac, device=device, dataset=par.dataset
)
table = pd.read_csv(inp.motifs, sep="\t", keep_default_na=False)
per_type, per_cell = M.tf_activity(
    model,
    onehot,
    acc,
    labels,
    atac.obs_names,
    M.matched_motifs(table, inp.meme),
    n_background=opts["n_background"],
    insertion=opts["insertion"],
    device=device,
    seed=par.seed,
    chromvar=opts["chromvar"],
    chromvar_backgrounds=opts["chromvar_backgrounds"],
    gc=pd.read_csv(inp.peaks, sep="\t")["gc"].to_numpy(),
)
write_tsv_atomic(M.annotate_activity(per_type, table), out.activity)
write_h5ad_atomic(M.activity_anndata(per_cell, labels, table), out.cells)
