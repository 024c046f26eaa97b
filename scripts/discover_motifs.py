"""Rule discover_motifs: TF-MoDISco and filter motifs, named by Tomtom against JASPAR."""


from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import numpy as np  # noqa: E402

from scinterp.interpret import motifs as M  # noqa: E402
from scinterp.io import atomic_path, write_tsv_atomic  # noqa: E402

inp, out, par = snakemake.input, snakemake.output, snakemake.params
opts = par.options
database = M.load_motif_database(
    par.database,
    collection=opts["jaspar_collection"],
    tax_group=opts["jaspar_tax_group"],
    dataset=par.dataset,
)
with np.load(inp.contributions) as c:
    table, learned = M.discover_and_match(
        c["onehot"],
        c["hypothetical"],
        c["cell_type"],
        M.learned_from_meme(inp.filters, "filters"),
        database,
        max_qvalue=opts["max_qvalue"],
        modisco=M.modisco_options(opts),
        seed=par.seed,
        n_jobs=snakemake.threads,
    )
names = dict(zip(table["motif"], table["match_name"], strict=True))
with atomic_path(out.meme) as tmp:
    M.write_learned_meme(tmp, learned, names)
write_tsv_atomic(table, out.motifs)
