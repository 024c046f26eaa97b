"""Which genes change between conditions, per cell type, with samples as replicates.

Three ``method`` rows per gene, cell type and contrast (``conditions/genes.tsv``):

* ``pseudobulk``: pydeseq2 (DESeq2's negative binomial GLM, Wald test) on the count sums
  per sample x cell type; ``log_fc`` (log2, test over reference) comes from it.
* ``distribution``: per-cell features of each gene's expression (log1p of counts per
  10,000, computed here from the raw counts) aggregated per sample x type: the share of
  expressing cells (arcsine square root), the mean level among the expressing cells and
  the log of the standard deviation among them. Each is tested across samples with the
  moderated t (``_moderated``; variances shrunk across genes toward a prior that follows a
  trend in the gene's log mean count, as limma-trend) and the three p-values are combined
  (Cauchy). It sees what a mean misses: a subpopulation switching on, a share of
  expressing cells, a wider or narrower distribution.
* ``consensus``: the row to read first: Cauchy combination of the pseudobulk mean test
  (weight 0.85), the detection (0.025) and the spread (0.125) p-values (the level among
  expressing cells is left out: ``CONSENSUS_WEIGHTS``); valid under their dependence.
  The mean test is pydeseq2's Wald statistic read on a t distribution with the degrees
  of freedom limma-trend gives the gene's pseudobulk log-CPM (residual + prior df), not
  on the normal as pydeseq2 does: the normal ignores that the dispersion comes from a few
  samples and called genes on null data (5 vs 5 samples). A gene with counts that
  pydeseq2 leaves without a p-value (a Cook's-distance outlier: one sample carries the
  change) has no consensus row. ``stat`` is the signed ``-log10`` of its p-value (sign of
  ``log_fc``).

With ``min_count`` > 0 (off by default), genes with too few counts in a cell type's
pseudobulks to test (edgeR's ``filterByExpr`` rule, :func:`filter_by_expr`) get no
``pseudobulk`` and no ``consensus`` row, as DESeq2's vignette pre-filters and edgeR
filters: on an atlas they are most of pydeseq2's fits.

``adj_p_value``: Benjamini-Hochberg within (method, contrast) over every cell type and
gene tested. ``confidence`` (every row): the share of test-condition samples whose own
log CPM of the gene, minus the reference samples' mean, has the sign of ``log_fc``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ._common import adjust, cauchy_combine, design_of, eligible
from ._moderated import moderated_t
from ._options import DEFAULT_OPTIONS, ConditionsOptions
from ._pseudobulk import _matrix, groups_of, stream_cell_sums

GENE_COLUMNS = [
    "cell_type",
    "gene",
    "contrast",
    "log_fc",
    "stat",
    "p_value",
    "adj_p_value",
    "method",
    "confidence",
]
FEATURES = ("detection", "level", "spread")
#: consensus weights: the pseudobulk mean test, then each feature (detection, level,
#: spread). Chosen on the worst dataset, real-count semi-synthetic data
#: (benchmarks/conditions.py semi_synthetic, seeds 0-1; LOG.md "Conditions, final
#: settings"): the level among expressing cells (from ~20 cells per sample x type there)
#: added noise to both rankings, and the spread carries the DP + DM signal. Against
#: (0.9, 1/30, 1/30, 1/30), seeds 0 / 1: semi 5 vs 5 DP + DM AUPRC 0.320 / 0.222 -> 0.355 /
#: 0.308 (pydeseq2 0.235 / 0.233), DE 0.668 / 0.653 -> 0.664 / 0.681 (pydeseq2 0.650 /
#: 0.691); semi 3 vs 3 DE 0.622 / 0.592 -> 0.607 / 0.579 (pydeseq2 0.610 / 0.611: a larger
#: spread weight, 0.175, put it 0.03 below); synthetic 10 vs 10 seed 0 FDP 0.050 -> 0.039,
#: DP + DM 0.842 -> 0.867, DE 0.950.
CONSENSUS_WEIGHTS = (0.85, 0.025, 0.0, 0.125)
#: ``spread`` is ``log(sd + SPREAD_OFFSET)`` of log1p expression among expressing cells
SPREAD_OFFSET = 0.05


def _cell_features(block: sparse.csr_matrix) -> dict:
    """The per-cell features whose group sums :func:`gene_sums` returns, as CSR matrices
    (the definition; ``stream_cell_sums`` computes their sums without them)."""
    block = block.astype(np.float64)
    lib = np.asarray(block.sum(1)).ravel()
    scale = sparse.diags(1e4 / np.maximum(lib, 1.0))
    logn = (scale @ block).tocsr()
    logn.data = np.log1p(logn.data)
    expr = logn.copy()
    expr.data = (expr.data > 0).astype(np.float64)
    sq = logn.copy()
    sq.data = sq.data**2
    return {"expr": expr, "log": logn, "log2": sq}


def gene_sums(adata, label_key, sample_key, layer="counts", chunk_rows=10000, n_jobs=1):
    """One streamed pass: count sums and the per-cell feature sums per sample x type
    (``sum``, and ``expr``, ``log``, ``log2`` of :func:`_cell_features`), the groups
    split over ``n_jobs`` threads (the same sums at any count)."""
    codes, meta = groups_of(adata.obs, label_key, sample_key)
    sums = stream_cell_sums(_matrix(adata, layer), codes, len(meta), chunk_rows, n_jobs)
    return sums, meta


def _lin_reg_mu(counts, size_factors, design_matrix, min_mu):
    """pydeseq2's ``lin_reg_mu`` (the genewise dispersions' first means: a least-squares
    fit of each gene's normalized counts on the design), the same arrays bit for bit
    without a scikit-learn estimator per gene: the LAPACK call ``LinearRegression``
    makes (``scipy.linalg.lstsq`` with its ``tol`` as the cut-off; no intercept) and its
    prediction. scikit-learn's input checks were a quarter of pydeseq2's time at atlas
    scale (100 samples x 20,000 genes, benchmarks/conditions_atlas.py)."""
    from scipy import linalg
    from sklearn.linear_model import LinearRegression

    cond = LinearRegression().get_params().get("tol")
    x = np.asarray(design_matrix, dtype=np.float64)
    y = np.asarray(counts / np.asarray(size_factors)[:, None], dtype=np.float64)
    out = np.empty(y.shape)
    for i in range(y.shape[1]):
        coef = linalg.lstsq(x, y[:, i], cond=cond)[0]
        out[:, i] = np.maximum(size_factors * (x @ coef + 0.0), min_mu)
    return out


def _inference(n_jobs: int):
    """pydeseq2's default inference in ``n_jobs`` processes, with :func:`_lin_reg_mu`."""
    from pydeseq2.default_inference import DefaultInference

    class Inference(DefaultInference):
        def lin_reg_mu(self, counts, size_factors, design_matrix, min_mu):
            return _lin_reg_mu(counts, size_factors, design_matrix, min_mu)

    return Inference(n_cpus=max(1, int(n_jobs)))


