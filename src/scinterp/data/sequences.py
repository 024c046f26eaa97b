"""Peak sequences: genome FASTA (pyfaidx), one-hot encoding, shuffles, a torch dataset.

One-hot arrays are ``(n, 4, L)`` (or ``(4, L)`` for one sequence) in A, C, G, T channel
order; N and any other letter encode as an all-zero column.

The path from an ATAC AnnData and a genome to training data is::

    peaks, onehot = prepare_peak_sequences(atac, genome_path, width=500, dataset=name)
    ds = PeakDataset.from_anndata(atac, peaks, onehot)   # x: (4, L), y: (n_cells,)
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scinterp.errors import ScinterpInputError
from scinterp.io import atomic_path

log = logging.getLogger(__name__)

ALPHABET = "ACGT"

# byte -> channel (0..3), everything else -> 4 (no channel). Lowercase = soft-masked.
_TOKEN_LUT = np.full(256, 4, dtype=np.uint8)
for _i, _base in enumerate(ALPHABET):
    _TOKEN_LUT[ord(_base)] = _i
    _TOKEN_LUT[ord(_base.lower())] = _i


# --------------------------------------------------------------------------- genome


def _index_path(fasta: Path) -> str | None:
    """Where the .fai goes: beside the FASTA, or a user cache when that folder is read-only."""
    beside = Path(str(fasta) + ".fai")
    if beside.exists() or os.access(fasta.parent, os.W_OK):
        return None  # pyfaidx's default
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scinterp" / "fai"
    cache.mkdir(parents=True, exist_ok=True)
    stat = fasta.stat()
    key = hashlib.sha1(f"{fasta.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    log.info("%s is in a read-only folder; indexing into %s", fasta, cache)
    return str(cache / f"{key[:16]}.fai")


def open_genome(path, *, dataset: str | None = None):
    """Open a genome FASTA with pyfaidx, building the ``.fai`` index when it is missing.

    Soft-masked (lowercase) sequence is read as uppercase. A bgzip-compressed FASTA
    works; a plain-gzip one is refused with the fix.

    Parameters
    ----------
    path
        FASTA file (``.fa``, ``.fasta``, ``.fa.gz`` compressed with bgzip).
    dataset
        Dataset name, for error messages.

    Returns
    -------
    pyfaidx.Fasta
        Opened with ``as_raw=True, sequence_always_upper=True``.
    """
    import pyfaidx

    path = Path(path)
    where = dict(dataset=dataset, path=path)
    if not path.is_file():
        raise ScinterpInputError(
            "genome FASTA not found.",
            fix="set 'genome' of this dataset to an existing FASTA of the assembly the peaks were called on.",
            **where,
        )
    if not os.access(path, os.R_OK):
        raise ScinterpInputError(
            "genome FASTA is not readable.", fix="check its permissions.", **where
        )
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] == b"\x1f\x8b" and head[12:14] != b"BC":  # gzip but not BGZF
        raise ScinterpInputError(
            "genome FASTA is gzip-compressed; random access needs bgzip or no compression.",
            fix=f"run 'gunzip {path}' or 'zcat {path} | bgzip > genome.fa.gz'.",
            **where,
        )
    if head[:2] != b"\x1f\x8b" and head[:1] != b">":
        raise ScinterpInputError(
            "genome file does not look like a FASTA (first character is not '>').",
            fix="point 'genome' at a FASTA file.",
            **where,
        )
    try:
        genome = pyfaidx.Fasta(
            str(path),
            indexname=_index_path(path),
            as_raw=True,
            sequence_always_upper=True,
            read_long_names=False,
        )
    except (
        pyfaidx.FastaIndexingError,
        pyfaidx.UnsupportedCompressionFormat,
        ValueError,
        OSError,
    ) as err:
        raise ScinterpInputError(
            f"cannot index the genome FASTA ({type(err).__name__}: {err}).",
            fix="check the file is an uncompressed or bgzipped FASTA with equal-length lines "
            "per record (samtools faidx must accept it).",
            **where,
        ) from err
    if len(genome.keys()) == 0:
        raise ScinterpInputError("genome FASTA has no sequences.", fix="check the file.", **where)
    return genome


def genome_lengths(genome) -> dict[str, int]:
    """``{chromosome: length}`` of an opened genome."""
    return {name: len(genome[name]) for name in genome.keys()}


def fetch_sequences(genome, peaks: pd.DataFrame) -> list[str]:
    """Uppercase sequence of each peak (``chrom, start, end``, 0-based half-open), in order."""
    seqs = []
    for chrom, start, end in zip(
        peaks["chrom"].to_numpy(), peaks["start"].to_numpy(), peaks["end"].to_numpy(), strict=True
    ):
        seq = str(genome[chrom][int(start) : int(end)]).upper()
        if len(seq) != end - start:
            raise ValueError(
                f"{chrom}:{start}-{end} runs off the chromosome; validate and resize peaks first"
            )
        seqs.append(seq)
    return seqs


# --------------------------------------------------------------------------- encodings


def _tokens(seqs: Sequence[str]) -> np.ndarray:
    lengths = {len(s) for s in seqs}
    if len(lengths) > 1:
        raise ValueError(f"sequences differ in length ({sorted(lengths)[:5]}); resize peaks first")
    length = lengths.pop() if lengths else 0
    buf = np.frombuffer("".join(seqs).encode("ascii", "replace"), dtype=np.uint8)
    return _TOKEN_LUT[buf].reshape(len(seqs), length)


def one_hot(seqs: str | Sequence[str], dtype=np.float32) -> np.ndarray:
    """One-hot encode DNA, vectorised through a byte lookup table.

    Parameters
    ----------
    seqs
        One sequence or a list of equal-length sequences; upper- or lowercase.
    dtype
        Output dtype.

    Returns
    -------
    numpy.ndarray
        ``(4, L)`` for a single string, else ``(n, 4, L)``; channels A, C, G, T;
        N and other letters are all-zero columns.
    """
    single = isinstance(seqs, str)
    tokens = _tokens([seqs] if single else list(seqs))
    out = (tokens[:, None, :] == np.arange(4, dtype=np.uint8)[None, :, None]).astype(dtype)
    return out[0] if single else out


def decode_one_hot(onehot: np.ndarray) -> str | list[str]:
    """Inverse of :func:`one_hot` (all-zero columns decode as ``N``)."""
    onehot = np.asarray(onehot)
    single = onehot.ndim == 2
    tokens = _onehot_tokens(onehot[None] if single else onehot)
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)[tokens]
    seqs = [row.tobytes().decode() for row in letters]
    return seqs[0] if single else seqs


def _onehot_tokens(onehot: np.ndarray) -> np.ndarray:
    """(n, 4, L) -> (n, L) tokens 0..3, 4 for all-zero columns."""
    return np.where(onehot.any(axis=1), onehot.argmax(axis=1), 4).astype(np.uint8)


def reverse_complement(onehot):
    """Reverse complement of one-hot DNA: flip the channel (A<->T, C<->G) and length axes.

    Works on ``(4, L)`` and ``(n, 4, L)`` numpy arrays and torch tensors.
    """
    if hasattr(onehot, "flip"):  # torch.Tensor
        return onehot.flip(dims=(-2, -1))
    return np.ascontiguousarray(np.asarray(onehot)[..., ::-1, ::-1])


def _dinuc_shuffle_tokens(tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One dinucleotide-preserving shuffle of a token sequence.

    The sequence is an Eulerian path through the graph whose vertices are letters and
    whose edges are its dinucleotides. Keeping each letter's last outgoing edge fixed
    (those edges form a tree into the final letter) and permuting the others gives
    another Eulerian path with the same dinucleotide counts (Altschul & Erickson
    1985; the same construction as ``deeplift.dinuc_shuffle``).
    """
    n = len(tokens)
    if n < 3:
        return tokens.copy()
    toks = tokens.tolist()
    succ: dict[int, list[int]] = {}
    for i in range(n - 1):
        succ.setdefault(toks[i], []).append(i + 1)
    for t, inds in succ.items():
        if len(inds) > 2:
            perm = rng.permutation(len(inds) - 1)
            succ[t] = [inds[k] for k in perm] + [inds[-1]]
    used = dict.fromkeys(succ, 0)
    out = [toks[0]]
    pos = 0
    for _ in range(n - 1):
        t = toks[pos]
        pos = succ[t][used[t]]
        used[t] += 1
        out.append(toks[pos])
    return np.asarray(out, dtype=tokens.dtype)


