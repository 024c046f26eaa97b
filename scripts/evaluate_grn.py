"""Rule evaluate_grn: AUPRC, AUPRC ratio, EPR, AUROC of every network against the reference."""

import logging

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import json  # noqa: E402

import pandas as pd  # noqa: E402

from scinterp.evaluate.grn import (  # noqa: E402
    grn_metrics,
    network_runtimes,
    plot_precision_recall,
    read_reference,
)
from scinterp.interpret.grn.peers import PEERS  # noqa: E402
from scinterp.io import write_figure_atomic, write_tsv_atomic  # noqa: E402

inp, dataset = snakemake.input, snakemake.params.dataset
meta = json.loads(open(inp.meta).read())["meta"]
tfs, genes = meta["tfs"], meta["features"]
edges = pd.concat([pd.read_csv(p, sep="\t") for p in inp.edges], ignore_index=True)
reference = read_reference(inp.reference, tfs, genes, dataset=dataset)
metrics = grn_metrics(edges, reference, tfs, genes, network_runtimes(inp.benchmarks, PEERS))
logging.info("metrics of the global networks:\n%s", metrics[metrics.cell_type == "all"])
write_tsv_atomic(metrics, snakemake.output.metrics)
fig = plot_precision_recall(edges, reference, tfs, genes, title=f"{dataset}: global networks")
write_figure_atomic(fig, snakemake.output.curves)