def _deseq(counts: pd.DataFrame, in_test: np.ndarray, seed: int, n_jobs: int = 1) -> pd.DataFrame:
    """pydeseq2 Wald test of test vs reference: log2FoldChange, stat, pvalue per gene.
    ``n_jobs``: pydeseq2's processes (its per-gene fits are independent: the same
    results at any count); most of the branch's time at atlas scale (100 samples x
    20,000 genes: 30-38 CPU-s per cell type on 1 thread)."""
    import logging

    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    logging.getLogger("pydeseq2").setLevel(logging.ERROR)
    meta = pd.DataFrame({"condition": np.where(in_test, "test", "reference")}, index=counts.index)
    inference = _inference(n_jobs)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = DeseqDataSet(
            counts=counts,
            metadata=meta,
            design="~condition",
            refit_cooks=True,
            inference=inference,
            quiet=True,
        )
        dds.deseq2()
        ds = DeseqStats(
            dds, contrast=["condition", "test", "reference"], inference=inference, quiet=True
        )
        ds.summary()
    return ds.results_df.reindex(counts.columns)


def filter_by_expr(
    counts: np.ndarray,
    in_test: np.ndarray,
    min_count: float,
    min_total_count: float = 15.0,
    large_n: int = 10,
    min_prop: float = 0.7,
) -> np.ndarray:
    """Genes (columns of ``counts``, samples x genes) with enough counts to test: edgeR's
    ``filterByExpr`` (Chen, Lun and Smyth 2016) for a two-group design. A gene is kept
    when its CPM reaches ``min_count`` / median library size x 1e6 in at least as many
    samples as the smaller condition has (above ``large_n`` samples, ``large_n`` plus
    ``min_prop`` of the rest) and its total count reaches ``min_total_count``. edgeR's
    default ``min_count`` is 10 (the branch's option, ``min_count``, is 0: off)."""
    counts = np.asarray(counts, dtype=float)
    lib = counts.sum(1)
    if not (lib > 0).any():
        return np.zeros(counts.shape[1], dtype=bool)
    cutoff = min_count / np.median(lib) * 1e6
    with np.errstate(invalid="ignore", divide="ignore"):
        cpm = counts / lib[:, None] * 1e6
    n = float(min(int(in_test.sum()), int((~in_test).sum())))
    if n > large_n:
        n = large_n + (n - large_n) * min_prop
    tol = 1e-14
    return ((cpm >= cutoff).sum(0) >= n - tol) & (counts.sum(0) >= min_total_count - tol)