def dinucleotide_shuffle(seq_or_onehot, rng=None, n_shuffles: int | None = None):
    """Shuffle sequence(s) keeping dinucleotide counts (and the first and last letter).

    The usual reference for DeepLIFT / integrated gradients on DNA.

    Parameters
    ----------
    seq_or_onehot
        A string, a one-hot ``(4, L)`` array, or a batch ``(n, 4, L)`` (each shuffled
        independently). N positions (all-zero columns) count as a fifth letter.
    rng
        ``numpy.random.Generator`` or seed.
    n_shuffles
        None: one shuffle, same type and shape as the input. An int k: k shuffles, as
        a list of strings or an array with a new leading axis of length k.
    """
    rng = np.random.default_rng(rng)
    if n_shuffles is not None:
        shuffles = [dinucleotide_shuffle(seq_or_onehot, rng) for _ in range(n_shuffles)]
        return shuffles if isinstance(seq_or_onehot, str) else np.stack(shuffles)
    if isinstance(seq_or_onehot, str):
        # shuffle the bytes themselves: N, IUPAC codes and case survive as they are
        raw = np.frombuffer(seq_or_onehot.encode("ascii", "replace"), np.uint8)
        return _dinuc_shuffle_tokens(raw, rng).tobytes().decode()
    arr = np.asarray(seq_or_onehot)
    single = arr.ndim == 2
    batch = arr[None] if single else arr
    if batch.ndim != 3 or batch.shape[1] != 4:
        raise ValueError(f"expected a one-hot (4, L) or (n, 4, L) array, got shape {arr.shape}")
    tokens = _onehot_tokens(batch)
    shuffled = np.stack([_dinuc_shuffle_tokens(row, rng) for row in tokens])
    out = (shuffled[:, None, :] == np.arange(4, dtype=np.uint8)[None, :, None]).astype(arr.dtype)
    return out[0] if single else out


