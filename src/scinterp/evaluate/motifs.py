"""Scoring learned motifs and TF activities against planted motifs (truth/motifs.tsv).

Per discovery method and planted motif:

* ``recovered``: a learned motif's best Tomtom match is the planted TF (same JASPAR
  matrix base id, e.g. ``MA0080``, or the same TF name, case-insensitive) with
  ``q < max_qvalue``;
* ``near_miss``: not recovered, but a learned motif's significant best match is
  another TF of the planted matrix's family (TCF7 for TCF7L1, SPIB for SPI1 ...);
* ``n_unmatched``: learned motifs of the method without a significant match
  (spurious motifs), ``n_other``: significant matches to TFs that were not planted.

Per TF-activity method and planted motif: ``auroc`` of the per-cell activity of the
planted motif separating the cells of its cell type from the others, and ``rank`` of
that cell type among all types by mean activity (1 = first).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.evaluate.metrics import auroc

__all__ = ["activity_long", "evaluate_motifs", "read_truth_motifs"]

TRUTH_COLUMNS = ("cell_type", "motif_id", "tf")


def read_truth_motifs(path, dataset: str | None = None) -> pd.DataFrame:
    """Read ``truth/motifs.tsv`` (``cell_type, motif_id, tf``; more columns are kept)."""
    try:
        truth = pd.read_csv(path, sep="\t", dtype=str)
    except (OSError, pd.errors.ParserError) as err:
        raise ScinterpInputError(
            f"cannot read the planted motifs ({err}).",
            dataset=dataset,
            path=path,
            fix="give a tab-separated file with columns cell_type, motif_id, tf.",
        ) from err
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise ScinterpInputError(
            f"the planted-motif table lacks column(s) {', '.join(missing)}.",
            dataset=dataset,
            path=path,
            fix="give a tab-separated file with columns cell_type, motif_id, tf.",
        )
    return truth


def _base_id(motif_id: str) -> str:
    return str(motif_id).split(".")[0].upper()


def _same_tf(match_id: str, match_name: str, motif_id: str, tf: str) -> bool:
    if not match_id and not match_name:
        return False
    return _base_id(match_id) == _base_id(motif_id) or str(match_name).upper() == str(tf).upper()


def evaluate_motifs(
    motifs: pd.DataFrame,
    truth: pd.DataFrame,
    cell_activity: pd.DataFrame | None = None,
    *,
    families: Mapping[str, str] | None = None,
    max_qvalue: float = 0.05,
) -> pd.DataFrame:
    """Recovery of planted motifs and TF-activity AUROC.

    Parameters
    ----------
    motifs
        ``motifs.tsv``: ``motif, method, qvalue`` and the best match in
        ``best_id``/``best_name``/``best_family`` (or ``match_id``/``match_name``).
    truth
        ``cell_type, motif_id, tf``.
    cell_activity
        Long per-cell activity ``cell, cell_type, motif, method, score`` (``motif`` a
        learned motif of ``motifs``), or None. A planted motif is scored with the
        learned motif significantly matched to it (smallest q-value first).
    families
        ``{motif_id: family}`` of the planted matrices (for near misses); when None the
        family of a learned motif matched to the planted id is unknown and near misses
        are only counted by ``best_family`` equality with a recovered match.
    max_qvalue
        Significance of a Tomtom match.

    Returns
    -------
    pandas.DataFrame
        One row per (discovery method, planted motif): ``method, cell_type, motif_id, tf,
        recovered, near_miss, learned_motif, match_name, qvalue, n_motifs, n_unmatched,
        n_other`` and, per activity method ``a``, ``auroc_<a>`` and ``rank_<a>``.
    """
    m, cols = _learned_matches(motifs, max_qvalue)
    rows = [
        row
        for method, mm in m.groupby("method", sort=True)
        for row in _recovery_rows(method, mm, truth, dict(families or {}), cols)
    ]
    out = pd.DataFrame(rows)
    if out.empty:
        out = pd.DataFrame([_recovery_row("none", t) for _, t in truth.iterrows()])
    activity_methods = sorted(cell_activity["method"].unique()) if cell_activity is not None else []
    for a in activity_methods:
        res = _activity_scores(cell_activity[cell_activity["method"] == a], m, truth, cols)
        out[f"auroc_{a}"] = out["motif_id"].map(lambda i, res=res: res[i][0])
        out[f"rank_{a}"] = out["motif_id"].map(lambda i, res=res: res[i][1])
    return out


def _learned_matches(motifs: pd.DataFrame, max_qvalue: float):
    """The learned motifs with text match columns and ``significant`` (q-value below
    ``max_qvalue``), and the names of their (id, name, family) match columns."""
    id_col = "best_id" if "best_id" in motifs else "match_id"
    name_col = "best_name" if "best_name" in motifs else "match_name"
    fam_col = "best_family" if "best_family" in motifs else "match_family"
    m = motifs.copy()
    for col in (id_col, name_col):
        m[col] = m[col].fillna("").astype(str)
    m[fam_col] = m[fam_col].fillna("").astype(str) if fam_col in m else ""
    m["qvalue"] = pd.to_numeric(m["qvalue"], errors="coerce")
    m["significant"] = m["qvalue"] < max_qvalue
    return m, (id_col, name_col, fam_col)


def _recovery_row(method: str, t, best=None, name_col="", near=False, counts=(0, 0, 0)) -> dict:
    """One row of the table: planted motif ``t``, its best significant match ``best``
    (None: not recovered), and the method's motif counts (all, unmatched, other)."""
    recovered = best is not None
    n_motifs, n_unmatched, n_other = counts
    return {
        "method": method,
        "cell_type": t.cell_type,
        "motif_id": t.motif_id,
        "tf": t.tf,
        "recovered": recovered,
        "near_miss": near,
        "learned_motif": best["motif"] if recovered else "",
        "match_name": best[name_col] if recovered else "",
        "qvalue": float(best["qvalue"]) if recovered else np.nan,
        "n_motifs": n_motifs,
        "n_unmatched": n_unmatched,
        "n_other": n_other,
    }


