"""Rule summary: the one-page findings summary of a dataset, as Markdown and HTML."""

import logging
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115
logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)

from scinterp.summary import write_summary  # noqa: E402

sections = write_summary(
    snakemake.output.md,
    snakemake.output.html,
    {k: v for k, v in snakemake.input.items()},
    dataset=snakemake.params.dataset,
    switched_off=snakemake.params.switched_off,
)
logging.info("summary sections: %s", ", ".join(s.title for s in sections))
