"""Normalization, highly variable genes, embedding and clustering.

:func:`run_normalize` is the entry point used by the ``normalize`` rule
(:func:`normalize_to_file` writes its file). All genes are kept (HVGs are flagged in
``var["highly_variable"]``), raw counts stay in ``layers["counts"]``, and ``.X`` holds
log1p(normalized counts) as sparse CSR.

Modules: ``_lean`` (chunked CSR paths for atlases), ``_hvg`` (HVG selection), ``_embed``
(neighbours, UMAP, Leiden, labels), ``_plots`` (the UMAP figure), ``_run`` (the stage);
the defaults are in :mod:`scinterp.preprocess.defaults`, the kNN graph in
:mod:`scinterp.preprocess.neighbors`.
"""

from scinterp.preprocess.defaults import LABEL_COLUMN, NORMALIZE_DEFAULTS
from scinterp.preprocess.normalize._embed import (
    embed_and_cluster,
    embedding_key,
    label_cells,
    umap_on_sample,
)
from scinterp.preprocess.normalize._hvg import MIN_CELLS_HVG_BATCH, select_hvgs
from scinterp.preprocess.normalize._lean import (
    LEAN_MIN_NNZ,
    hvgs_seurat_v3_csr,
    normalize_log1p_inplace,
)
from scinterp.preprocess.normalize._plots import PLOT_MAX_CELLS, plot_umap
from scinterp.preprocess.normalize._run import normalize_to_file, run_normalize

__all__ = [
    "LABEL_COLUMN",
    "LEAN_MIN_NNZ",
    "MIN_CELLS_HVG_BATCH",
    "NORMALIZE_DEFAULTS",
    "PLOT_MAX_CELLS",
    "embed_and_cluster",
    "embedding_key",
    "hvgs_seurat_v3_csr",
    "label_cells",
    "normalize_log1p_inplace",
    "normalize_to_file",
    "plot_umap",
    "run_normalize",
    "select_hvgs",
    "umap_on_sample",
]
