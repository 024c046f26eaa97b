"""Rule motif_contributions: hypothetical contributions of type-specific peaks; filter PWMs."""

from pathlib import Path

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import anndata as ad  # noqa: E402
import torch  # noqa: E402

from scinterp.data.sequences import read_peak_sequences, write_npz_atomic  # noqa: E402
from scinterp.device import resolve_device  # noqa: E402
from scinterp.interpret import motifs as M  # noqa: E402
from scinterp.io import atomic_path  # noqa: E402
from scinterp.train.loop import seed_everything  # noqa: E402

torch.set_num_threads(snakemake.threads)
inp, out, par = snakemake.input, snakemake.output, snakemake.params
opts, device = par.options, resolve_device(par.device)
seed_everything(par.seed)
atac = ad.read_h5ad(inp.atac)
onehot, acc = read_peak_sequences(inp.sequences, atac, dataset=par.dataset)
model, labels = M.load_sequence_model(
    Path(inp.model).parent, atac, device=device, dataset=par.dataset
)
contrib = M.attribute_type_peaks(
    model,
    onehot,
    acc,
    labels,
    n_per_type=opts["n_per_type"],
    min_rate=opts["min_rate"],
    method=opts["attribution"],
    n_refs=opts["n_refs"],
    n_steps=opts["n_steps"],
    device=device,
    seed=par.seed,
)
write_npz_atomic(out.contributions, **contrib)
filters = []
if opts["filters"]:
    filters = M.influential_filter_motifs(
        model,
        onehot,
        contrib["peak_idx"],
        labels,
        min_influence=opts["filter_min_influence"],
        influence_z=opts["filter_influence_z"],
        activation_threshold=opts["filter_activation"],
        min_sites=opts["filter_min_sites"],
        min_ic=opts["filter_min_ic"],
        max_motifs=opts["filter_max_motifs"],
        device=device,
    )
with atomic_path(out.filters) as tmp:
    M.write_learned_meme(tmp, filters)
