"""Peaks of a scATAC AnnData: validate against the genome, resize, annotate.

Every function works on a peak table (:func:`scinterp.io.read_peaks` reads it from the
AnnData), a :class:`pandas.DataFrame` with columns

``peak``
    the AnnData var name of the peak,
``var_idx``
    its integer position in ``atac.var`` (so ``atac.X[:, peaks["var_idx"]]`` is the
    accessibility matrix of exactly these peaks, in this order),
``chrom``, ``start``, ``end``
    0-based half-open coordinates (BED convention).

Functions return new tables and never reorder rows: peaks stay in AnnData order, so
dropping a peak drops its row and its ``var_idx`` with it, and the columns of the
accessibility matrix stay aligned with the sequences.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.io._util import _examples

log = logging.getLogger(__name__)

PEAK_COLUMNS = ["peak", "var_idx", "chrom", "start", "end"]


def _alternative_names(chrom: str) -> list[str]:
    """Spellings of one chromosome in the other naming style (UCSC vs Ensembl)."""
    alts = []
    if chrom.startswith("chr"):
        alts.append(chrom[3:])
    else:
        alts.append("chr" + chrom)
    if chrom in ("chrM", "M"):
        alts += ["MT", "chrMT"]
    elif chrom in ("MT", "chrMT"):
        alts += ["chrM", "M"]
    return alts


def harmonize_chromosomes(
    chroms: Sequence[str], genome_chroms: Sequence[str]
) -> tuple[dict[str, str], list[str]]:
    """Map chromosome names onto the genome's spelling (``1`` <-> ``chr1``, ``MT`` <-> ``chrM``).

    Returns
    -------
    mapping
        ``{name: genome name}`` for every name that needed renaming.
    missing
        Names with no spelling present in the genome.
    """
    genome = set(genome_chroms)
    mapping, missing = {}, []
    for chrom in pd.unique(np.asarray(chroms, dtype=object)):
        if chrom in genome:
            continue
        alt = next((a for a in _alternative_names(chrom) if a in genome), None)
        if alt is None:
            missing.append(chrom)
        else:
            mapping[chrom] = alt
    return mapping, missing


def validate_peaks(
    peaks: pd.DataFrame,
    genome_lengths: Mapping[str, int],
    *,
    dataset: str | None = None,
    path=None,
    genome_path=None,
    drop_unknown_chroms: bool = False,
) -> pd.DataFrame:
    """Check peaks against the genome and clean what can be cleaned.

    - chromosome names are mapped to the genome's spelling when only the ``chr``
      prefix differs (``1`` vs ``chr1``, ``MT`` vs ``chrM``), with a log line;
    - a chromosome absent from the genome is an error (or, with
      ``drop_unknown_chroms``, its peaks are dropped with a warning);
    - a negative start, or start >= end, is an error;
    - an end beyond the chromosome end is clipped, with a warning; a start beyond it
      is an error (the peaks belong to another assembly);
    - exact duplicates (same chrom, start, end) are dropped keeping the first;
    - unsorted and overlapping peaks are fine and kept as they are.

    Parameters
    ----------
    peaks
        Peak table from :func:`scinterp.io.read_peaks`.
    genome_lengths
        ``{chromosome: length}`` of the genome FASTA.
    dataset, path, genome_path
        For error messages: dataset name, the ATAC file and the genome file.
    drop_unknown_chroms
        Drop peaks on chromosomes absent from the genome instead of failing.

    Returns
    -------
    pandas.DataFrame
        A cleaned copy of ``peaks``, rows in their original order.
    """
    peaks = peaks.copy()
    where = dict(dataset=dataset, path=path)
    if len(peaks) == 0:
        raise ScinterpInputError("the ATAC data has no peaks.", **where)

    neg = (peaks["start"] < 0).to_numpy()
    if neg.any():
        raise ScinterpInputError(
            f"{int(neg.sum())} peaks have a negative start (e.g. {_examples(peaks['peak'][neg])}).",
            fix="peak coordinates must be 0-based and non-negative; check how the peaks were called.",
            **where,
        )
    empty = (peaks["start"] >= peaks["end"]).to_numpy()
    if empty.any():
        raise ScinterpInputError(
            f"{int(empty.sum())} peaks have start >= end (e.g. {_examples(peaks['peak'][empty])}).",
            fix="each peak needs start < end (0-based, half-open coordinates).",
            **where,
        )

    mapping, missing = harmonize_chromosomes(peaks["chrom"], list(genome_lengths))
    if mapping:
        log.info(
            "renamed %d peak chromosome names to the genome's spelling: %s",
            len(mapping),
            _examples([f"{k}->{v}" for k, v in mapping.items()]),
        )
        peaks["chrom"] = peaks["chrom"].replace(mapping)
    if missing:
        unknown = peaks["chrom"].isin(missing).to_numpy()
        if not drop_unknown_chroms:
            raise ScinterpInputError(
                f"{len(missing)} peak chromosomes are not in the genome"
                + (f" '{genome_path}'" if genome_path is not None else "")
                + f" ({int(unknown.sum())} peaks): {_examples(sorted(missing))}; "
                f"the genome has {_examples(list(genome_lengths))}.",
                fix="use the genome FASTA of the assembly the peaks were called on.",
                **where,
            )
        log.warning(
            "dropping %d peaks on %d chromosomes absent from the genome: %s",
            int(unknown.sum()),
            len(missing),
            _examples(sorted(missing)),
        )
        peaks = peaks.loc[~unknown]

    chrom_len = peaks["chrom"].map(genome_lengths).to_numpy(dtype=np.int64)
    outside = peaks["start"].to_numpy() >= chrom_len
    if outside.any():
        raise ScinterpInputError(
            f"{int(outside.sum())} peaks start beyond the end of their chromosome "
            f"(e.g. {_examples(peaks['peak'][outside])}).",
            fix="use the genome FASTA of the assembly the peaks were called on.",
            **where,
        )
    over = peaks["end"].to_numpy() > chrom_len
    if over.any():
        log.warning(
            "clipping %d peaks that run past the end of their chromosome (e.g. %s)",
            int(over.sum()),
            _examples(peaks["peak"][over]),
        )
        peaks["end"] = np.minimum(peaks["end"].to_numpy(), chrom_len)

    dup = peaks.duplicated(subset=["chrom", "start", "end"], keep="first").to_numpy()
    if dup.any():
        log.warning(
            "dropping %d duplicate peaks (same chrom, start, end; first kept)", int(dup.sum())
        )
        peaks = peaks.loc[~dup]
    return peaks.reset_index(drop=True)


def resize_peaks(
    peaks: pd.DataFrame, width: int, genome_lengths: Mapping[str, int]
) -> pd.DataFrame:
    """Give every peak the same width around its centre.

    A window that would run off a chromosome end is shifted inwards so the width stays
    fixed. Peaks on chromosomes shorter than ``width`` are dropped (with a warning),
    since one-hot batches need equal lengths.

    Parameters
    ----------
    peaks
        Validated peak table.
    width
        Window width in bp.
    genome_lengths
        ``{chromosome: length}``.

    Returns
    -------
    pandas.DataFrame
        Copy with new ``start``/``end``; the original coordinates are kept in
        ``peak_start``/``peak_end``.
    """
    width = int(width)
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    peaks = peaks.copy()
    chrom_len = peaks["chrom"].map(genome_lengths).to_numpy(dtype=np.int64)
    short = chrom_len < width
    if short.any():
        log.warning(
            "dropping %d peaks on chromosomes shorter than the window of %d bp",
            int(short.sum()),
            width,
        )
        peaks = peaks.loc[~short]
        chrom_len = chrom_len[~short]
    if "peak_start" not in peaks:
        peaks["peak_start"] = peaks["start"]
        peaks["peak_end"] = peaks["end"]
    centre = (peaks["start"].to_numpy() + peaks["end"].to_numpy()) // 2
    start = centre - width // 2
    start = np.clip(start, 0, chrom_len - width)
    peaks["start"] = start.astype(np.int64)
    peaks["end"] = (start + width).astype(np.int64)
    return peaks.reset_index(drop=True)


# Byte lookup tables: works on upper- and lowercase (soft-masked) sequence alike.
_GC_LUT = np.zeros(256, dtype=bool)
_GC_LUT[np.frombuffer(b"GCgcSs", dtype=np.uint8)] = True
_ACGT_LUT = np.zeros(256, dtype=bool)
_ACGT_LUT[np.frombuffer(b"ACGTacgt", dtype=np.uint8)] = True


def _per_sequence_fraction(seqs: Sequence[str], lut: np.ndarray) -> np.ndarray:
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    if len(seqs) == 0:
        return np.zeros(0)
    flat = np.frombuffer("".join(seqs).encode("ascii", "replace"), dtype=np.uint8)
    counts = np.add.reduceat(lut[flat].astype(np.int64), np.r_[0, np.cumsum(lengths)[:-1]])
    counts[lengths == 0] = 0
    return counts / np.maximum(lengths, 1)


def gc_content(seqs: Sequence[str]) -> np.ndarray:
    """Fraction of G/C bases in each sequence (over its full length, N included)."""
    return _per_sequence_fraction(list(seqs), _GC_LUT)


def n_fraction(seqs: Sequence[str]) -> np.ndarray:
    """Fraction of bases in each sequence that are not A, C, G or T (N and IUPAC codes)."""
    return 1.0 - _per_sequence_fraction(list(seqs), _ACGT_LUT)


def drop_n_rich(
    peaks: pd.DataFrame, seqs: Sequence[str], max_n_fraction: float = 0.1
) -> tuple[pd.DataFrame, list[str]]:
    """Add ``gc`` and ``n_fraction`` columns and drop peaks with more than ``max_n_fraction`` N.

    Returns
    -------
    peaks, seqs
        The kept peaks (rows in order, ``var_idx`` kept) and their sequences.
    """
    seqs = list(seqs)
    if len(seqs) != len(peaks):
        raise ValueError(f"{len(seqs)} sequences for {len(peaks)} peaks")
    peaks = peaks.copy()
    peaks["gc"] = gc_content(seqs)
    peaks["n_fraction"] = n_fraction(seqs)
    keep = peaks["n_fraction"].to_numpy() <= max_n_fraction
    if not keep.all():
        log.info(
            "dropping %d of %d peaks with more than %.0f%% N in their sequence",
            int((~keep).sum()),
            len(keep),
            100 * max_n_fraction,
        )
    seqs = [s for s, k in zip(seqs, keep, strict=True) if k]
    return peaks.loc[keep].reset_index(drop=True), seqs


def read_tss_bed(path, *, dataset: str | None = None) -> pd.DataFrame:
    """Read a TSS BED file (chrom, start, end, name[, score, strand]); ``#``/track lines skipped."""
    path = Path(path)
    if not path.is_file():
        raise ScinterpInputError(
            "TSS BED file not found.",
            dataset=dataset,
            path=path,
            fix="check the path in the config.",
        )
    bed = pd.read_csv(path, sep="\t", header=None, comment="#", dtype={0: str}, compression="infer")
    bed = bed.loc[~bed[0].str.startswith(("track", "browser"))]
    if bed.shape[1] < 4:
        raise ScinterpInputError(
            f"a TSS BED needs at least 4 columns (chrom, start, end, gene name); found {bed.shape[1]}.",
            dataset=dataset,
            path=path,
            fix="add the gene name as the 4th column.",
        )
    out = pd.DataFrame(
        {
            "chrom": bed[0].astype(str),
            "start": bed[1].astype(np.int64),
            "end": bed[2].astype(np.int64),
            "gene": bed[3].astype(str),
        }
    )
    if bed.shape[1] >= 6:
        out["strand"] = bed[5].astype(str)
    return out.reset_index(drop=True)


