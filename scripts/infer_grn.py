"""Rule infer_grn: TF -> target edges from grn_sem (adjacency, integrated gradients, consensus),
with a confidence from its seed ensemble."""

from pathlib import Path

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import json  # noqa: E402

import torch  # noqa: E402

from scinterp.device import resolve_device  # noqa: E402
from scinterp.interpret.grn import attributed_cells, infer_grn  # noqa: E402
from scinterp.io import read_meta, read_normalized, write_tsv_atomic  # noqa: E402
from scinterp.train.loop import seed_everything  # noqa: E402

torch.set_num_threads(snakemake.threads)
seed_everything(snakemake.params.seed)
inp, opts = snakemake.input, snakemake.params.options
# Only the cells attributed (a stratified sample of max_cells) and the model's genes are
# read: on an atlas the whole matrix would not fit.
info = read_meta(inp.normalized, ("obs", "uns"))
key = info["uns"].get("scinterp", {}).get("label_key")
labels = (
    info["obs"][key].astype(str).to_numpy()
    if opts["per_cell_type"] and key in info["obs"]
    else None
)
rows = attributed_cells(labels, len(info["obs"]), opts["max_cells"], snakemake.params.seed)
meta = json.loads((Path(inp.model).parent / "model.json").read_text())["meta"]
adata = read_normalized(inp.normalized, var_names=meta["features"], rows=rows)
edges = infer_grn(
    adata,
    Path(inp.model).parent,
    member_dirs=[Path(m).parent for m in inp.members],
    confidence_top=opts["confidence_top"],
    label_key=adata.uns.get("scinterp", {}).get("label_key"),
    per_cell_type=opts["per_cell_type"],
    min_cells_per_type=opts["min_cells_per_type"],
    max_cells=None,  # the sample above
    n_steps=opts["n_steps"],
    baseline=opts["baseline"],
    consensus=opts["consensus"],
    max_edges=opts["max_edges"],
    max_edges_cell_type=opts["max_edges_cell_type"],
    batch_size=opts["batch_size"],
    seed=snakemake.params.seed,
    device=str(resolve_device(snakemake.params.device)),
    dataset=snakemake.params.dataset,
)
write_tsv_atomic(edges, snakemake.output.edges)
