"""The conditions branch against planted truth (the demo's ``truth/conditions_genes.tsv``
and ``conditions_abundance.tsv``): which planted genes each method calls at the FDR, and
how many of its calls were not planted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scinterp.evaluate.metrics import average_precision

COLUMNS = [
    "method",
    "contrast",
    "kind",
    "n_true",
    "n_called",
    "n_true_called",
    "recall",
    "precision",
    "false_calls",
    "auprc",
]


def evaluate_genes(genes: pd.DataFrame, truth: pd.DataFrame, *, fdr: float = 0.05) -> pd.DataFrame:
    """Per method, contrast and planted kind (``DE``, ``DP``, ``all``): planted
    (cell type, gene) pairs called at ``adj_p_value <= fdr`` (recall), calls that are
    planted (precision over every call, whatever the kind), false calls, and the average
    precision of ``-log p`` over the tested pairs. Only cell types and contrasts that
    were tested count."""
    rows = []
    g = genes.assign(
        adj=pd.to_numeric(genes["adj_p_value"], errors="coerce"),
        p=pd.to_numeric(genes["p_value"], errors="coerce"),
        key=genes["cell_type"].astype(str) + "\t" + genes["gene"].astype(str),
    )
    for (method, contrast), grp in g.groupby(["method", "contrast"], sort=True):
        tr = truth[truth["contrast"].astype(str) == str(contrast)]
        tested_types = set(grp["cell_type"].astype(str))
        tr = tr[tr["cell_type"].astype(str).isin(tested_types)]
        tr_keys = tr["cell_type"].astype(str) + "\t" + tr["gene"].astype(str)
        kind_of = dict(zip(tr_keys, tr["kind"].astype(str), strict=True))
        called = set(grp.loc[grp["adj"] <= fdr, "key"])
        planted_called = called & set(kind_of)
        score = -np.log10(grp["p"].clip(lower=1e-300).fillna(1.0))
        for kind in ("all", *sorted(set(kind_of.values()))):
            keys = {k for k, v in kind_of.items() if kind in ("all", v)}
            hit = called & keys
            # AP of this kind's genes against every non-planted pair
            mask = grp["key"].isin(keys) | ~grp["key"].isin(set(kind_of))
            y = grp.loc[mask, "key"].isin(keys).to_numpy()
            ap = average_precision(y, score[mask].to_numpy()) if y.any() else np.nan
            rows.append(
                {
                    "method": method,
                    "contrast": contrast,
                    "kind": kind,
                    "n_true": len(keys),
                    "n_called": len(called),
                    "n_true_called": len(hit),
                    "recall": len(hit) / len(keys) if keys else np.nan,
                    "precision": len(planted_called) / len(called) if called else np.nan,
                    "false_calls": len(called - set(kind_of)),
                    "auprc": ap,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def evaluate_abundance(
    abundance: pd.DataFrame, truth: pd.DataFrame, *, fdr: float = 0.05
) -> pd.DataFrame:
    """One row per method and contrast: the planted abundance changes called with the
    right sign (recall) and the other types called (false calls)."""
    rows = []
    ab = abundance.assign(
        adj=pd.to_numeric(abundance["adj_p_value"], errors="coerce"),
        lfc=pd.to_numeric(abundance["log_fc"], errors="coerce"),
    )
    for (method, contrast), grp in ab.groupby(["method", "contrast"], sort=True):
        tr = truth[truth["contrast"].astype(str) == str(contrast)]
        sign = {
            str(t): (1 if d == "up" else -1)
            for t, d in zip(tr["cell_type"], tr["direction"], strict=True)
        }
        called = grp[grp["adj"] <= fdr]
        right = [
            t
            for t, lfc in zip(called["cell_type"].astype(str), called["lfc"], strict=True)
            if t in sign and np.sign(lfc) == sign[t]
        ]
        wrong = [t for t in called["cell_type"].astype(str) if t not in sign]
        rows.append(
            {
                "method": f"abundance:{method}",
                "contrast": contrast,
                "kind": "abundance",
                "n_true": len(sign),
                "n_called": len(called),
                "n_true_called": len(right),
                "recall": len(right) / len(sign) if sign else np.nan,
                "precision": len(right) / len(called) if len(called) else np.nan,
                "false_calls": len(wrong),
                "auprc": np.nan,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
