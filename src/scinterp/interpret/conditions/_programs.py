"""Which programs change (``conditions/programs.tsv``) and which cell types change in
abundance (``conditions/abundance.tsv``): moderated t across samples."""

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
    """propeller (Phipson et al. 2022) with a compositional bias correction: per-sample
    cell-type proportions with 0.5 added to every count, logit-transformed, tested per
    cell type across samples with the moderated t (variances shrunk across cell types).
    Proportions sum to one, so one type's rise lowers every other type's share and plain
    propeller calls those too (benchmarks/conditions.py simulate, 5 vs 5: B doubled, A, C
    and R called). With 3 or more types, the median over types of the test-minus-reference
    logit difference (the shift common to the types, under the assumption that fewer than
    half of them change; as ANCOM-BC's bias term) is subtracted from the test samples
    before the test. ``log_fc``: log2 of the mean proportion in test over that in
    reference, as observed (uncorrected). Method ``propeller_bc``; BH within (method,
    contrast) over cell types."""
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
        props = x / x.sum(1, keepdims=True)
        logit = np.log(props / (1 - props))
        if c.shape[1] >= 3:
            # compositional bias: one type's rise lowers every other type's share; with
            # most types unchanged, the median of the types' effects is that shift
            shift = np.median(logit[in_test].mean(0) - logit[~in_test].mean(0))
            logit[in_test] -= shift
        r = moderated_t(logit.T, in_test)
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
                    "method": "propeller_bc",
                }
            )
        )
    cols = ABUNDANCE_COLUMNS
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    out["adj_p_value"] = adjust(out)
    out = out[cols]
    out.attrs["skipped"] = skipped
    return out