def _recovery_rows(method: str, mm: pd.DataFrame, truth, families: Mapping, cols) -> list[dict]:
    """Per planted motif, whether one discovery method's significant motifs (``mm``)
    recovered it, or a motif of its family (a near miss)."""
    id_col, name_col, fam_col = cols
    planted_ids = {_base_id(i) for i in truth["motif_id"]}
    planted_tfs = {str(t).upper() for t in truth["tf"]}
    sig = mm[mm["significant"]]
    n_unmatched = int((~mm["significant"]).sum())
    n_other = int(
        sum(
            _base_id(r[id_col]) not in planted_ids and r[name_col].upper() not in planted_tfs
            for _, r in sig.iterrows()
        )
    )
    rows = []
    for _, t in truth.iterrows():
        hits = sig[[_same_tf(r[id_col], r[name_col], t.motif_id, t.tf) for _, r in sig.iterrows()]]
        recovered = len(hits) > 0
        best = hits.sort_values("qvalue").iloc[0] if recovered else None
        family = families.get(t.motif_id, "")
        near = (
            not recovered
            and bool(family)
            and bool((sig[fam_col].str.upper() == family.upper()).any())
        )
        counts = (len(mm), n_unmatched, n_other)
        rows.append(_recovery_row(method, t, best, name_col, near, counts))
    return rows


def _activity_scores(act: pd.DataFrame, m: pd.DataFrame, truth, cols) -> dict:
    """Planted motif id -> (AUROC of its cell type, rank of its type by mean activity)
    of one activity method, scored with the learned motif named after the planted TF
    (best q first; NaN when none has an activity)."""
    id_col, name_col, _ = cols
    res = {}
    for _, t in truth.iterrows():
        same = np.array(
            [_same_tf(r[id_col], r[name_col], t.motif_id, t.tf) for _, r in m.iterrows()],
            dtype=bool,
        )
        named = m[m["significant"].to_numpy() & same].sort_values("qvalue")
        sel = act.iloc[0:0]
        for motif in named["motif"]:
            sel = act[act["motif"].astype(str) == str(motif)]
            if not sel.empty:
                break
        if sel.empty:
            res[t.motif_id] = (np.nan, np.nan)
            continue
        score = sel["score"].to_numpy(dtype=float)
        au = auroc((sel["cell_type"] == t.cell_type).to_numpy(), score)
        means = sel.groupby("cell_type")["score"].mean().sort_values(ascending=False)
        rank = (
            int(np.flatnonzero(means.index == t.cell_type)[0]) + 1
            if t.cell_type in means
            else np.nan
        )
        res[t.motif_id] = (au, rank)
    return res


def activity_long(adata) -> pd.DataFrame:
    """Cells x motifs activity AnnData (rule tf_activity) -> long ``cell, cell_type, motif,
    method, score``, one block per layer (method)."""
    frames = []
    for method in adata.layers:
        df = pd.DataFrame(
            np.asarray(adata.layers[method]), index=adata.obs_names, columns=adata.var_names
        )
        df["cell_type"] = adata.obs["cell_type"].astype(object).to_numpy()
        long = (
            df.rename_axis("cell")
            .reset_index()
            .melt(id_vars=["cell", "cell_type"], var_name="motif", value_name="score")
        )
        frames.append(long.assign(method=method))
    cols = ["cell", "cell_type", "motif", "method", "score"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
