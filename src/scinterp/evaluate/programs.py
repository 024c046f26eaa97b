"""Program activity against the ground truth (``truth/programs.tsv``).

The truth lists every (program, cell type) pair with ``active`` (the program is switched
on in that type) and ``decoy`` (the gene set is random genes, never co-regulated). Per
method, the activity scores of the pairs are ranked: AUROC and AUPRC of truly active
pairs against all others, and how decoys fare.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from scinterp.evaluate.metrics import auroc, average_precision

__all__ = ["EVALUATION_COLUMNS", "evaluate_activity", "read_truth"]

EVALUATION_COLUMNS = [
    "method",
    "auroc",
    "auprc",
    "n_pairs",
    "n_active",
    "decoy_auroc",
    "decoy_max_percentile",
    "decoy_mean_score",
    "active_mean_score",
]


def _truthy(series: pd.Series) -> np.ndarray:
    if series.dtype == bool:
        return series.to_numpy()
    return series.astype(str).str.strip().str.lower().isin(["true", "1", "yes", "t"]).to_numpy()


def read_truth(path) -> pd.DataFrame:
    """``program, cell_type, active, decoy`` with boolean ``active`` and ``decoy``."""
    truth = pd.read_csv(path, sep="\t", dtype={"program": str, "cell_type": str})
    missing = {"program", "cell_type", "active"} - set(truth.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    truth["active"] = _truthy(truth["active"])
    truth["decoy"] = _truthy(truth["decoy"]) if "decoy" in truth else False
    return truth


def evaluate_activity(activity: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """AUROC/AUPRC per method of activity scores over the truth's (program, cell type) pairs.

    Pairs of the truth that a method did not score (a gene set dropped for too few genes)
    get that method's lowest score, so a method cannot gain by skipping programs. Methods
    whose program names match none of the truth (e.g. ``ldvae`` units) get no row.

    Parameters
    ----------
    activity
        ``program, cell_type, score, method`` (``programs/activity.tsv``).
    truth
        From :func:`read_truth`.

    Returns
    -------
    pandas.DataFrame
        :data:`EVALUATION_COLUMNS`. ``decoy_auroc``: AUROC of active pairs against decoy
        pairs only; ``decoy_max_percentile``: the best decoy pair's percentile among all
        pairs (1 = top); mean scores of decoy and active pairs.
    """
    truth = truth.copy()
    truth["program"] = truth["program"].astype(str)
    truth["cell_type"] = truth["cell_type"].astype(str)
    rows = []
    for method, sub in activity.groupby("method", sort=False):
        sub = sub.assign(program=sub["program"].astype(str), cell_type=sub["cell_type"].astype(str))
        if not sub["program"].isin(truth["program"]).any():
            continue
        merged = truth.merge(
            sub[["program", "cell_type", "score"]], on=["program", "cell_type"], how="left"
        )
        floor = np.nanmin(sub["score"].to_numpy(dtype=float)) if len(sub) else 0.0
        scores = merged["score"].astype(float).fillna(floor).to_numpy()
        active = merged["active"].to_numpy(dtype=bool)
        decoy = merged["decoy"].to_numpy(dtype=bool)
        pct = stats.rankdata(scores) / len(scores)
        rows.append(
            {
                "method": method,
                "auroc": auroc(active, scores),
                "auprc": average_precision(active, scores),
                "n_pairs": int(len(merged)),
                "n_active": int(active.sum()),
                "decoy_auroc": auroc(active[active | decoy], scores[active | decoy]),
                "decoy_max_percentile": float(pct[decoy].max()) if decoy.any() else float("nan"),
                "decoy_mean_score": float(scores[decoy].mean()) if decoy.any() else float("nan"),
                "active_mean_score": float(scores[active].mean()) if active.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows, columns=EVALUATION_COLUMNS)
