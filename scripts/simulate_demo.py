"""Rule simulate_demo: write the demo datasets with ground truth."""

from pathlib import Path

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.simulate import write_demo  # noqa: E402

outdir = Path(snakemake.output.rna).parent
write_demo(outdir, seed=snakemake.params.seed, conditions=snakemake.params.conditions)
