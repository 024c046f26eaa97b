"""Rule simulate_demo: write the demo datasets with ground truth."""

import logging
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115
logging.basicConfig(stream=sys.stderr, level=logging.INFO)

from scinterp.simulate import write_demo  # noqa: E402

outdir = Path(snakemake.output.rna).parent
write_demo(outdir, seed=snakemake.params.seed)