# --------------------------------------------------------------------------- pipeline


def prepare_peak_sequences(
    atac,
    genome_path,
    *,
    width: int = 500,
    dataset: str | None = None,
    atac_path=None,
    max_n_fraction: float = 0.1,
    tss_bed=None,
    drop_unknown_chroms: bool = False,
) -> tuple[pd.DataFrame, np.ndarray]:
    """ATAC AnnData + genome FASTA -> validated fixed-width peaks and their one-hot sequences.

    read -> validate (chromosome names, coordinates, duplicates) -> resize to ``width``
    -> fetch -> drop N-rich peaks (adds ``gc``, ``n_fraction``) -> nearest genes (when
    ``tss_bed`` is given) -> one-hot.

    Returns
    -------
    peaks
        Peak table; ``peaks["var_idx"]`` indexes ``atac.var`` so that
        ``atac[:, peaks["var_idx"]]`` is aligned with ``onehot``.
    onehot
        ``(n_peaks, 4, width)`` uint8 (cast to float per batch by :class:`PeakDataset`).
    """
    from scinterp.data import peaks as peaks_mod
    from scinterp.io import read_peaks

    genome = open_genome(genome_path, dataset=dataset)
    lengths = genome_lengths(genome)
    peaks = read_peaks(atac, dataset=dataset, path=atac_path)
    n_read = len(peaks)
    peaks = peaks_mod.validate_peaks(
        peaks,
        lengths,
        dataset=dataset,
        path=atac_path,
        genome_path=genome_path,
        drop_unknown_chroms=drop_unknown_chroms,
    )
    peaks = peaks_mod.resize_peaks(peaks, width, lengths)
    seqs = fetch_sequences(genome, peaks)
    peaks, seqs = peaks_mod.drop_n_rich(peaks, seqs, max_n_fraction=max_n_fraction)
    if len(peaks) == 0:
        raise ScinterpInputError(
            f"no peaks left after validation and N filtering (of {n_read}).",
            dataset=dataset,
            path=atac_path,
            fix="check that the genome FASTA matches the peaks' assembly and is not hard-masked.",
        )
    if tss_bed is not None:
        peaks = peaks_mod.nearest_genes(peaks, tss_bed, dataset=dataset)
    log.info("%d of %d peaks kept, %d bp each", len(peaks), n_read, width)
    return peaks, one_hot(seqs, dtype=np.uint8)


# --------------------------------------------------------------------------- dataset


