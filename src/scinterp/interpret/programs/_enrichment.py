"""Over-representation of de novo programs' genes in the prior gene sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from scinterp.interpret.stats import benjamini_hochberg


def enrichment(
    genes: Sequence[str],
    gene_sets: Mapping[str, Sequence[str]],
    universe: Sequence[str],
) -> pd.DataFrame:
    """Hypergeometric over-representation of ``genes`` in each gene set, BH-adjusted.

    Sets and genes are restricted to ``universe`` (the genes the model saw).

    Returns
    -------
    pandas.DataFrame
        ``gene_set, overlap, set_size, n_genes, universe, fold_enrichment, pvalue, padj,
        overlap_genes``, best first. Empty when no set overlaps the universe.
    """
    uni = {str(g) for g in universe}
    query = [g for g in dict.fromkeys(str(g) for g in genes) if g in uni]
    qset = set(query)
    M, N = len(uni), len(query)
    rows = []
    for name, members in gene_sets.items():
        members = {str(g) for g in members} & uni
        n = len(members)
        if n == 0:
            continue
        hits = sorted(qset & members)
        k = len(hits)
        p = float(stats.hypergeom.sf(k - 1, M, n, N)) if k > 0 else 1.0
        fold = (k / N) / (n / M) if N > 0 else 0.0
        rows.append((name, k, n, N, M, fold, p, ",".join(hits)))
    cols = ["gene_set", "overlap", "set_size", "n_genes", "universe", "fold_enrichment", "pvalue"]
    out = pd.DataFrame(rows, columns=[*cols, "overlap_genes"])
    out.insert(7, "padj", benjamini_hochberg(out["pvalue"].to_numpy()))
    return out.sort_values(
        ["pvalue", "overlap"], ascending=[True, False], kind="stable"
    ).reset_index(drop=True)


def denovo_enrichment(
    loadings: pd.DataFrame, gene_sets: Mapping[str, Sequence[str]], universe: Sequence[str]
) -> pd.DataFrame:
    """Enrichment of each de novo program's used genes against the prior gene sets.

    Returns ``method, program`` followed by the columns of :func:`enrichment`.
    """
    frames = []
    denovo = loadings[(loadings["kind"] == "denovo") & loadings["used"].astype(bool)]
    for (method, program), grp in denovo.groupby(["method", "program"], sort=False):
        res = enrichment(grp["gene"].tolist(), gene_sets, universe)
        res.insert(0, "program", program)
        res.insert(0, "method", method)
        frames.append(res)
    cols = ["method", "program", "gene_set", "overlap", "set_size", "n_genes", "universe"]
    cols += ["fold_enrichment", "pvalue", "padj", "overlap_genes"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def denovo_matches(
    enrich: pd.DataFrame, loadings: pd.DataFrame, n_genes_shown: int = 10
) -> pd.DataFrame:
    """One row per de novo program: its top genes and best-matching prior set."""
    rows = []
    denovo = loadings[loadings["kind"] == "denovo"]
    for (method, program), grp in denovo.groupby(["method", "program"], sort=False):
        top = grp.sort_values("rank").head(n_genes_shown)["gene"].tolist()
        hit = enrich[(enrich["method"] == method) & (enrich["program"] == program)]
        best = hit.iloc[0] if len(hit) else None
        rows.append(
            {
                "method": method,
                "program": program,
                "n_used_genes": int(grp["used"].astype(bool).sum()),
                "top_genes": ",".join(top),
                "best_gene_set": best["gene_set"] if best is not None else "",
                "overlap": int(best["overlap"]) if best is not None else 0,
                "padj": float(best["padj"]) if best is not None else np.nan,
            }
        )
    cols = ["method", "program", "n_used_genes", "top_genes", "best_gene_set", "overlap", "padj"]
    return pd.DataFrame(rows, columns=cols)
