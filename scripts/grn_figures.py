"""Rule grn_figures: the strongest consensus edges drawn, top regulators per cell type."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import pandas as pd  # noqa: E402

from scinterp.interpret.grn import GrnOptions, plot_network, top_regulators  # noqa: E402
from scinterp.io import write_figure_atomic, write_tsv_atomic  # noqa: E402

inp, dataset = snakemake.input, snakemake.params.dataset
options = GrnOptions.from_params(snakemake.params)
edges = pd.read_csv(snakemake.input.edges, sep="\t", keep_default_na=False)
edges["score"] = edges["score"].astype(float)
regulators = top_regulators(edges, n_edges=options.regulator_edges, n_top=options.n_top_regulators)
write_tsv_atomic(regulators, snakemake.output.regulators)
reference = pd.read_csv(inp.reference, sep="\t") if "reference" in inp.keys() else None
consensus = edges[(edges["method"] == "consensus") & (edges["cell_type"] == "all")]
fig = plot_network(
    consensus,
    n_edges=options.n_edges_plot,
    reference=reference,
    title=f"{dataset}: consensus network",
    seed=options.seed,
)
write_figure_atomic(fig, snakemake.output.network)
