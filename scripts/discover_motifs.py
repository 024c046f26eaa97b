"""Rule discover_motifs: TF-MoDISco and filter motifs, named by Tomtom against JASPAR."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.interpret.motifs import MotifsOptions, discovery_step, write_discovery  # noqa: E402

par = snakemake.params
# database: a JASPAR release name (no input file) or the MEME file
inputs = {**dict(snakemake.input.items()), "database": par.database}
result = discovery_step(
    inputs, MotifsOptions.from_params(par), dataset=par.dataset, n_jobs=snakemake.threads
)
write_discovery(result, snakemake.output)
