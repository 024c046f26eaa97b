"""Naming learned motifs: Tomtom (memelite) against the database, and the contract's
``motifs.tsv`` table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scinterp.interpret.motifs._database import read_meme
from scinterp.interpret.motifs._motif import (
    DatabaseMotif,
    LearnedMotif,
    informative_core,
)
from scinterp.numba_cache import numba_cache

# Bits a column needs to count towards a motif's informative core, per discovery method.
# A TF-MoDISco motif is backed by its seqlets (final_min_cluster_size or more sites of
# high contribution), so it is no flat noise, but its matrix averages sites aligned with
# some jitter and is flatter than the TF's own: SPI1 from 50 seqlets had fewer than 4
# columns of 1 bit on the demo and went unnamed although Tomtom's best match was SPI1
# (p ~ 1e-11). A filter's PWM has no such backing and keeps the strict bar.
STRONG_IC = {"filters": 1.0, "modisco": 0.5}


def match_motifs(
    motifs: Sequence[LearnedMotif],
    database: Sequence[DatabaseMotif],
    n_jobs: int = 1,
    min_columns: int = 4,
    strong_ic: float | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Best Tomtom match (memelite) of each learned motif in the database.

    Each motif is matched by its :func:`informative_core` (``strong_ic`` bits per
    column: one number, or per method; default :data:`STRONG_IC`, 1 bit for other
    methods); motifs without one are not matched (``informative`` False, match fields
    empty). q-values are
    Benjamini-Hochberg over the query's p-values against all targets.

    Returns
    -------
    pandas.DataFrame
        One row per learned motif: ``motif, method, consensus, n_seqlets, cell_type,
        match_id, match_name, match_family, pvalue, evalue, qvalue, match_strand,
        match_offset`` (match fields empty / NaN when there are no motifs).
    """
    rows = [
        {
            "motif": m.motif,
            "method": m.method,
            "consensus": m.consensus,
            "n_seqlets": int(m.n_seqlets),
            "cell_type": m.cell_type,
        }
        for m in motifs
    ]
    table = pd.DataFrame(rows, columns=["motif", "method", "consensus", "n_seqlets", "cell_type"])
    for col in ("match_id", "match_name", "match_family"):
        table[col] = ""
    for col in ("pvalue", "evalue", "qvalue"):
        table[col] = np.nan
    table["match_strand"] = ""
    table["match_offset"] = 0
    bars = dict(STRONG_IC) if strong_ic is None else strong_ic
    cores = [
        informative_core(
            m.ppm,
            min_columns,
            bars.get(m.method, 1.0) if isinstance(bars, Mapping) else float(bars),
        )
        for m in motifs
    ]
    table["informative"] = [c is not None for c in cores]
    use = [i for i, c in enumerate(cores) if c is not None]
    if not use:
        return table
    numba_cache()
    import numba
    from memelite import tomtom

    # tomtom sets numba's thread count; more than NUMBA_NUM_THREADS (a user's or a
    # cluster's environment) raises there
    cap = numba.config.NUMBA_NUM_THREADS
    n_jobs = cap if int(n_jobs) < 1 else min(int(n_jobs), cap)

    queries = [
        np.ascontiguousarray(motifs[i].ppm[:, slice(*cores[i])], dtype=np.float64) for i in use
    ]
    targets = [np.ascontiguousarray(d.ppm, dtype=np.float64) for d in database]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few targets: user MEME files
        p, _scores, offsets, _overlaps, strands = tomtom(queries, targets, n_jobs=n_jobs)
    p = np.clip(np.nan_to_num(np.asarray(p, dtype=float), nan=1.0), 0.0, 1.0)
    n_t = p.shape[1]
    best = p.argmin(axis=1)
    for k, j in enumerate(best):
        i = use[k]  # row of the table; k: row of the Tomtom results
        order = np.sort(p[k])
        q = order * n_t / np.arange(1, n_t + 1)
        q = np.minimum.accumulate(q[::-1])[::-1]
        rank = int(np.searchsorted(order, p[k, j]))
        table.loc[i, ["match_id", "match_name", "match_family"]] = [
            database[j].id,
            database[j].name,
            database[j].family,
        ]
        table.loc[i, "pvalue"] = p[k, j]
        table.loc[i, "evalue"] = p[k, j] * n_t
        table.loc[i, "qvalue"] = min(1.0, q[rank])
        table.loc[i, "match_strand"] = "-" if int(strands[k, j]) == 1 else "+"
        table.loc[i, "match_offset"] = int(offsets[k, j]) + cores[i][0]
    return table


def motif_table(matches: pd.DataFrame, max_qvalue: float = 0.05) -> pd.DataFrame:
    """The contract's ``motifs.tsv``: matches whose q-value exceeds ``max_qvalue`` lose their name.

    Keeps the best-match fields in ``best_id``/``best_name``/``best_qvalue`` for the
    record; ``match_id``/``match_name`` are empty for unmatched motifs.
    """
    out = matches.copy()
    out["best_id"], out["best_name"], out["best_family"] = (
        out["match_id"],
        out["match_name"],
        out["match_family"],
    )
    unmatched = ~(out["qvalue"] < max_qvalue)
    out.loc[unmatched, ["match_id", "match_name", "match_family"]] = ""
    out["matched"] = ~unmatched
    first = ["motif", "consensus", "n_seqlets", "match_id", "match_name", "qvalue", "method"]
    return out[first + [c for c in out.columns if c not in first]]


def matched_motifs(table: pd.DataFrame, meme_path) -> dict[str, np.ndarray]:
    """``{motif: ppm}`` of the learned motifs with a significant match (``matched``)."""
    ppms = {i: p for i, _n, p in read_meme(meme_path)}
    keep = table.loc[table["matched"].astype(str).str.lower() == "true", "motif"]
    return {m: ppms[m] for m in keep if m in ppms}
