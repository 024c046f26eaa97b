"""The toy genome and the ATAC peaks of the demo data: JASPAR matrices (pyjaspar,
offline), peaks with planted motif sites, binary accessibility per cell."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scinterp.simulate._design import (
    _BASES,
    CELL_TYPES,
    GC_CONTENT,
    JASPAR_RELEASE,
    PEAK_WIDTH,
    TYPE_MOTIFS,
)


def load_jaspar_matrix(matrix_id: str, release: str = JASPAR_RELEASE) -> tuple[str, np.ndarray]:
    """Fetch one JASPAR matrix from the offline database shipped with pyjaspar.

    Parameters
    ----------
    matrix_id
        Versioned JASPAR ID, e.g. ``"MA0080.7"``.
    release
        JASPAR release shipped by pyjaspar.

    Returns
    -------
    name, counts
        The TF name and the position count matrix, shape ``(length, 4)`` in ACGT order.
    """
    from pyjaspar import jaspardb  # lazy: only the generator needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motif = jaspardb(release=release).fetch_motif_by_id(matrix_id)
    if motif is None or motif.matrix_id != matrix_id:
        raise ValueError(f"JASPAR matrix {matrix_id} not found in {release}")
    counts = np.array([motif.counts[b] for b in "ACGT"], dtype=float).T
    return str(motif.name), counts


def _simulate_genome(rng, n_peaks, chrom_length, n_chroms, motifs):
    """Random genome with non-overlapping 500 bp peaks, planted motif sites and N runs."""
    n_types = len(CELL_TYPES)
    n_specific = max(1, int(round(0.06 * n_peaks)))
    n_shared = max(1, int(round(0.04 * n_peaks)))
    n_background = n_peaks - n_types * n_specific - n_shared
    if n_background < 0:
        raise ValueError(f"n_peaks={n_peaks} is too small")
    groups = np.array(
        [t for t in CELL_TYPES for _ in range(n_specific)]
        + ["shared"] * n_shared
        + ["background"] * n_background,
        dtype=object,
    )
    groups = groups[rng.permutation(n_peaks)]

    telomere, min_gap = 10_000, 100
    per_chrom = np.bincount(np.arange(n_peaks) % n_chroms, minlength=n_chroms)
    usable = chrom_length - 2 * telomere
    if usable < per_chrom.max() * (PEAK_WIDTH + min_gap) + min_gap:
        raise ValueError(
            f"chrom_length={chrom_length} cannot hold {per_chrom.max()} peaks of {PEAK_WIDTH} bp"
        )
    p_base = np.array([(1 - GC_CONTENT) / 2, GC_CONTENT / 2, GC_CONTENT / 2, (1 - GC_CONTENT) / 2])
    genome, rows = {}, []
    for c in range(n_chroms):
        chrom = f"chr{c + 1}"
        seq = rng.choice(4, size=chrom_length, p=p_base).astype(np.uint8)
        n = per_chrom[c]
        slack = usable - n * PEAK_WIDTH - (n + 1) * min_gap
        cuts = np.sort(rng.integers(0, slack + 1, size=n))
        starts = telomere + min_gap + cuts + np.arange(n) * (PEAK_WIDTH + min_gap)
        # N runs: the telomere at the chromosome start and inside the two largest gaps
        seq[:telomere] = 4
        bounds = np.concatenate([[telomere], starts, [chrom_length - telomere + PEAK_WIDTH]])
        gap_lo, gap_hi = bounds[:-1] + PEAK_WIDTH, bounds[1:]
        gap_lo[0] = telomere
        for gi in np.argsort(gap_hi - gap_lo)[::-1][:2]:
            if gap_hi[gi] - gap_lo[gi] > 1500:
                seq[gap_lo[gi] + 200 : gap_hi[gi] - 200] = 4
        genome[chrom] = seq
        rows += [(chrom, int(s), int(s) + PEAK_WIDTH) for s in starts]

    peaks = pd.DataFrame(rows, columns=["chrom", "start", "end"])
    peaks["group"] = groups
    peaks.index = pd.Index([f"{r.chrom}:{r.start}-{r.end}" for r in peaks.itertuples()], name=None)

    site_rows = []
    for pk in peaks.itertuples():
        if pk.group not in TYPE_MOTIFS:
            continue
        tf, pfm = motifs[pk.group]
        width = pfm.shape[0]
        prob = (pfm + 0.5) / (pfm + 0.5).sum(axis=1, keepdims=True)
        placed = []
        for _ in range(rng.integers(1, 4)):
            for _attempt in range(50):  # keep sites apart, in the central 400 bp
                off = int(rng.integers(50, PEAK_WIDTH - 50 - width + 1))
                if all(abs(off - o) >= width + 5 for o in placed):
                    break
            else:
                continue
            placed.append(off)
            site = np.array([rng.choice(4, p=prob[i]) for i in range(width)], dtype=np.uint8)
            strand = "+" if rng.random() < 0.5 else "-"
            if strand == "-":
                site = 3 - site[::-1]  # reverse complement in ACGT codes
            start = pk.start + off
            genome[pk.chrom][start : start + width] = site
            site_rows.append(
                (
                    pk.Index,
                    pk.chrom,
                    start,
                    start + width,
                    strand,
                    TYPE_MOTIFS[pk.group],
                    tf.upper(),
                    pk.group,
                    _BASES[site].tobytes().decode(),
                )
            )
    sites = pd.DataFrame(
        site_rows,
        columns=[
            "peak",
            "chrom",
            "start",
            "end",
            "strand",
            "motif_id",
            "tf",
            "cell_type",
            "sequence",
        ],
    )
    genome = {chrom: _BASES[seq].tobytes().decode() for chrom, seq in genome.items()}
    return genome, peaks, sites


def _simulate_atac(rng, obs, peaks):
    """Binary accessibility: 1 - exp(-depth * rate), with type-specific and shared peaks."""
    n_cells, n_peaks = len(obs), len(peaks)
    groups = peaks["group"].to_numpy()
    rate_hi = rng.uniform(0.6, 1.2, size=n_peaks)
    rate = rng.gamma(2.0, 0.03, size=n_peaks)[None, :].repeat(n_cells, axis=0)
    ctype = obs["cell_type"].to_numpy()
    for t in CELL_TYPES:
        rate[:, groups == t] = 0.03
        rate[np.ix_(ctype == t, groups == t)] = rate_hi[groups == t]
    rate[:, groups == "shared"] = rate_hi[groups == "shared"]
    depth = np.exp(rng.normal(0.0, 0.35, size=n_cells))
    depth *= np.where(obs["batch"].to_numpy() == "batch2", 0.85, 1.0)
    prob = 1.0 - np.exp(-depth[:, None] * rate)
    x = (rng.random((n_cells, n_peaks)) < prob).astype(np.float32)
    var = peaks[["chrom", "start", "end"]].copy()
    var["chrom"] = var["chrom"].astype(str)
    var = var.sort_values(["chrom", "start"], kind="stable")
    order = peaks.index.get_indexer(var.index)
    atac_obs = obs[["cell_type", "batch"]].copy()
    return ad.AnnData(X=sp.csr_matrix(x[:, order]), obs=atac_obs, var=var)
