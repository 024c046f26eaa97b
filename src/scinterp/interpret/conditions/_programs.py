"""Which programs change (``conditions/programs.tsv``) and which cell types change in
abundance (``conditions/abundance.tsv``): tests across samples."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import adjust, design_of, eligible
from ._moderated import moderated_t
from ._options import DEFAULT_OPTIONS, ConditionsOptions
from ._pseudobulk import groups_of

PROGRAM_COLUMNS = [
    "cell_type",
    "program",
    "contrast",
    "effect",
    "stat",
    "p_value",
    "adj_p_value",
    "method",
]
ABUNDANCE_COLUMNS = ["cell_type", "contrast", "log_fc", "p_value", "adj_p_value", "method"]


def test_programs(
    activity: pd.DataFrame,
    obs: pd.DataFrame,
    label_key: str,
    sample_key: str,
    condition_key: str,
    contrasts,
    options: ConditionsOptions = DEFAULT_OPTIONS,
) -> pd.DataFrame:
    """Program activity (cells x programs, index = obs_names) averaged per sample x cell
    type (samples with ``>= min_cells`` cells of the type), tested across samples per
    cell type and contrast with the moderated t (variances shrunk across programs);
    ``effect`` is the test mean minus the reference mean. Method ``moderated_t``; BH within
    (method, contrast) over every cell type and program."""
    per_sample = design_of(obs, sample_key, condition_key)
    shared = activity.index.astype(str).isin(obs.index.astype(str))
    if len(activity) and not shared.any():
        from scinterp.errors import ScinterpInputError

        raise ScinterpInputError(
            "no cell of the program activity table is a cell of the dataset (activity "
            f"cells e.g. {list(activity.index[:3])}, dataset cells e.g. {list(obs.index[:3])}).",
            fix="score the programs on the same normalized.h5ad (index = its obs_names).",
        )
    act = activity.reindex(obs.index)
    codes, meta = groups_of(obs, label_key, sample_key)
    ok = codes >= 0
    means = act[ok].astype(float).groupby(codes[ok]).mean().reindex(range(len(meta)))
    means.index = meta.index
    frames, skipped = [], []
    programs = np.asarray(act.columns.astype(str))
    for test, ref in contrasts:
        for cell_type in sorted(meta["cell_type"].unique()):
            m, reason = eligible(meta, per_sample, cell_type, (test, ref), options)
            if reason:
                skipped.append(reason)
                continue
            r = moderated_t(means.loc[m.index].to_numpy().T, m["in_test"].to_numpy())
            frames.append(
                pd.DataFrame(
                    {
                        "cell_type": cell_type,
                        "program": programs,
                        "contrast": f"{test}_vs_{ref}",
                        "effect": r["effect"].to_numpy(),
                        "stat": r["stat"].to_numpy(),
                        "p_value": r["p_value"].to_numpy(),
                        "method": "moderated_t",
                    }
                )
            )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PROGRAM_COLUMNS)
    out["adj_p_value"] = adjust(out)
    out = out[PROGRAM_COLUMNS]
    out.attrs["skipped"] = skipped
    return out


def test_abundance(
    obs: pd.DataFrame,
    label_key: str,
    sample_key: str,
    condition_key: str,
    contrasts,
    options: ConditionsOptions = DEFAULT_OPTIONS,
) -> pd.DataFrame:
    """Per-sample cell-type shares tested across samples against a reference of the
    types that do not change (an additive log-ratio as scCODA's reference type, with the
    reference chosen from the data as ANCOM-BC's bias correction does).

    Shares sum to one, so one type's rise lowers every other type's share, and a test on
    shares (propeller, a t-test on proportions) calls the unchanged types too
    (benchmarks/conditions.py simulate: B doubled, A, C and R called). Here, per contrast,
    ``d`` is each type's test-minus-reference mean of log share (counts + 0.5); the
    reference set is the half of the types (at least 2) whose ``d`` is nearest the median
    ``d`` (the types taken as unchanged, under the assumption that fewer than half change).
    Each type's per-sample value is log(its count / the reference set's count), tested
    across samples with a two-sample t-test (a type of the reference set is read against
    the set including itself; with 2 types, each against the other). No variance moderation
    across types: a rare type's log-ratio varies several times more than a common type's,
    and shrinking it toward the common variance called it in null data
    (synthetic 4-type shares, Dirichlet-multinomial: runs with a call 6.5% at 3 vs 3
    moderated, 2.2% plain; benchmarks/LOG.md "Conditions, final settings"). ``log_fc``:
    log2 of the mean share in test over that in reference, as observed. Method
    ``logratio_ref``; BH within (method, contrast) over cell types."""
    per_sample = design_of(obs, sample_key, condition_key)
    sub = obs[[sample_key, label_key]].dropna().astype(str)
    counts = pd.crosstab(sub[sample_key], sub[label_key])
    frames, skipped = [], []
    for test, ref in contrasts:
        cond = counts.index.to_series().map(per_sample)
        c = counts[cond.isin([test, ref])]
        in_test = (cond[c.index] == test).to_numpy()
        n_t, n_r = int(in_test.sum()), int((~in_test).sum())
        if n_t < options.min_samples or n_r < options.min_samples or c.shape[1] < 2:
            skipped.append(
                f"abundance, contrast {test} vs {ref}: {n_t} {test} and {n_r} {ref} samples, "
                f"{c.shape[1]} cell types (>= {options.min_samples} samples per condition "
                "and 2 types needed)"
            )
            continue
        x = c.to_numpy(dtype=float) + 0.5
        if c.shape[1] == 2:  # each type against the other
            y = np.log(x) - np.log(x[:, ::-1])
        else:
            y = np.log(x) - np.log(x[:, _reference_types(x, in_test)].sum(1, keepdims=True))
        r = moderated_t(y.T, in_test, moderate=False)
        raw = c.to_numpy(dtype=float) / c.to_numpy(dtype=float).sum(1, keepdims=True)
        with np.errstate(divide="ignore"):
            lfc = np.log2(raw[in_test].mean(0) / raw[~in_test].mean(0))
        frames.append(
            pd.DataFrame(
                {
                    "cell_type": c.columns.astype(str),
                    "contrast": f"{test}_vs_{ref}",
                    "log_fc": lfc,
                    "p_value": r["p_value"].to_numpy(),
                    "method": "logratio_ref",
                }
            )
        )
    cols = ABUNDANCE_COLUMNS
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    out["adj_p_value"] = adjust(out)
    out = out[cols]
    out.attrs["skipped"] = skipped
    return out


def _reference_types(x: np.ndarray, in_test: np.ndarray) -> np.ndarray:
    """Columns of ``x`` (samples x types, counts + 0.5) taken as unchanged: the half of the
    types (at least 2) whose test-minus-reference mean log share is nearest the median one."""
    logshare = np.log(x / x.sum(1, keepdims=True))
    d = logshare[in_test].mean(0) - logshare[~in_test].mean(0)
    n_ref = max(2, int(np.ceil(x.shape[1] / 2)))
    return np.sort(np.argsort(np.abs(d - np.median(d)), kind="stable")[:n_ref])
