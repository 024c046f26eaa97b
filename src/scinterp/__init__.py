"""scinterp: interpretable deep learning for single-cell omics, as a Snakemake workflow."""

__version__ = "0.1.0"
