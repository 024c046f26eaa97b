"""Identity scores from a trained classifier: its attributions aggregated per cell
type, the attention classifier's class-token attention, in-silico ablation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scinterp.interpret.identity._options import DEFAULT_OPTIONS


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float32)


def aggregate_attributions(
    values, labels, features, how: str = DEFAULT_OPTIONS.aggregate
) -> pd.DataFrame:
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
        ``"mean"`` (signed mean, the default: see :mod:`scinterp.interpret.identity`) or
        ``"mean_abs"``.
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

    See :mod:`scinterp.interpret.identity`. ``meta`` is the model's metadata
    (``features``); ``X`` holds the cells (rows) over exactly those features.
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
