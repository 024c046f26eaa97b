"""Deterministic demo data with known ground truth.

The generator writes a small multiome-like data set (RNA counts, ATAC peaks, a toy
genome) whose biology is planted on purpose, so that every interpretation stage of
the workflow can be scored against the truth:

* cell-identity genes: ~20 markers strongly up in each cell type;
* gene programs: gene sets switched on in one or two known cell types, next to
  decoy sets of random genes that are never co-regulated;
* a gene regulatory network: TF levels vary by cell type *and* from cell to cell
  within a type; each target's log-mean follows the log-levels of its TFs, so
  targets co-vary with their TFs inside a cell type, not only between types;
* TF motifs: each cell type opens its own group of peaks, and every peak of the
  group carries 1-3 sites sampled from one JASPAR2024 CORE vertebrate matrix;
* QC artefacts: low-quality cells (high mitochondrial fraction, few counts) and
  doublets (sums of two cells of different types).

Everything is drawn from ``numpy.random.default_rng`` streams derived from one seed,
so the same seed gives the same files. Torch is not needed.

The subpackage, one module per job (this module re-exports their public names):
``_design`` the planted biology (cell types, TFs, motifs, programs, sizes); ``_rna``
the RNA counts; ``_genome`` JASPAR matrices, the toy genome and the ATAC peaks;
``_demo`` `simulate`, `write_demo` and the truth README.
"""

from scinterp.simulate._demo import DemoData, simulate, write_demo
from scinterp.simulate._design import (
    CELL_TYPES,
    GC_CONTENT,
    GRN_TF_LEVELS,
    INERT_TFS,
    JASPAR_RELEASE,
    MITO_GENES,
    MITO_WEIGHTS,
    N_DECOYS,
    N_MARKERS,
    PEAK_WIDTH,
    PROGRAM_TYPES,
    RIBO_GENES,
    TYPE_FRACTIONS,
    TYPE_MOTIFS,
)
from scinterp.simulate._genome import load_jaspar_matrix

__all__ = [
    "CELL_TYPES",
    "DemoData",
    "GC_CONTENT",
    "GRN_TF_LEVELS",
    "INERT_TFS",
    "JASPAR_RELEASE",
    "MITO_GENES",
    "MITO_WEIGHTS",
    "N_DECOYS",
    "N_MARKERS",
    "PEAK_WIDTH",
    "PROGRAM_TYPES",
    "RIBO_GENES",
    "TYPE_FRACTIONS",
    "TYPE_MOTIFS",
    "load_jaspar_matrix",
    "simulate",
    "write_demo",
]
