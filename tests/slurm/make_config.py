"""Write a tiny simulated dataset and a small config for the Slurm test.

    python tests/slurm/make_config.py WORKDIR [--sweep]

WORKDIR/data/ holds the data, WORKDIR/config.yaml the config (and WORKDIR/sweep.tsv a
4-point parameter sweep with --sweep). Small enough for a 2-core machine: one
classifier, two attribution methods, the identity branch with its evaluation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from scinterp.simulate import write_demo

SWEEP_TSV = "learning_rate\tseed\n0.001\t0\n0.001\t1\n0.003\t0\n0.003\t1\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--sweep", action="store_true", help="also configure a 4-point sweep")
    args = ap.parse_args()
    root = args.workdir.resolve()
    paths = write_demo(root / "data", seed=1, n_cells=700, n_genes=1000, n_peaks=600)
    cfg = {
        "datasets": {
            "tiny": {
                "rna": str(paths["rna"]),
                "label_key": "cell_type",
                "batch_key": "batch",
                "gene_sets": str(paths["gene_sets"]),
                "tfs": str(paths["tfs"]),
                "truth": str(paths["markers"].parent),
                # the demo's 8 donors in two conditions: the conditions branch runs too
                "sample_key": "donor",
                "condition_key": "condition",
                "reference": "healthy",
            }
        },
        "normalize": {"n_top_genes": 300, "n_pcs": 15},
        "train": {"models": ["mlp_classifier"], "max_epochs": 3},
        "attribution": {
            "methods": ["integrated_gradients", "saliency"],
            "max_cells": 150,
            "n_steps": 8,
            "sanity_cells": 0,  # the randomization check doubles the work; not what this tests
        },
        "branches": {
            "identity": {
                "model": "mlp_classifier",
                "consensus": ["integrated_gradients", "ablation", "wilcoxon"],
                "n_candidates": 20,
                "max_cells": 200,
            },
            "programs": {"enabled": False},
            "grn": {"enabled": False},
            "motifs": {"enabled": False},
        },
    }
    if args.sweep:
        (root / "sweep.tsv").write_text(SWEEP_TSV)
        cfg["sweep"] = {"table": str(root / "sweep.tsv"), "top_k": 10}
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    print(root / "config.yaml")


if __name__ == "__main__":
    main()
