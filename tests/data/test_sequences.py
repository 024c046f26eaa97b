"""Genome access, one-hot, reverse complement, dinucleotide shuffle, PeakDataset."""

import gzip
from collections import Counter

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scinterp.data.sequences import (
    PeakDataset,
    decode_one_hot,
    dinucleotide_shuffle,
    fetch_sequences,
    genome_lengths,
    one_hot,
    open_genome,
    prepare_peak_sequences,
    read_peak_sequences,
    reverse_complement,
    write_npz_atomic,
)
from scinterp.errors import ScinterpInputError


def _write_fasta(path, records, width=60):
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name} some description\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    return path


@pytest.fixture
def genome_fa(tmp_path):
    rng = np.random.default_rng(0)
    chr1 = "".join(rng.choice(list("ACGT"), 2_000))
    chr1 = chr1[:100] + chr1[100:200].lower() + chr1[200:]  # soft-masked stretch
    chr2 = "N" * 300 + "".join(rng.choice(list("ACGT"), 700))
    return _write_fasta(tmp_path / "genome.fa", {"chr1": chr1, "chr2": chr2}), chr1, chr2


def test_open_genome_indexes_and_uppercases(genome_fa):
    path, chr1, _ = genome_fa
    genome = open_genome(path)
    assert (path.parent / "genome.fa.fai").exists()
    assert genome_lengths(genome) == {"chr1": 2_000, "chr2": 1_000}
    peaks = pd.DataFrame({"chrom": ["chr1", "chr1"], "start": [90, 0], "end": [110, 5]})
    seqs = fetch_sequences(genome, peaks)
    assert seqs == [chr1[90:110].upper(), chr1[:5]]


def test_open_genome_errors(tmp_path):
    with pytest.raises(ScinterpInputError, match="not found") as err:
        open_genome(tmp_path / "missing.fa", dataset="demo")
    assert "demo" in str(err.value) and "missing.fa" in str(err.value)
    gz = tmp_path / "g.fa.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write(">chr1\nACGT\n")
    with pytest.raises(ScinterpInputError, match="bgzip"):
        open_genome(gz)
    bad = tmp_path / "g.txt"
    bad.write_text("hello\n")
    with pytest.raises(ScinterpInputError, match="FASTA"):
        open_genome(bad)


def test_one_hot_exact():
    x = one_hot("ACgTNa")
    expected = np.array(
        [
            [1, 0, 0, 0, 0, 1],
            [0, 1, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 0, 0, 1, 0, 0],
        ],
        dtype=np.float32,
    )
    assert x.dtype == np.float32 and x.shape == (4, 6)
    np.testing.assert_array_equal(x, expected)
    batch = one_hot(["ACGT", "NNRY"])
    assert batch.shape == (2, 4, 4)
    assert batch[1].sum() == 0
    assert decode_one_hot(batch) == ["ACGT", "NNNN"]
    with pytest.raises(ValueError, match="length"):
        one_hot(["ACG", "A"])


def test_reverse_complement():
    np.testing.assert_array_equal(reverse_complement(one_hot("ACGTN")), one_hot("NACGT"))
    np.testing.assert_array_equal(reverse_complement(one_hot("AACGG")), one_hot("CCGTT"))
    x = one_hot(["ACGTTAGN", "GGGCATNA"])
    np.testing.assert_array_equal(reverse_complement(reverse_complement(x)), x)
    import torch

    t = torch.from_numpy(x)
    assert torch.equal(reverse_complement(t), torch.from_numpy(reverse_complement(x)))


def _dinucs(seq):
    return Counter(seq[i : i + 2] for i in range(len(seq) - 1))


