"""Doublets per batch: scDblFinder-like classifier (`scinterp.preprocess.doublets`) or scanpy's
scrublet."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.preprocess.qc._params import QC_DEFAULTS
from scinterp.preprocess.qc._thresholds import _mad_bounds

log = logging.getLogger(__package__)


# Scrublet needs enough cells for its kNN graph and PCA; smaller batches are skipped.
MIN_CELLS_SCRUBLET = 100


def detect_doublets(
    adata,
    batches: np.ndarray,
    *,
    method: str | None = None,
    n_mads: float = 3,
    random_state: int = 0,
) -> pd.DataFrame:
    """Doublets per batch on raw counts in ``adata.X``.

    ``method`` (default ``QC_DEFAULTS["doublet_method"]``):

    - ``"classifier"``: scDblFinder's idea (`scinterp.preprocess.doublets.score_doublets`):
      heterotypic doublets simulated from cluster pairs, a classifier tells them from the
      real cells, a threshold weighing both errors; the scores of three seeds
      (``random_state``, ``+ 1000``, ``+ 2000``) are averaged, so that the calls hardly
      depend on the seed. On independent data with 3% heterotypic doublets it removes
      far more than scrublet (benchmarks/README.md).
    - ``"scrublet"``: scanpy's scrublet; a cell is called a doublet when its score passes
      scrublet's automatic threshold and is also above the batch's median score +
      ``n_mads`` scaled MADs.

    Batches with fewer than `MIN_CELLS_SCRUBLET` cells are skipped with a warning
    (score NaN, not a doublet).

    Returns
    -------
    DataFrame indexed like ``adata.obs_names`` with ``doublet_score`` and
    ``predicted_doublet``.
    """
    import scanpy as sc

    method = method or QC_DEFAULTS["doublet_method"]
    if method not in ("classifier", "scrublet"):
        raise ScinterpInputError(
            f"unknown qc.doublet_method '{method}'.", fix="use 'classifier' or 'scrublet'."
        )
    out = pd.DataFrame(
        {"doublet_score": np.nan, "predicted_doublet": False}, index=adata.obs_names.copy()
    )
    for batch in pd.unique(batches):
        idx = np.flatnonzero(batches == batch)
        if method == "classifier":
            _classifier_batch(adata, idx, batch, out, random_state)
            continue
        if len(idx) < MIN_CELLS_SCRUBLET:
            log.warning(
                "batch '%s': %d cells, fewer than the %d scrublet needs; doublet detection "
                "skipped for this batch.",
                batch,
                len(idx),
                MIN_CELLS_SCRUBLET,
            )
            continue
        sub = adata[idx].copy()
        res = None
        # Scrublet's PCA needs fewer components than cells and variable genes; retry
        # with fewer components on small data rather than fail the whole QC.
        for n_pcs in (min(30, len(idx) // 4), 10, 5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", category=FutureWarning)
                    # exact neighbours: scanpy 1.11.5's approximate path (taken above 4,096
                    # cells) calls getnnz on scikit-learn's csr_array, which scipy 1.17 no
                    # longer has, and failed every batch of 4,000+ cells
                    res = sc.pp.scrublet(
                        sub,
                        n_prin_comps=n_pcs,
                        random_state=random_state,
                        copy=True,
                        verbose=False,
                        use_approx_neighbors=False,
                    )
                break
            except (ValueError, IndexError) as e:
                log.info("batch '%s': scrublet with %d PCs failed (%s)", batch, n_pcs, e)
        if res is None:
            log.warning("batch '%s': scrublet failed; doublet detection skipped.", batch)
            continue
        score = res.obs["doublet_score"].to_numpy(dtype=float)
        # Scrublet's automatic threshold (a minimum of the simulated scores'
        # histogram) is noisy on batches of a few hundred cells and then calls
        # singlets; a call must also be an outlier among the batch's observed
        # scores, which singlets dominate.
        _, mad_thr = _mad_bounds(score, n_mads)
        scrub_thr = res.uns.get("scrublet", {}).get("threshold")
        if scrub_thr is None:
            log.warning(
                "batch '%s': scrublet found no doublet-score threshold; using the "
                "MAD outlier threshold alone.",
                batch,
            )
        thr = max(float(scrub_thr) if scrub_thr is not None else -np.inf, mad_thr)
        log.info(
            "batch '%s': doublet threshold %.3f (scrublet %s, median + %s MADs %.3f)",
            batch,
            thr,
            "none" if scrub_thr is None else f"{float(scrub_thr):.3f}",
            n_mads,
            mad_thr,
        )
        out.iloc[idx, 0] = score
        out.iloc[idx, 1] = score > thr
    out["predicted_doublet"] = out["predicted_doublet"].astype(bool)
    return out


def _classifier_batch(adata, idx, batch, out, random_state) -> None:
    """`detect_doublets` with the classifier on one batch's rows ``idx`` (writes ``out``)."""
    from scipy import sparse

    from scinterp.preprocess.doublets import MIN_CELLS, score_doublets

    if len(idx) < MIN_CELLS:
        log.warning(
            "batch '%s': %d cells, fewer than the %d the doublet classifier needs; doublet "
            "detection skipped for this batch.",
            batch,
            len(idx),
            MIN_CELLS,
        )
        return
    X = adata.X[idx]
    X = sparse.csr_matrix(X) if not sparse.issparse(X) else X.tocsr()
    try:
        res = score_doublets(X, random_state=random_state)
    except ValueError as e:  # too few genes or clusters to simulate heterotypic doublets
        log.warning("batch '%s': doublet classifier failed (%s); skipped.", batch, e)
        return
    log.info(
        "batch '%s': doublet classifier, %d clusters, threshold %.3f, %d of %d called",
        batch,
        res.n_clusters,
        res.threshold,
        int(res.predicted_doublet.sum()),
        len(idx),
    )
    out.iloc[idx, 0] = res.score
    out.iloc[idx, 1] = res.predicted_doublet
