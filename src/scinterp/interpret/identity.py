"""Branch (i): cell-identity genes, ranked per cell type by several methods.

Sources, each giving a cell types x genes score matrix (higher = more identity-defining):

* attribution methods (``integrated_gradients``, ``gradient_shap``, ...): the **signed
  mean** attribution of the type's cells, each attributed to its own class. Signed,
  because a marker raises its own class's logit (positive attribution) while genes
  whose *absence* supports the class (markers of other types) come out negative; mean
  |attribution| would rank both alike and let other types' markers in.
* ``attention``: the attention classifier's class-token attention to each gene-set
  token (mean over the type's cells), handed to the token's genes by each gene's
  contribution to the token embedding, ``|W_token[:, g]|`` times the gene's mean
  expression in the type minus in the other cells: score(g) = sum over tokens of
  attention x |weight| x contrast. (A share-of-token normalization favoured genes of
  small tokens whatever their role; the contrast keeps genes all types express alike
  from winning.)
* ``ablation``: in-silico knockout: each candidate gene set to zero in the type's cells,
  drop in the probability of the type (Captum FeatureAblation, many genes per pass).
* ``wilcoxon``: scanpy's ``rank_genes_groups`` z-scores, the baseline users know.
* ``contrastive_ig``: integrated gradients of the type's logit minus each other class's
  logit, mean over the type's cells, then the mean over the other classes
  (``branches.identity.contrast``; ``min`` takes the smallest: what tells the type from
  *every* other type, stricter but less stable across training seeds). With an ensemble
  (``branches.identity.ensemble``) the members' class attributions are averaged first.
* ``pairwise_auc``: the smallest, over the other types, of the Mann-Whitney AUC of the
  type against that type (scran's ``pval.type="all"``).
* ``consensus``: reciprocal-rank fusion of the sources in ``consensus`` (default:
  ``contrastive_ig``, ``pairwise_auc``, ``wilcoxon``, chosen on the generalization
  benchmark by its worst dataset; see benchmarks/README.md). Fusion rewards genes that
  several independent views put near the top: a model-specific artefact (a gene the
  network latched on) or a DE artefact (a highly expressed but non-specific gene) is
  ranked high by one view only and falls behind genes that all agree on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scinterp.evaluate.identity import evaluate_identity, plot_evaluation

__all__ = [
    "DEFAULT_CONSENSUS",
    "ablation_scores",
    "aggregate_attributions",
    "attention_scores",
    "class_attributions",
    "consensus_scores",
    "contrast_scores",
    "contrastive_scores",
    "ensemble_confidence",
    "ensemble_scores",
    "evaluate_identity",
    "long_table",
    "method_summary",
    "pairwise_auc_scores",
    "plot_evaluation",
    "plot_top_genes",
    "rank_identity_genes",
    "wilcoxon_scores",
]

log = logging.getLogger(__name__)

DEFAULT_CONSENSUS = ("contrastive_ig", "pairwise_auc", "wilcoxon")
COLUMNS = ["cell_type", "gene", "score", "rank", "method", "confidence"]


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float32)


def aggregate_attributions(values, labels, features, how: str = "mean") -> pd.DataFrame:
    """Cell types x genes: attributions of each type's cells aggregated per gene.

    Parameters
    ----------
    values
        cells x genes attributions (each cell attributed to its own class).
    labels
        Cell type per cell.
    features
        Gene names (columns).
    how
        ``"mean"`` (signed mean, the default: see the module docstring) or ``"mean_abs"``.
    """
    if how not in ("mean", "mean_abs"):
        raise ValueError(f"unknown aggregation {how!r}; valid: mean, mean_abs")
    values = _dense(values)
    if how == "mean_abs":
        values = np.abs(values)
    labels = np.asarray(labels, dtype=object).astype(str)
    types = sorted(pd.unique(labels))
    rows = [values[labels == t].mean(axis=0) for t in types]
    return pd.DataFrame(np.vstack(rows), index=types, columns=list(features))


def attention_scores(
    model, meta: Mapping, X, labels, device="cpu", batch_size: int = 512
) -> pd.DataFrame:
    """Cell types x genes from the attention classifier's class-token attention.

    See the module docstring. ``meta`` is the model's metadata (``features``); ``X`` holds
    the cells (rows) over exactly those features.
    """
    import torch

    model = model.to(device).eval()
    labels = np.asarray(labels, dtype=object).astype(str)
    att, n = [], X.shape[0]
    with torch.no_grad():
        for s in range(0, n, batch_size):
            xb = torch.as_tensor(_dense(X[s : s + batch_size]), device=device)
            att.append(model.attention(xb).float().cpu().numpy())
    att = np.vstack(att)  # cells x tokens
    mask = model.token_mask.detach().cpu().numpy().astype(np.float32)  # genes x tokens
    w = model.token_weight.detach().cpu().numpy()  # tokens x d x genes
    wnorm = np.linalg.norm(w, axis=1).T * mask  # genes x tokens
    Xd = _dense(X)

    def score(t):
        sel = labels == t
        # Each gene's contrast (type vs rest) contribution to each token's embedding,
        # weighted by the attention the type's cells pay that token.
        diff = Xd[sel].mean(axis=0) - Xd[~sel].mean(axis=0)
        return (wnorm * diff[:, None]) @ att[sel].mean(axis=0)

    types = sorted(pd.unique(labels))
    rows = [score(t) for t in types]
    return pd.DataFrame(np.vstack(rows), index=types, columns=list(meta["features"]))


def ablation_scores(
    model,
    X,
    labels,
    classes: Sequence[str],
    features: Sequence[str],
    candidates: Mapping[str, Sequence[str]],
    *,
    device="cpu",
    batch_size: int = 256,
    max_rows: int = 16384,
) -> pd.DataFrame:
    """Cell types x genes: drop in the probability of the type when one candidate gene
    is set to zero in the type's cells (mean over those cells). Genes that are not
    candidates of a type stay NaN (not ranked).

    Uses :func:`scinterp.attribution.attribute` with ``method="ablation"``: each
    candidate is its own group of Captum's ``feature_mask``; all other genes form one
    extra group whose value is discarded.
    """
    from scinterp.attribution import attribute

    labels = np.asarray(labels, dtype=object).astype(str)
    pos = {g: i for i, g in enumerate(features)}
    cls = {c: i for i, c in enumerate(classes)}
    types = sorted(pd.unique(labels))
    out = pd.DataFrame(np.nan, index=types, columns=list(features))
    for t in types:
        genes = [g for g in dict.fromkeys(candidates.get(t, [])) if g in pos]
        if t not in cls or not genes:
            continue
        cells = np.flatnonzero(labels == t)
        mask = np.full(len(features), len(genes))
        mask[[pos[g] for g in genes]] = np.arange(len(genes))
        vals = attribute(
            model,
            X[cells],
            "ablation",
            cls[t],
            baseline="zeros",
            feature_mask=mask,
            probabilities=True,
            batch_size=batch_size,
            max_rows=max_rows,
            device=device,
        )
        out.loc[t, genes] = vals[:, [pos[g] for g in genes]].mean(axis=0)
    return out


def contrastive_scores(
    model,
    X,
    labels,
    classes: Sequence[str],
    features: Sequence[str],
    *,
    device="cpu",
    n_steps: int = 16,
    batch_size: int = 256,
    max_rows: int = 16384,
    members_too: bool = False,
    contrast: str = "mean",
):
    """Cell types x genes: what separates the type from the other types, in the
    classifier's view.

    For the cells of type t and each other class u, integrated gradients of the logit
    difference ``f_t - f_u`` (by IG's linearity, the attribution to ``f_t`` minus that to
    ``f_u``, same baseline and path), averaged over the type's cells, and then over u
    (``contrast="mean"``: IG of ``f_t`` minus the mean other logit) or the smallest over
    u (``"min"``: a gene scores high only when it raises t against *each* other type).
    The baseline is the mean of the cells given. Types that are not classes of the model
    are left out. ``"min"`` is the stricter view but follows the noisiest contrast: on
    the stability benchmark its top-20 consensus genes agree across training seeds at
    0.87 (real PBMC) whatever the ensemble size, against 0.92 for ``"mean"`` with five
    members, at about the same precision (benchmarks/README.md, "Stability across seeds").

    ``model`` may be a sequence of models (an ensemble: the same architecture trained at
    several seeds on the same classes and features): each class's attribution is then
    averaged over the members *before* the contrast. With ``members_too`` the result is
    ``(ensemble, [one matrix per member])``, the members' own scores from the same
    attributions (no extra passes).
    """
    members = list(model) if isinstance(model, list | tuple) else [model]
    att = class_attributions(
        members,
        X,
        labels,
        classes,
        device=device,
        n_steps=n_steps,
        batch_size=batch_size,
        max_rows=max_rows,
    )
    out, own_scores = contrast_scores(att, classes, features, contrast)
    return (out, own_scores) if members_too else out


def class_attributions(
    models,
    X,
    labels,
    classes: Sequence[str],
    *,
    device="cpu",
    n_steps: int = 16,
    batch_size: int = 256,
    max_rows: int = 16384,
) -> dict[str, np.ndarray]:
    """Per cell type (that is a class): a members x classes x genes array, the mean
    integrated-gradients attribution of the type's cells to each class, for each model
    (baseline: the mean of the cells given). The input of :func:`contrast_scores`."""
    from scinterp.attribution import attribute

    labels = np.asarray(labels, dtype=object).astype(str)
    X = _dense(X)
    cls = {c: i for i, c in enumerate(classes)}
    baseline = X.mean(axis=0, keepdims=True)
    out: dict[str, np.ndarray] = {}
    if len(classes) < 2:
        return out
    for t in [t for t in sorted(pd.unique(labels)) if t in cls]:
        cells = np.flatnonzero(labels == t)
        out[t] = np.array(
            [
                [
                    attribute(
                        member,
                        X[cells],
                        "integrated_gradients",
                        c,
                        baseline=np.repeat(baseline, len(cells), axis=0),
                        n_steps=n_steps,
                        batch_size=batch_size,
                        max_rows=max_rows,
                        device=device,
                    ).mean(axis=0)
                    for c in range(len(classes))
                ]
                for member in models
            ]
        )
    return out


def contrast_scores(
    attributions: Mapping[str, np.ndarray],
    classes: Sequence[str],
    features: Sequence[str],
    contrast: str = "mean",
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """(ensemble, per member) cell types x genes contrastive scores from
    :func:`class_attributions`: the type's class minus each other class, then the mean
    (``contrast="mean"``) or the smallest (``"min"``) over the other classes; the
    ensemble averages the members first."""
    if contrast not in ("mean", "min"):
        raise ValueError(f"contrast must be 'mean' or 'min', not {contrast!r}")
    reduce = np.mean if contrast == "mean" else np.min
    cls = {c: i for i, c in enumerate(classes)}
    types = sorted(attributions)
    n_members = next(iter(attributions.values())).shape[0] if attributions else 1
    out = pd.DataFrame(np.nan, index=types, columns=list(features))
    own_scores = [out.copy() for _ in range(n_members)]
    for t in types:
        att = attributions[t]
        others = [c for c in range(len(classes)) if c != cls[t]]
        diff = att[:, [cls[t]], :] - att[:, others, :]  # members x others x genes
        out.loc[t] = reduce(diff.mean(axis=0), axis=0)
        for i, own in enumerate(own_scores):
            own.loc[t] = reduce(diff[i], axis=0)
    return out, own_scores


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


def ensemble_confidence(members: Sequence[pd.DataFrame], k: int = 20) -> pd.DataFrame:
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


def _ensemble_name(name: str, n: int) -> str:
    return name if n == 1 else f"{name} x{n} seeds"


def _check_members(loaded, dirs) -> None:
    """Members of one ensemble must share classes and features (the same model and data)."""
    _, first = loaded[0]
    for (_, meta), d in zip(loaded[1:], dirs[1:], strict=True):
        if list(meta["classes"]) != list(first["classes"]) or list(meta["features"]) != list(
            first["features"]
        ):
            raise ValueError(
                f"ensemble member {d} was trained on other classes or features than "
                f"{dirs[0]}; members must be the same model on the same normalized.h5ad"
            )


def _share_confident(scores: pd.DataFrame, confidence: pd.DataFrame, top: int) -> float:
    vals = [confidence.loc[t, row.dropna().nlargest(top).index] for t, row in scores.iterrows()]
    vals = pd.concat(vals) if vals else pd.Series(dtype=float)
    return float((vals >= 0.8).mean()) if len(vals) else float("nan")


def method_summary(
    genes: pd.DataFrame, evaluation: pd.DataFrame | None, k: int = 10
) -> pd.DataFrame:
    """One row per method: agreement of its top-k with consensus and Wilcoxon (mean
    Jaccard over types) and, with an evaluation, mean precision@k and AUROC."""
    top = {
        (m, t): set(g.nsmallest(k, "rank")["gene"])
        for (m, t), g in genes.groupby(["method", "cell_type"])
    }
    rows = []
    for m in sorted(genes["method"].unique()):
        types = [t for (mm, t) in top if mm == m]

        def jac(other, m=m, types=types):
            vals = [
                len(top[m, t] & top[other, t]) / max(1, len(top[m, t] | top[other, t]))
                for t in types
                if (other, t) in top
            ]
            return float(np.mean(vals)) if vals else np.nan

        row = {
            "method": m,
            "n_cell_types": len(types),
            f"jaccard_top{k}_vs_consensus": jac("consensus"),
            f"jaccard_top{k}_vs_wilcoxon": jac("wilcoxon"),
        }
        if evaluation is not None and len(evaluation):
            e = evaluation[evaluation["method"] == m]
            row[f"precision_at_{k}"] = float(e["precision_at_k"].mean()) if len(e) else np.nan
            row["auroc"] = float(e["auroc"].mean()) if len(e) else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    if f"precision_at_{k}" in out:
        out = out.sort_values(f"precision_at_{k}", ascending=False, kind="stable")
    return out.reset_index(drop=True)


def rank_identity_genes(
    normalized,
    attributions: Mapping[str, str],
    *,
    model_dir=None,
    member_dirs: Sequence = (),
    attention_dir=None,
    params: Mapping | None = None,
    seed: int = 0,
    device: str = "auto",
) -> tuple[pd.DataFrame, object, str]:
    """The ``rank_identity_genes`` rule: every source, the consensus, one long table.

    Parameters
    ----------
    normalized
        ``normalized.h5ad``.
    attributions
        Method -> attribution h5ad of the identity model (``ablation`` files, which hold
        gene-set-group values, are skipped: gene-level ablation is computed here).
    model_dir
        The identity model's directory (for contrastive IG and in-silico ablation); None
        skips both.
    member_dirs
        Further members of the identity model's ensemble (the same model trained at other
        seeds): contrastive IG and ablation average over ``model_dir`` and these, and the
        table's ``confidence`` column gives, for the model-based methods and the
        consensus, the share of members whose own ranking puts the gene in the type's
        top ``confidence_top`` (:func:`ensemble_confidence`).
    attention_dir
        The attention classifier's directory; None skips the ``attention`` method.
    params
        ``branches.identity``: ``aggregate``, ``consensus``, ``n_candidates``, ``max_cells``,
        ``confidence_top``.
    seed, device
        Cell sampling seed and ``train.device``.

    Returns
    -------
    (genes table, the normalized AnnData, label key)
    """
    import anndata as ad

    from scinterp.data.cells import sample_cells
    from scinterp.io import read_normalized
    from scinterp.models.registry import load_model
    from scinterp.train.loop import resolve_device

    params = dict(params or {})
    dev = resolve_device(device)
    data = read_normalized(normalized)  # X without the counts layer
    label_key = data.uns.get("scinterp", {}).get("label_key") or "label"
    sources: dict[str, pd.DataFrame] = {}
    models: dict[str, str] = {}
    for method, path in attributions.items():
        if method == "ablation":
            continue
        a = ad.read_h5ad(path)
        sources[method] = aggregate_attributions(
            a.X, a.obs[label_key], a.var_names, params.get("aggregate", "mean")
        )
        models[method] = str(a.uns["attribution"]["model"])
    sources["wilcoxon"] = wilcoxon_scores(data, label_key)
    models["wilcoxon"] = ""
    labels_all = data.obs[label_key].astype(str).to_numpy()
    cells = sample_cells(labels_all, params.get("max_cells", 2000), seed)
    if attention_dir is not None:
        model, meta = load_model(attention_dir, dev)
        X = data[cells, list(meta["features"])].X
        sources["attention"] = attention_scores(model, meta, X, labels_all[cells], dev)
        models["attention"] = meta["name"]
    sources["pairwise_auc"] = pairwise_auc_scores(
        data[cells].X, labels_all[cells], list(data.var_names)
    )
    models["pairwise_auc"] = ""
    include = list(params.get("consensus", DEFAULT_CONSENSUS))
    per_member: dict[str, list[pd.DataFrame]] = {}  # model-based method -> one per member
    if model_dir is not None:
        loaded = [load_model(d, dev) for d in [model_dir, *member_dirs]]
        model, meta = loaded[0]
        _check_members(loaded, [model_dir, *member_dirs])
        members = [m for m, _ in loaded]
        X = data[cells, list(meta["features"])].X
        sources["contrastive_ig"], per_member["contrastive_ig"] = contrastive_scores(
            members,
            X,
            labels_all[cells],
            meta["classes"],
            meta["features"],
            device=dev,
            members_too=True,
            contrast=params.get("contrast", "mean"),
        )
        models["contrastive_ig"] = _ensemble_name(meta["name"], len(members))
    if model_dir is not None and "ablation" in include + list(params.get("methods", ["ablation"])):
        # Candidates: the top genes of every other consensus source, per type.
        n_cand = int(params.get("n_candidates", 50))
        cand: dict[str, list[str]] = {}
        for m in include:
            if m in sources:
                for t, row in sources[m].iterrows():
                    cand.setdefault(t, []).extend(row.dropna().nlargest(n_cand).index)
        per_member["ablation"] = [
            ablation_scores(
                member, X, labels_all[cells], meta["classes"], meta["features"], cand, device=dev
            )
            for member in members
        ]
        sources["ablation"] = ensemble_scores(per_member["ablation"])
        models["ablation"] = _ensemble_name(meta["name"], len(members))
    sources["consensus"] = consensus_scores(sources, include)
    models["consensus"] = "+".join(m for m in include if m in sources)
    confidence: dict[str, pd.DataFrame] = {}
    n_members = len(per_member.get("contrastive_ig", []))
    if n_members > 1:
        top = int(params.get("confidence_top", 20))
        for m, own in per_member.items():
            confidence[m] = ensemble_confidence(own, top)
        member_consensus = [
            consensus_scores({**sources, **{m: own[i] for m, own in per_member.items()}}, include)
            for i in range(n_members)
        ]
        confidence["consensus"] = ensemble_confidence(member_consensus, top)
        log.info(
            "identity ensemble of %d members; consensus rows with confidence >= 0.8 among "
            "the top %d per type: %.0f%%",
            n_members,
            top,
            100 * _share_confident(sources["consensus"], confidence["consensus"], top),
        )
    table = pd.concat(
        [long_table(s, m, models[m], confidence.get(m)) for m, s in sources.items()],
        ignore_index=True,
    )
    return table, data, label_key


def plot_top_genes(adata, genes: pd.DataFrame, label_key: str, dotplot, heatmap, n_top: int = 5):
    """scanpy dotplot and heatmap of the consensus top genes of each cell type (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scanpy as sc

    from scinterp.io import write_figure_atomic

    top = genes[genes["method"] == "consensus"].sort_values(["cell_type", "rank"])
    var_names = {t: list(g["gene"][:n_top]) for t, g in top.groupby("cell_type")}
    shown = list(dict.fromkeys(g for genes in var_names.values() for g in genes))
    a = adata[:, shown].copy()  # the plotted genes only, not a copy of the whole matrix
    a.obs[label_key] = a.obs[label_key].astype(str).astype("category")
    # Type names may hold spaces: they only ever appear as labels, never in file names.
    dp = sc.pl.dotplot(a, var_names, groupby=label_key, show=False, return_fig=True)
    dp.make_figure()
    write_figure_atomic(dp.fig, dotplot)
    plt.close(dp.fig)
    axes = sc.pl.heatmap(a, var_names, groupby=label_key, show=False, standard_scale="var")
    fig = next(iter(axes.values())).figure
    write_figure_atomic(fig, heatmap)
    plt.close(fig)
