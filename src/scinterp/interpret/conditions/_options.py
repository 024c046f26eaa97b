"""Options of the conditions branch, each with its one default."""

from __future__ import annotations

from dataclasses import dataclass

from scinterp.interpret.options import BranchOptions


@dataclass(frozen=True)
class ConditionsOptions(BranchOptions):
    """Options of :mod:`scinterp.interpret.conditions`.

    Attributes
    ----------
    min_cells
        A sample x cell type pseudobulk needs this many cells, else that sample is left
        out of that cell type (every test of that type).
    min_samples
        Samples per condition a cell type needs after ``min_cells``, else the type and
        contrast are skipped (the reason is kept in the table's ``attrs['skipped']``).
    fdr
        The false discovery rate a finding is called at (``adj_p_value <= fdr``).
    n_permutations
        Condition labels permuted between samples for the cell-type p-value; when the
        samples allow fewer distinct labelings, every labeling is used once (exact test).
    max_cells_per_type
        Cells per cell type the classifier sees, the same number for every type (the
        smallest eligible type's count when that is lower), split evenly over samples,
        so that abundance does not set the score.
    seed
        Seed of every random draw (subsampling, permutations).
    n_components
        Principal components of a type's log-normalized expression (fitted without the
        labels) that the condition classifier reads.
    n_folds
        Folds of the grouped cross-validation by sample (at most the number of samples
        of the smaller condition).
    classifier_c
        Inverse L2 strength of the classifier's logistic regression.
    min_expressing
        A gene enters the model-based tests in a type when at least this share of the
        type's cells expresses it (count > 0); rarer genes carry too little to test.
    min_count
        edgeR's ``filterByExpr`` ``min.count``: a gene gets a pseudobulk test and a
        consensus in a cell type only with at least this many counts (as CPM at the
        median pseudobulk library) in as many samples as the smaller condition has;
        0 (the default) tests every gene with a count. 10 (edgeR's default) leaves
        pydeseq2 ~8% of its fits on the simulated atlas, but on benchmarks/conditions.py
        it moved the consensus's realized FDR at 10 vs 10 samples from 0.040 to 0.063 and
        gave a call in one of 16 null (run, type) at semi-synthetic 3 vs 3
        (benchmarks/LOG.md), so it is not the default.
    chunk_rows
        Rows read at a time when streaming sums over the count matrix.
    """

    BRANCH = "conditions"
    # the figure's genes per cell type, read by rule conditions_figures
    WORKFLOW_KEYS = ("enabled", "n_top_genes")

    min_cells: int = 10
    min_samples: int = 2
    fdr: float = 0.05
    n_permutations: int = 200
    max_cells_per_type: int = 500
    seed: int = 0
    n_components: int = 20
    n_folds: int = 5
    classifier_c: float = 0.1
    min_expressing: float = 0.01
    min_count: float = 0.0
    chunk_rows: int = 10000


#: the defaults, the functions' default argument
DEFAULT_OPTIONS = ConditionsOptions()
