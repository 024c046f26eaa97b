"""Differential-expression baselines: scran-like pairwise AUC (the smallest over the
other types) and scanpy's Wilcoxon z-scores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scinterp.interpret.identity._attribution import _dense


def pairwise_auc_scores(X, labels, features: Sequence[str], chunk: int = 2048) -> pd.DataFrame:
    """Cell types x genes: the smallest, over the other types, of the gene's
    Mann-Whitney AUC of the type against that type (scran's ``findMarkers`` with
    ``pval.type="all"``, read as an effect size).

    1 when the type's cells express the gene above every cell of each other type, 0.5
    when some other type expresses it as much. One-vs-rest tests (Wilcoxon) also rank
    high a gene the type shares with one other type; this does not.
    """
    from scipy.stats import rankdata

    labels = np.asarray(labels, dtype=object).astype(str)
    types = sorted(pd.unique(labels))
    idx = {t: np.flatnonzero(labels == t) for t in types}
    n_genes = X.shape[1]
    out = np.full((len(types), n_genes), np.inf)
    for start in range(0, n_genes, chunk):
        block = _dense(X[:, start : start + chunk])
        for i, t in enumerate(types):
            for u in types[i + 1 :]:
                a, b = block[idx[t]], block[idx[u]]
                ranks = rankdata(np.vstack([a, b]), axis=0)
                auc = (ranks[: len(a)].sum(axis=0) - len(a) * (len(a) + 1) / 2) / (len(a) * len(b))
                j = types.index(u)
                cols = slice(start, start + block.shape[1])
                out[i, cols] = np.minimum(out[i, cols], auc)
                out[j, cols] = np.minimum(out[j, cols], 1.0 - auc)
    out[np.isinf(out)] = np.nan  # a single type: nothing to compare with
    return pd.DataFrame(out, index=types, columns=list(features))


def wilcoxon_scores(adata, label_key: str) -> pd.DataFrame:
    """Cell types x genes: scanpy ``rank_genes_groups`` (Wilcoxon) z-scores, one type vs rest."""
    import scanpy as sc

    a = adata.copy()
    a.obs[label_key] = a.obs[label_key].astype(str).astype("category")
    sc.tl.rank_genes_groups(a, label_key, method="wilcoxon", use_raw=False)
    res = a.uns["rank_genes_groups"]
    types = list(res["names"].dtype.names)
    rows = {t: pd.Series(res["scores"][t], index=res["names"][t]) for t in types}
    return pd.DataFrame(rows).T.reindex(columns=list(a.var_names)).astype(float)
