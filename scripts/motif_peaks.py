"""Rule motif_peaks: validated fixed-width peaks of the ATAC data and their one-hot sequences."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

from scinterp.interpret.motifs import MotifsOptions, peaks_step, write_peaks  # noqa: E402

options = MotifsOptions.from_params(snakemake.params)
result = peaks_step(dict(snakemake.input.items()), options, dataset=snakemake.params.dataset)
write_peaks(result, snakemake.output)
