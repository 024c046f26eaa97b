"""Motif objects and what every step reads off a ``(4, width)`` matrix (consensus,
information content, trimmed and informative core)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_BASES = np.array(list("ACGT"))


@dataclass
class LearnedMotif:
    """A motif learned from the model.

    Attributes
    ----------
    motif
        Identifier (``modisco_0``, ``filter_12``, ...).
    method
        ``modisco`` or ``filters``.
    ppm
        ``(4, width)`` position probability matrix (columns sum to 1).
    n_seqlets
        Sites behind it (seqlets, or windows above the activation threshold).
    cell_type
        The cell type most of its seqlets were attributed for (modisco), if known.
    contrib
        ``(4, width)`` mean contribution (CWM) or filter weights, for plots; optional.
    """

    motif: str
    method: str
    ppm: np.ndarray
    n_seqlets: int
    cell_type: str = ""
    contrib: np.ndarray | None = field(default=None, repr=False)

    @property
    def consensus(self) -> str:
        return consensus(self.ppm)


@dataclass
class DatabaseMotif:
    """A reference motif: ``id`` (e.g. MA0080.7), ``name`` (TF), ``family``, ``ppm`` (4, w)."""

    id: str
    name: str
    family: str
    ppm: np.ndarray


def consensus(ppm: np.ndarray) -> str:
    """Most probable base of each column of a ``(4, width)`` matrix."""
    return "".join(_BASES[np.asarray(ppm).argmax(axis=0)])


def information_content(ppm: np.ndarray, background: float = 0.25) -> np.ndarray:
    """Bits per column of a ``(4, width)`` probability matrix against a uniform background."""
    p = np.clip(np.asarray(ppm, dtype=float), 1e-9, 1.0)
    return (p * np.log2(p / background)).sum(axis=0)


def _normalize(counts: np.ndarray, pseudocount: float = 0.0) -> np.ndarray:
    counts = np.asarray(counts, dtype=float) + pseudocount
    return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1e-12)


def trim_motif(
    ppm: np.ndarray, score: np.ndarray | None = None, threshold: float = 0.3, min_width: int = 4
) -> tuple[int, int]:
    """Span ``[start, stop)`` of the informative core of a motif.

    Columns count as informative where ``score`` (per-column importance: summed absolute
    contribution, or information content when ``score`` is None) reaches ``threshold`` x
    its maximum; the span runs from the first to the last of them (modisco-lite's
    report trims the same way), widened symmetrically to ``min_width``.
    """
    s = information_content(ppm) if score is None else np.asarray(score, dtype=float)
    if s.max() <= 0:
        return 0, len(s)
    keep = np.flatnonzero(s >= threshold * s.max())
    start, stop = int(keep[0]), int(keep[-1]) + 1
    while stop - start < min(min_width, len(s)):
        start, stop = max(0, start - 1), min(len(s), stop + 1)
    return start, stop


def informative_core(
    ppm: np.ndarray, min_columns: int = 4, strong_ic: float = 1.0, trim_ic: float = 0.5
) -> tuple[int, int] | None:
    """Span ``[start, stop)`` of a motif worth naming, or None when it is too flat.

    A motif is nameable when at least ``min_columns`` columns carry ``strong_ic`` bits
    (a base at ~60% or more); its core then runs from the first to the last column with
    ``trim_ic`` bits. Why: Tomtom's null for a query column is its score against all
    target columns, most of them informative, so the near-uniform columns of a noisy
    motif look similar to the near-uniform columns of long targets (CTCF, zinc fingers)
    and the motif gets a 'significant' match to them. JASPAR cores have 4 or more such
    columns; the averaged windows of a filter that learned nothing have none.
    """
    ic = information_content(ppm)
    if int((ic >= strong_ic).sum()) < min_columns:
        return None
    keep = np.flatnonzero(ic >= min(trim_ic, strong_ic))
    return int(keep[0]), int(keep[-1]) + 1