def _per_sample_sign(counts: np.ndarray, in_test: np.ndarray, sign: np.ndarray) -> np.ndarray:
    lib = counts.sum(1, keepdims=True)
    logcpm = np.log2((counts + 0.5) / (np.maximum(lib, 1) + 1.0) * 1e6)
    diff = logcpm[in_test] - logcpm[~in_test].mean(0)
    return (np.sign(diff) == sign[None, :]).mean(0)


def test_genes(
    adata,
    label_key: str,
    sample_key: str,
    condition_key: str,
    contrasts,
    options: ConditionsOptions = DEFAULT_OPTIONS,
    *,
    layer: str = "counts",
    sums=None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """``conditions/genes.tsv`` (module docstring); ``attrs['skipped']`` lists the cell
    types and contrasts left out and why. ``sums``: ``gene_sums``' result, to reuse.
    ``n_jobs``: threads of the count sums and processes of the pseudobulk fits (pydeseq2)."""
    per_sample = design_of(adata.obs, sample_key, condition_key)
    sums, meta = sums or gene_sums(adata, label_key, sample_key, layer, options.chunk_rows, n_jobs)
    genes = np.asarray(adata.var_names.astype(str))
    pos = pd.Series(np.arange(len(meta)), index=meta.index)
    frames, skipped = [], []
    for contrast in contrasts:
        name = f"{contrast[0]}_vs_{contrast[1]}"
        for cell_type in sorted(meta["cell_type"].unique()):
            m, reason = eligible(meta, per_sample, cell_type, contrast, options)
            if reason:
                skipped.append(reason)
                continue
            rows = pos[m.index].to_numpy()
            in_test = m["in_test"].to_numpy()
            n = m["n_cells"].to_numpy(dtype=float)[:, None]
            counts = sums["sum"][rows]
            expr = sums["expr"][rows]
            share_all = expr.sum(0) / n.sum()
            keep = counts.sum(0) > 0
            if options.min_count > 0:
                keep &= filter_by_expr(counts, in_test, options.min_count)
            frames.append(
                _one_type(
                    counts,
                    expr,
                    sums["log"][rows],
                    sums["log2"][rows],
                    n,
                    in_test,
                    keep,
                    share_all >= options.min_expressing,
                    genes,
                    cell_type,
                    name,
                    options,
                    n_jobs,
                )
            )
    cols = GENE_COLUMNS
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    out["adj_p_value"] = adjust(out)
    out = out[cols]
    out.attrs["skipped"] = skipped
    return out


def _one_type(
    counts,
    expr,
    logsum,
    log2sum,
    n,
    in_test,
    keep,
    testable,
    genes,
    cell_type,
    contrast,
    options,
    n_jobs=1,
):
    g = len(genes)
    pb = pd.DataFrame(np.nan, index=genes, columns=["log2FoldChange", "stat", "pvalue"])
    if keep.any():
        res = _deseq(
            pd.DataFrame(counts[:, keep].astype(np.int64), columns=genes[keep]),
            in_test,
            options.seed,
            n_jobs,
        )
        pb.loc[genes[keep], ["log2FoldChange", "stat", "pvalue"]] = res[
            ["log2FoldChange", "stat", "pvalue"]
        ].to_numpy()
    feats = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        share = expr / n
        level = np.where(expr >= 3, logsum / expr, np.nan)
        var = np.where(expr >= 3, (log2sum - expr * level**2) / (expr - 1), np.nan)
        feats["detection"] = np.arcsin(np.sqrt(share))
        feats["level"] = level
        # the log of the standard deviation: its sampling variance does not grow with the
        # level (the raw standard deviation from a few cells has heavy tails: on real-count
        # null data 4.4x too many p < 1e-5, none too many for the log; benchmarks/README)
        feats["spread"] = np.log(np.sqrt(np.maximum(var, 0)) + SPREAD_OFFSET)
    fp, fstat = {}, {}
    # the variance of every feature depends on the gene's level (counting noise, and the
    # samples' own effects at high counts): the prior follows a trend in log mean count
    level_cov = np.log(counts.sum(0) / n.sum() + 1e-3)[testable]
    for f, v in feats.items():
        r = moderated_t(v[:, testable].T, in_test, covariate=level_cov)
        p = np.full(g, np.nan)
        t = np.full(g, np.nan)
        p[testable] = r["p_value"].to_numpy()
        t[testable] = r["stat"].to_numpy()
        fp[f], fstat[f] = p, t
    fmat = np.column_stack([fp[f] for f in FEATURES])
    dist_p = cauchy_combine(fmat)
    best = np.nanargmin(np.where(np.isfinite(fmat), fmat, np.inf), axis=1)
    dist_stat = np.column_stack([fstat[f] for f in FEATURES])[np.arange(g), best]
    dist_stat = np.where(np.isfinite(dist_p), dist_stat, np.nan)
    pb_p = pb["pvalue"].to_numpy(dtype=float)
    # the consensus's mean test: pydeseq2's Wald statistic read on a t distribution with
    # the degrees of freedom limma-trend gives the gene's pseudobulk log-CPM (residual +
    # prior df), not on the normal: the normal ignores that the dispersion comes from a
    # few samples and called genes on null data (5 vs 5 samples). A gene with counts that
    # pydeseq2 leaves without a p-value (a Cook's outlier: one sample carries the change)
    # gets no consensus: a change in one sample is not a change between conditions.
    mean_p = np.full(g, np.nan)
    if keep.sum() >= 2:
        c = counts[:, keep].astype(float)
        logcpm = np.log2((c + 0.5) / (c.sum(1, keepdims=True) + 1.0) * 1e6)
        df_t = moderated_t(logcpm.T, in_test, covariate=logcpm.mean(0))["df"].to_numpy()
        wald = np.abs(pb["stat"].to_numpy(dtype=float)[keep])
        mean_p[keep] = 2 * stats.t.sf(wald, np.maximum(df_t, 1.0))
    cons_p = cauchy_combine(np.column_stack([mean_p, fmat]), np.array(CONSENSUS_WEIGHTS))
    cons_p[~keep | ~np.isfinite(pb_p)] = np.nan  # not tested, or a one-sample change
    lfc = pb["log2FoldChange"].to_numpy(dtype=float)
    sign = np.sign(np.nan_to_num(lfc))
    conf = _per_sample_sign(counts.astype(float), in_test, sign)
    conf = np.where(np.isfinite(lfc), conf, np.nan)
    with np.errstate(divide="ignore"):
        cons_stat = sign * -np.log10(np.clip(cons_p, 1e-300, 1))
    base = dict(cell_type=cell_type, gene=genes, contrast=contrast, log_fc=lfc, confidence=conf)
    parts = [
        pd.DataFrame(
            {
                **base,
                "stat": pb["stat"].to_numpy(dtype=float),
                "p_value": pb_p,
                "method": "pseudobulk",
            }
        ),
        pd.DataFrame({**base, "stat": dist_stat, "p_value": dist_p, "method": "distribution"}),
        pd.DataFrame({**base, "stat": cons_stat, "p_value": cons_p, "method": "consensus"}),
    ]
    out = pd.concat(parts, ignore_index=True)
    return out[out["p_value"].notna()].assign(adj_p_value=np.nan)
