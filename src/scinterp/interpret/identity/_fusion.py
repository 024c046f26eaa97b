"""Putting sources together: reciprocal-rank consensus, ensemble means and the
members' agreement, and the long table of ranked genes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scinterp.interpret.identity._options import DEFAULT_OPTIONS

#: the consensus's sources by default (``branches.identity.consensus``)
DEFAULT_CONSENSUS = DEFAULT_OPTIONS.consensus


COLUMNS = ["cell_type", "gene", "score", "rank", "method", "confidence"]


def consensus_scores(
    sources: Mapping[str, pd.DataFrame], include: Sequence[str] | None = None, k: float = 10.0
) -> pd.DataFrame:
    """Reciprocal-rank fusion: score(g, type) = mean over sources of 1 / (k + rank).

    Parameters
    ----------
    sources
        Method -> cell types x genes scores (NaN = not ranked by that method).
    include
        Methods to fuse (those missing from ``sources`` are skipped); default all.
    k
        Damping constant: small ``k`` lets the very top of each list dominate.
    """
    names = [m for m in (include or list(sources)) if m in sources]
    if not names:
        raise ValueError(
            f"no consensus source available; wanted {list(include or [])}, have {list(sources)}"
        )
    types = sorted(set().union(*(sources[m].index for m in names)))
    genes = list(dict.fromkeys(g for m in names for g in sources[m].columns))
    total = pd.DataFrame(0.0, index=types, columns=genes)
    for m in names:
        s = sources[m].reindex(index=types, columns=genes)
        ranks = s.rank(axis=1, ascending=False, method="average")
        total += (1.0 / (k + ranks)).fillna(0.0)
    return total / len(names)


def ensemble_scores(members: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Cell types x genes: the mean of the members' scores (one matrix per trained
    seed of the same model), aligned on types and genes; a gene a member did not score
    is averaged over the members that did."""
    if not members:
        raise ValueError("an ensemble needs at least one member")
    if len(members) == 1:
        return members[0]
    types = sorted(set().union(*(m.index for m in members)))
    genes = list(dict.fromkeys(g for m in members for g in m.columns))
    stack = np.stack([m.reindex(index=types, columns=genes).to_numpy(float) for m in members])
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(stack, axis=0) if np.isnan(stack).any() else stack.mean(axis=0)
    return pd.DataFrame(mean, index=types, columns=genes)


def ensemble_confidence(
    members: Sequence[pd.DataFrame], k: int = DEFAULT_OPTIONS.confidence_top
) -> pd.DataFrame:
    """Cell types x genes: the share of members whose own scores put the gene in the
    type's top ``k`` (1.0: every member agrees; 0.0: none, e.g. below every member's top k).

    Parameters
    ----------
    members
        One cell types x genes score matrix per ensemble member (higher = better), e.g.
        the consensus each member's model gives with the shared sources.
    k
        Top genes per type that count as "found".
    """
    if not members:
        raise ValueError("a confidence needs at least one member")
    types = sorted(set().union(*(m.index for m in members)))
    genes = list(dict.fromkeys(g for m in members for g in m.columns))
    hits = pd.DataFrame(0.0, index=types, columns=genes)
    for m in members:
        for t, row in m.iterrows():
            top = row.dropna().nlargest(k).index
            hits.loc[t, top] += 1.0
    return hits / len(members)


def long_table(
    scores: pd.DataFrame,
    method: str,
    model: str | None = None,
    confidence: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """types x genes scores -> ``cell_type, gene, score, rank, method[, model],
    confidence`` rows, best first per type (rank 1 = best); NaN scores are left out.
    ``confidence`` (types x genes, e.g. :func:`ensemble_confidence`) fills the column;
    without it the column is empty (NaN)."""
    s = scores.stack().dropna().rename("score").reset_index()
    s.columns = ["cell_type", "gene", "score"]
    s = s.sort_values(["cell_type", "score"], ascending=[True, False], kind="stable")
    s["rank"] = s.groupby("cell_type").cumcount() + 1
    s["method"] = method
    if model is not None:
        s["model"] = model
    if confidence is not None:
        c = confidence.stack().rename("confidence")
        s = s.join(c, on=["cell_type", "gene"])
        s["confidence"] = s["confidence"].fillna(0.0)
    else:
        s["confidence"] = np.nan
    return s.reset_index(drop=True)


#: the consensus sources that are statistics of the expression (no model in them)
STATISTICS = ("wilcoxon", "pairwise_auc")


def model_contribution(
    genes: pd.DataFrame,
    evaluation: pd.DataFrame | None = None,
    k: int = DEFAULT_OPTIONS.precision_k,
) -> str | None:
    """One sentence for the findings page: what the model-based sources of the consensus
    change, from the run's own table.

    The consensus is re-fused from its statistics alone (:data:`STATISTICS`, the
    consensus's ``model`` column names the sources it fused); the sentence gives how many
    of the consensus's top ``k`` genes per cell type that changes and, with an
    evaluation, each model-based source's precision@k beside Wilcoxon's. None when the
    consensus fused no model-based source or no statistic.
    """
    cons = genes[genes["method"] == "consensus"]
    if cons.empty or "model" not in cons or cons["model"].isna().all():
        return None
    fused = str(cons["model"].dropna().iloc[0]).split("+")
    stats = [m for m in fused if m in STATISTICS]
    models = [m for m in fused if m not in STATISTICS]
    if not stats or not models:
        return None
    sources = {
        m: g.pivot(index="cell_type", columns="gene", values="score")
        for m, g in genes[genes["method"].isin(stats)].groupby("method")
    }
    without = consensus_scores(sources, stats)
    changed = []
    for t, grp in cons.groupby("cell_type"):
        if t in without.index:
            top = set(grp.nsmallest(k, "rank")["gene"])
            changed.append(len(top - set(without.loc[t].nlargest(k).index)))
    if not changed:
        return None
    text = (
        f"What the model adds: fused from the statistics alone ({', '.join(stats)}), the "
        f"consensus would lose {np.mean(changed):.1f} of its top {k} genes per cell type "
        f"(mean over {len(changed)} types), the genes that {', '.join(models)} put there"
    )
    if evaluation is not None and len(evaluation):
        prec = evaluation.groupby("method")["precision_at_k"].mean()
        alone = [f"{m} {prec[m]:.2f}" for m in models if m in prec]
        if alone and "wilcoxon" in prec:
            text += (
                f"; against the true markers, precision@{k} of the model alone: "
                f"{', '.join(alone)} (Wilcoxon {prec['wilcoxon']:.2f})"
            )
    return text + "."