class PeakDataset:
    """Peaks x cells training data for the sequence CNN (a map-style torch dataset).

    Item ``i`` is ``{"x": float32 (4, L) one-hot of peak i, "y": float32 (n_cells,)
    accessibility of peak i in every cell}``. The cells x peaks matrix is transposed
    once to peaks x cells CSR; rows are densified per item/batch only.

    Parameters
    ----------
    onehot
        ``(n_peaks, 4, L)`` one-hot sequences (any numeric dtype; stored as uint8).
    accessibility
        ``(n_cells, n_peaks)`` matrix (scipy sparse or dense), columns aligned with
        ``onehot``.
    binarize
        Use ``accessibility > 0`` as targets (scBasset); else the values themselves.
    rc_augment
        Replace each item by its reverse complement with probability 1/2.
    shift_augment
        Shift each item by a random whole number of bases in ``[-shift_augment,
        shift_augment]`` (scBasset uses 3), filling the bases shifted in with N (all-zero
        columns). Like ``rc_augment``, only on the training part of :meth:`split`.
    mutate_augment
        Fraction of the positions of each item replaced by a random base (EvoAug's random
        mutation, Lee et al. 2023): a motif survives a few substitutions, the exact k-mers
        of one peak that a CNN could memorise do not. Only on the training part too.
    seed
        Seed of the augmentation. None (default): draw from torch's global RNG, which
        :func:`scinterp.train.loop.fit` seeds and checkpoints, so that a resumed run
        flips the same items as an uninterrupted one.
    indices
        Restrict to these peaks (a train or validation split), sharing the arrays.
    """

    def __init__(
        self,
        onehot: np.ndarray,
        accessibility,
        *,
        binarize: bool = True,
        rc_augment: bool = False,
        shift_augment: int = 0,
        mutate_augment: float = 0.0,
        seed: int | None = None,
        indices: np.ndarray | None = None,
        _peaks_by_cells: sp.csr_matrix | None = None,
    ):
        onehot = np.asarray(onehot)
        if onehot.ndim != 3 or onehot.shape[1] != 4:
            raise ValueError(f"onehot must be (n_peaks, 4, L), got {onehot.shape}")
        self.onehot = onehot if onehot.dtype == np.uint8 else onehot.astype(np.uint8)
        if _peaks_by_cells is None:
            if accessibility.shape[1] != onehot.shape[0]:
                raise ValueError(
                    f"accessibility has {accessibility.shape[1]} peaks (columns), "
                    f"onehot has {onehot.shape[0]}"
                )
            mat = sp.csr_matrix(accessibility.T, dtype=np.float32)
            if binarize:
                mat.data = (mat.data > 0).astype(np.float32)
                mat.eliminate_zeros()
            _peaks_by_cells = mat
        self.peaks_by_cells = _peaks_by_cells
        self.binarize = binarize
        self.rc_augment = rc_augment
        if shift_augment < 0:
            raise ValueError(f"shift_augment must be >= 0, got {shift_augment}")
        self.shift_augment = int(shift_augment)
        if not 0.0 <= mutate_augment < 1.0:
            raise ValueError(f"mutate_augment must be in [0, 1), got {mutate_augment}")
        self.mutate_augment = float(mutate_augment)
        self.seed = seed
        self._generator = None
        self.indices = np.arange(self.onehot.shape[0]) if indices is None else np.asarray(indices)

    @classmethod
    def from_anndata(cls, atac, peaks: pd.DataFrame, onehot: np.ndarray, *, layer=None, **kwargs):
        """Build from the ATAC AnnData, selecting and ordering columns by ``peaks["var_idx"]``."""
        mat = atac.X if layer is None else atac.layers[layer]
        cols = peaks["var_idx"].to_numpy()
        if sp.issparse(mat):
            mat = sp.csc_matrix(mat)[:, cols]  # column selection is cheap in CSC
        else:
            mat = np.asarray(mat)[:, cols]
        return cls(onehot, mat, **kwargs)

    def subset(
        self,
        indices,
        *,
        rc_augment: bool | None = None,
        shift_augment: int | None = None,
        mutate_augment: float | None = None,
    ):
        """A view on some peaks (e.g. a train/validation split) sharing the arrays."""
        return PeakDataset(
            self.onehot,
            None,
            binarize=self.binarize,
            rc_augment=self.rc_augment if rc_augment is None else rc_augment,
            shift_augment=self.shift_augment if shift_augment is None else shift_augment,
            mutate_augment=self.mutate_augment if mutate_augment is None else mutate_augment,
            seed=self.seed,
            indices=self.indices[np.asarray(indices)],
            _peaks_by_cells=self.peaks_by_cells,
        )

    def split(self, val_fraction: float = 0.1, seed: int = 0):
        """Random train/validation split of peaks; augmentation only on the training part."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self))
        n_val = max(1, int(round(val_fraction * len(self))))
        return self.subset(np.sort(order[n_val:])), self.subset(
            np.sort(order[:n_val]), rc_augment=False, shift_augment=0, mutate_augment=0.0
        )

    @property
    def n_cells(self) -> int:
        return self.peaks_by_cells.shape[1]

    @property
    def seq_len(self) -> int:
        return self.onehot.shape[2]

    def __len__(self) -> int:
        return len(self.indices)

    def _batch(self, positions) -> tuple[np.ndarray, np.ndarray]:
        rows = self.indices[np.asarray(positions)]
        x = self.onehot[rows].astype(np.float32)
        if self.shift_augment:
            x = self._shift(x)
        if self.mutate_augment:
            x = self._mutate(x)
        if self.rc_augment:
            flip = self._coin_flips(len(rows))
            x[flip] = x[flip][:, ::-1, ::-1]
        y = self.peaks_by_cells[rows].toarray()
        return x, y

    def _rng(self):
        import torch

        if self.seed is not None and self._generator is None:
            self._generator = torch.Generator().manual_seed(self.seed)
        return self._generator

    def _coin_flips(self, n: int) -> np.ndarray:
        import torch

        return (torch.rand(n, generator=self._rng()) < 0.5).numpy()

    def _shift(self, x: np.ndarray) -> np.ndarray:
        """Shift each sequence by -s..s bases; the bases shifted in are N (zeros)."""
        import torch

        s, length = self.shift_augment, x.shape[2]
        shifts = torch.randint(-s, s + 1, (x.shape[0],), generator=self._rng()).numpy()
        padded = np.pad(x, ((0, 0), (0, 0), (s, s)))
        cols = (s - shifts)[:, None] + np.arange(length)[None, :]  # (n, L) into padded
        return np.take_along_axis(padded, cols[:, None, :], axis=2)

    def _mutate(self, x: np.ndarray) -> np.ndarray:
        """Replace a ``mutate_augment`` fraction of each sequence's positions by random bases."""
        import torch

        n, _, length = x.shape
        k = max(1, int(round(self.mutate_augment * length)))
        gen = self._rng()
        # k distinct positions per sequence: the first k of a random ordering
        pos = torch.rand(n, length, generator=gen).argsort(dim=1)[:, :k].numpy()
        bases = torch.randint(0, 4, (n, k), generator=gen).numpy()
        rows = np.repeat(np.arange(n), k)
        x[rows, :, pos.ravel()] = 0.0
        x[rows, bases.ravel(), pos.ravel()] = 1.0
        return x

    def __getitem__(self, i):
        import torch

        x, y = self._batch([i])
        return {"x": torch.from_numpy(x[0]), "y": torch.from_numpy(y[0])}

    def __getitems__(self, positions):
        """Batched fetch used by torch's DataLoader: one sparse slice per batch."""
        import torch

        x, y = self._batch(positions)
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        return [{"x": x[k], "y": y[k]} for k in range(len(positions))]


