"""Rule grn_adjacencies: the consensus network as GRNBoost2/pySCENIC adjacencies."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: SIM115

import pandas as pd  # noqa: E402

from scinterp.export import grn_adjacencies  # noqa: E402
from scinterp.io import write_tsv_atomic  # noqa: E402

edges = pd.read_csv(snakemake.input.edges, sep="\t", keep_default_na=False)
write_tsv_atomic(grn_adjacencies(edges), snakemake.output.adjacencies)