def test_dinucleotide_shuffle_preserves_counts():
    rng = np.random.default_rng(1)
    seq = "".join(rng.choice(list("ACGT"), 200)) + "NNAC"
    shuffled = dinucleotide_shuffle(seq, rng)
    assert shuffled != seq
    assert _dinucs(shuffled) == _dinucs(seq)
    assert shuffled[0] == seq[0] and shuffled[-1] == seq[-1]
    # one-hot, single and batch, and several shuffles at once
    x = one_hot(seq)
    xs = dinucleotide_shuffle(x, 2)
    assert xs.shape == x.shape and xs.dtype == x.dtype
    assert _dinucs(decode_one_hot(xs)) == _dinucs(seq)
    batch = one_hot([seq, seq[::-1]])
    many = dinucleotide_shuffle(batch, 3, n_shuffles=4)
    assert many.shape == (4, *batch.shape)
    for shuf in many:
        for orig, new in zip(decode_one_hot(batch), decode_one_hot(shuf), strict=True):
            assert _dinucs(orig) == _dinucs(new) and orig != new
    # seeded: same seed, same shuffle
    assert dinucleotide_shuffle(seq, 5) == dinucleotide_shuffle(seq, 5)


@pytest.mark.filterwarnings("ignore:Variable names are not unique")
def test_prepare_and_dataset(genome_fa, tmp_path):
    path, chr1, _ = genome_fa
    names = ["1:100-140", "1:1990-2000", "2:0-40", "1:100-140", "2:600-650"]
    x = sp.csr_matrix(np.array([[1, 0, 2, 1, 0], [0, 3, 0, 0, 1], [1, 1, 0, 0, 0]], np.float32))
    atac = ad.AnnData(X=x, var=pd.DataFrame(index=names))
    peaks, onehot = prepare_peak_sequences(atac, path, width=50, dataset="demo")
    # duplicate dropped, all-N peak (chr2:0-40 -> window 0-50) dropped, names mapped to chr*
    assert peaks["var_idx"].tolist() == [0, 1, 4]
    assert peaks["chrom"].tolist() == ["chr1", "chr1", "chr2"]
    assert onehot.shape == (3, 4, 50) and onehot.dtype == np.uint8
    assert peaks[["start", "end"]].iloc[1].tolist() == [1_950, 2_000]
    np.testing.assert_array_equal(onehot[0], one_hot(chr1[95:145], dtype=np.uint8))

    ds = PeakDataset.from_anndata(atac, peaks, onehot)
    assert len(ds) == 3 and ds.n_cells == 3 and ds.seq_len == 50
    item = ds[2]
    assert item["x"].shape == (4, 50) and item["x"].dtype.is_floating_point
    np.testing.assert_array_equal(item["y"].numpy(), [0, 1, 0])  # peak var 4, binarized
    np.testing.assert_array_equal(ds[1]["y"].numpy(), [0, 1, 1])

    import torch
    from torch.utils.data import DataLoader

    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["x"].shape == (3, 4, 50) and batch["y"].shape == (3, 3)
    assert torch.equal(batch["y"][0], ds[0]["y"])

    train, val = ds.split(val_fraction=0.34, seed=0)
    assert len(train) + len(val) == 3
    assert set(train.indices).isdisjoint(val.indices)

    aug = PeakDataset.from_anndata(atac, peaks, onehot, rc_augment=True, seed=0)
    seen = {tuple(aug[0]["x"].flatten().tolist()) for _ in range(20)}
    assert len(seen) == 2  # forward and reverse strand
    assert torch.equal(aug[0]["y"], ds[0]["y"])


def test_peak_sequences_file_roundtrip(genome_fa, tmp_path):
    """What rule motif_peaks writes: one-hot plus the ATAC columns it belongs to."""
    path, _, _ = genome_fa
    names = ["chr1:300-400", "chr1:10-60", "chr2:600-650"]
    x = sp.csr_matrix(np.array([[1, 0, 2], [0, 3, 0]], np.float32))
    atac = ad.AnnData(X=x, var=pd.DataFrame(index=names))
    peaks, onehot = prepare_peak_sequences(atac, path, width=50)
    write_npz_atomic(tmp_path / "seq.npz", onehot=onehot, var_idx=peaks["var_idx"].to_numpy())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    back, acc = read_peak_sequences(tmp_path / "seq.npz", atac)
    np.testing.assert_array_equal(back, onehot)
    np.testing.assert_array_equal(acc.toarray(), x.toarray()[:, peaks["var_idx"]])
    with pytest.raises(ScinterpInputError, match="atac file changed"):
        read_peak_sequences(tmp_path / "seq.npz", atac[:, :1], dataset="d")