def nearest_genes(peaks: pd.DataFrame, tss_bed, *, dataset: str | None = None) -> pd.DataFrame:
    """Link each peak to its nearest TSS (pyranges ``nearest``).

    Parameters
    ----------
    peaks
        Peak table.
    tss_bed
        Path to a TSS BED file, or a table with columns ``chrom, start, end, gene``.

    Returns
    -------
    pandas.DataFrame
        Copy of ``peaks`` with ``nearest_gene`` ("" when the chromosome has no TSS) and
        ``tss_distance`` (bp; 0 when the peak overlaps the TSS; -1 when none).
    """
    import pyranges as pr  # only this function needs it

    tss = tss_bed if isinstance(tss_bed, pd.DataFrame) else read_tss_bed(tss_bed, dataset=dataset)
    tss = tss.copy()
    mapping, _ = harmonize_chromosomes(tss["chrom"], pd.unique(peaks["chrom"]))
    if mapping:
        tss["chrom"] = tss["chrom"].replace(mapping)
    left = pr.PyRanges(
        pd.DataFrame(
            {
                "Chromosome": peaks["chrom"].to_numpy(),
                "Start": peaks["start"].to_numpy(),
                "End": peaks["end"].to_numpy(),
                "row": np.arange(len(peaks)),
            }
        )
    )
    right = pr.PyRanges(
        pd.DataFrame(
            {
                "Chromosome": tss["chrom"].to_numpy(),
                "Start": tss["start"].to_numpy(),
                "End": tss["end"].to_numpy(),
                "gene": tss["gene"].to_numpy(),
            }
        )
    )
    hits = left.nearest(right, apply_strand_suffix=False).df
    out = peaks.copy()
    gene = np.full(len(peaks), "", dtype=object)
    dist = np.full(len(peaks), -1, dtype=np.int64)
    if len(hits):
        # ties give several rows per peak: keep one, deterministically.
        hits = hits.sort_values(["row", "Distance", "gene"]).drop_duplicates("row")
        rows = hits["row"].to_numpy()
        gene[rows] = hits["gene"].to_numpy()
        dist[rows] = hits["Distance"].to_numpy()
    out["nearest_gene"] = gene
    out["tss_distance"] = dist
    return out
