"""Rule program_figures: heatmap program x cell type, UMAP coloured by the top programs."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import anndata as ad  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from scinterp.interpret.programs import (  # noqa: E402
    ProgramsOptions,
    plot_activity_heatmap,
    plot_program_umap,
    top_programs,
)
from scinterp.io import write_figure_atomic  # noqa: E402

activity = pd.read_csv(snakemake.input.activity, sep="\t")
cells = ad.read_h5ad(snakemake.input.cells)
write_figure_atomic(plot_activity_heatmap(activity), snakemake.output.heatmap)
n_top = ProgramsOptions.from_params(snakemake.params).n_top_umap
top = top_programs(activity, cells.uns.get("method", "program_vae"), n_top)
write_figure_atomic(plot_program_umap(cells, top), snakemake.output.umap)
