"""Quality control of cells and genes: metrics, per-batch thresholds, doublets.

`run_qc` is the entry point used by the ``qc`` rule. Adaptive thresholds follow
the scater convention: a cell is an outlier when it lies more than ``n_mads``
*scaled* MADs (1.4826 x MAD, a consistent estimate of the SD) from the median of
its batch, on log1p(total counts) and log1p(genes) on both sides and on the
mitochondrial percentage above. Thresholds are computed per batch, so a batch
sequenced deeper is not removed wholesale; a batch of fewer than `MIN_BATCH_CELLS`
(50) cells takes the thresholds of all cells. A cell without counts is always
removed (low_counts), and no kept cell has a mitochondrial share above
``qc.max_pct_mito``.

The subpackage, one module per job (this module re-exports their public names):
``_params`` the ``qc`` section's defaults and checks; ``_metrics`` per-cell metrics and
detected cells per gene; ``_thresholds`` adaptive and fixed outlier flags;
``_doublets`` doublet detection; ``_subset`` the filtered AnnData (in place for large
matrices); ``_run`` `run_qc` and its summary; ``_plots`` the QC figure.
"""

from scinterp.preprocess.qc._doublets import MIN_CELLS_SCRUBLET, detect_doublets
from scinterp.preprocess.qc._metrics import detected_per_gene, qc_metrics
from scinterp.preprocess.qc._params import ALL_BATCHES, QC_DEFAULTS, REASONS, check_qc_params
from scinterp.preprocess.qc._plots import plot_qc
from scinterp.preprocess.qc._run import run_qc
from scinterp.preprocess.qc._subset import INPLACE_MIN_NNZ, subset, subset_csr_inplace
from scinterp.preprocess.qc._thresholds import (
    MIN_BATCH_CELLS,
    MIN_GENES_MEDIAN_FRACTION,
    adaptive_thresholds,
    fixed_thresholds,
    scaled_min_genes,
)

__all__ = [
    "ALL_BATCHES",
    "INPLACE_MIN_NNZ",
    "MIN_BATCH_CELLS",
    "MIN_CELLS_SCRUBLET",
    "MIN_GENES_MEDIAN_FRACTION",
    "QC_DEFAULTS",
    "REASONS",
    "adaptive_thresholds",
    "check_qc_params",
    "detect_doublets",
    "detected_per_gene",
    "fixed_thresholds",
    "plot_qc",
    "qc_metrics",
    "run_qc",
    "scaled_min_genes",
    "subset",
    "subset_csr_inplace",
]