# --------------------------------------------------------------------------- files


def write_npz_atomic(path, **arrays) -> None:
    """``numpy.savez_compressed`` to a temporary name beside ``path``, then rename."""
    # the temporary name ends in .npz, or numpy would append it
    with atomic_path(path, ".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def read_peak_sequences(path, atac=None, *, dataset: str | None = None):
    """One-hot peak sequences written by rule motif_peaks, with the accessibility columns.

    Returns
    -------
    onehot, accessibility
        ``(n, 4, L)`` uint8 and, when ``atac`` is given, the cells x peaks matrix of
        exactly these peaks (columns ``var_idx`` of ``atac``), else None.
    """
    with np.load(path) as z:
        onehot, var_idx = z["onehot"], z["var_idx"]
    if atac is None:
        return onehot, None
    if var_idx.size and var_idx.max() >= atac.n_vars:
        raise ScinterpInputError(
            f"{path} refers to peak {int(var_idx.max())} but the ATAC data has {atac.n_vars}.",
            dataset=dataset,
            fix="the atac file changed: delete the motifs results folder and rerun.",
        )
    mat = atac.X
    mat = sp.csc_matrix(mat)[:, var_idx] if sp.issparse(mat) else np.asarray(mat)[:, var_idx]
    return onehot, mat
