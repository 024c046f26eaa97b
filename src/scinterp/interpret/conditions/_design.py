"""Contrasts and the sample/condition design checks of the conditions branch."""

from __future__ import annotations

import pandas as pd

from scinterp.errors import ScinterpInputError


def _levels(obs: pd.DataFrame, key: str) -> list[str]:
    col = obs[key]
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(col.dropna().astype(str))
        return [str(c) for c in col.cat.categories if str(c) in present]
    return sorted(set(col.dropna().astype(str)))


def contrasts_of(
    obs: pd.DataFrame,
    condition_key: str,
    reference: str | None = None,
    contrasts=None,
    *,
    dataset: str | None = None,
    path=None,
) -> list[tuple[str, str]]:
    """The ``(test, reference)`` pairs to test.

    ``contrasts`` (a list of ``[test, reference]`` pairs) is returned as given, checked;
    otherwise every level other than ``reference`` is contrasted with it. Without a
    ``reference`` the first level (first category, else alphabetical) is the reference.
    """
    if condition_key not in obs.columns:
        raise ScinterpInputError(
            f"condition_key '{condition_key}' is not a column of the cells' metadata "
            f"(columns: {', '.join(map(str, obs.columns))}).",
            dataset=dataset,
            path=path,
            fix="set datasets.<name>.condition_key to the obs column naming each cell's condition.",
        )
    levels = _levels(obs, condition_key)
    if contrasts:
        out = []
        for pair in contrasts:
            if len(pair) != 2:
                raise ScinterpInputError(
                    f"contrast {pair!r} is not a [test, reference] pair.",
                    dataset=dataset,
                    path=path,
                    fix="write each contrast as [test, reference], e.g. [disease, healthy].",
                )
            test, ref = str(pair[0]), str(pair[1])
            for level in (test, ref):
                if level not in levels:
                    raise ScinterpInputError(
                        f"contrast level '{level}' is not a value of column '{condition_key}' "
                        f"(values: {', '.join(levels)}).",
                        dataset=dataset,
                        path=path,
                        fix=f"use levels of obs['{condition_key}'] in contrasts.",
                    )
            if test == ref:
                raise ScinterpInputError(
                    f"contrast [{test}, {ref}] compares a level with itself.",
                    dataset=dataset,
                    path=path,
                    fix="name two different levels in each contrast.",
                )
            out.append((test, ref))
        return out
    if reference is None:
        if not levels:
            return []
        reference = levels[0]
    reference = str(reference)
    if reference not in levels:
        raise ScinterpInputError(
            f"reference '{reference}' is not a value of column '{condition_key}' "
            f"(values: {', '.join(levels)}).",
            dataset=dataset,
            path=path,
            fix=f"set datasets.<name>.reference to one of: {', '.join(levels)}.",
        )
    return [(lvl, reference) for lvl in levels if lvl != reference]


def sample_conditions(obs: pd.DataFrame, sample_key: str, condition_key: str) -> pd.Series:
    """Condition of each sample (index: sample, str); a sample in two conditions raises."""
    pairs = obs[[sample_key, condition_key]].dropna().astype(str).drop_duplicates()
    dup = pairs[pairs[sample_key].duplicated(keep=False)]
    if not dup.empty:
        s = dup[sample_key].iloc[0]
        both = sorted(dup.loc[dup[sample_key] == s, condition_key])
        raise ScinterpInputError(
            f"sample '{s}' (column '{sample_key}') has cells in {len(both)} conditions "
            f"({', '.join(both)}) of column '{condition_key}': a sample must be in one "
            f"condition ({dup[sample_key].nunique()} such samples).",
            fix=f"make '{sample_key}' name the biological sample (donor, mouse) so that each "
            f"lies in one condition of '{condition_key}', or split such samples in two.",
        )
    return pairs.set_index(sample_key)[condition_key]


def check_design(
    obs: pd.DataFrame,
    sample_key: str | None,
    condition_key: str | None,
    reference: str | None = None,
    contrasts=None,
    dataset: str | None = None,
    path=None,
) -> list[str]:
    """Check the design before any compute; return the reasons contrasts are skipped.

    Raises :class:`ScinterpInputError` for ``condition_key`` without ``sample_key``
    (cells are not replicates), a missing column, a sample in two conditions and an
    unknown reference or contrast level. A condition with fewer than 2 samples is not an
    error: its contrasts are skipped and the returned list says why.
    """
    if not condition_key:
        return []
    if not sample_key:
        raise ScinterpInputError(
            f"condition_key '{condition_key}' is set without sample_key: cells are not "
            "replicates, so conditions are compared across samples.",
            dataset=dataset,
            path=path,
            fix="set datasets.<name>.sample_key to the obs column naming each cell's "
            "biological sample (donor, mouse, replicate).",
        )
    for key, what in ((sample_key, "sample_key"), (condition_key, "condition_key")):
        if key not in obs.columns:
            raise ScinterpInputError(
                f"{what} '{key}' is not a column of the cells' metadata "
                f"(columns: {', '.join(map(str, obs.columns))}).",
                dataset=dataset,
                path=path,
                fix=f"set datasets.<name>.{what} to an existing obs column.",
            )
    try:
        per_sample = sample_conditions(obs, sample_key, condition_key)
    except ScinterpInputError as e:
        raise ScinterpInputError(e.problem, dataset=dataset, path=path, fix=e.fix) from None
    pairs = contrasts_of(obs, condition_key, reference, contrasts, dataset=dataset, path=path)
    n = per_sample.value_counts()
    reasons = []
    for test, ref in pairs:
        few = [lvl for lvl in (test, ref) if int(n.get(lvl, 0)) < 2]
        if few:
            reasons.append(
                f"contrast {test} vs {ref} skipped: "
                + ", ".join(f"condition '{lvl}' has {int(n.get(lvl, 0))} sample(s)" for lvl in few)
                + f" in column '{sample_key}' (2 or more per condition are needed)"
            )
    return reasons
