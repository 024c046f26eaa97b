"""Rule motif_figures: logos of learned motifs beside their match; TF activity heatmap."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from scinterp.interpret import motifs as M  # noqa: E402
from scinterp.interpret.motifs import MotifsOptions  # noqa: E402
from scinterp.io import write_figure_atomic  # noqa: E402

inp, out, par = snakemake.input, snakemake.output, snakemake.params
opts = MotifsOptions.from_params(par)
table = pd.read_csv(inp.motifs, sep="\t", keep_default_na=False)
learned = {i: p for i, _n, p in M.read_meme(inp.meme)}
database = M.load_motif_database(
    par.database,
    collection=opts.jaspar_collection,
    tax_group=opts.jaspar_tax_group,
    dataset=par.dataset,
)
write_figure_atomic(M.plot_logos(table, learned, database, n=opts.n_logos), out.logos, dpi=120)
activity = pd.read_csv(inp.activity, sep="\t", keep_default_na=False)
activity["score"] = pd.to_numeric(activity["score"], errors="coerce")
write_figure_atomic(M.plot_activity_heatmap(activity), out.heatmap, dpi=120)
