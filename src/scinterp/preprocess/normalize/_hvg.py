"""Highly variable genes: seurat_v3 on the counts, per batch when the batches are big
enough."""

from __future__ import annotations

import logging
import warnings

from scinterp.preprocess.normalize._lean import _lean, hvgs_seurat_v3_csr

log = logging.getLogger(__name__)

# seurat_v3 fits a loess per batch; a batch smaller than this gives an unstable fit.
MIN_CELLS_HVG_BATCH = 30


def select_hvgs(adata, n_top_genes: int, batch_key: str | None, *, fallback: bool = True) -> bool:
    """Flag HVGs (``var["highly_variable"]``) with seurat_v3 on ``layers["counts"]``.

    Uses the batches when every batch has at least `MIN_CELLS_HVG_BATCH` cells,
    caps ``n_top_genes`` at the number of genes, and falls back to the ``seurat``
    flavour on log data in ``.X`` if the loess fit fails (tiny or degenerate data).
    With ``fallback=False`` it returns False instead of falling back (``.X`` does not
    hold log data yet). Returns True when HVGs were flagged.
    """
    import scanpy as sc

    n_top = int(min(n_top_genes, adata.n_vars))
    use_batch = batch_key
    if batch_key is not None:
        sizes = adata.obs[batch_key].value_counts()
        if len(sizes) < 2:
            use_batch = None
        elif sizes.min() < MIN_CELLS_HVG_BATCH:
            log.warning(
                "HVGs: batch '%s' has %d cells (< %d); HVGs are selected on all cells together.",
                sizes.idxmin(),
                sizes.min(),
                MIN_CELLS_HVG_BATCH,
            )
            use_batch = None
    try:
        counts = adata.layers["counts"]
        if _lean(counts):
            hvgs_seurat_v3_csr(adata, n_top, use_batch)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", category=UserWarning)
                sc.pp.highly_variable_genes(
                    adata,
                    flavor="seurat_v3",
                    layer="counts",
                    n_top_genes=n_top,
                    batch_key=use_batch,
                )
    except Exception as e:  # noqa: BLE001 - skmisc's loess raises plain ValueErrors
        if not fallback:
            log.info("HVGs: seurat_v3 failed (%s); retried on log data.", e)
            return False
        log.warning("HVGs: seurat_v3 failed (%s); using flavor='seurat' on log data.", e)
        sc.pp.highly_variable_genes(adata, flavor="seurat", n_top_genes=n_top, batch_key=use_batch)
    adata.var["highly_variable"] = adata.var["highly_variable"].astype(bool)
    log.info(
        "HVGs: %d of %d genes (seurat_v3 on counts, batch_key=%s)",
        int(adata.var["highly_variable"].sum()),
        adata.n_vars,
        use_batch,
    )
    return True
