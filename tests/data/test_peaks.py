"""Peak parsing, validation, resizing and annotation on odd inputs."""

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from scinterp.data.peaks import (
    drop_n_rich,
    gc_content,
    n_fraction,
    nearest_genes,
    resize_peaks,
    validate_peaks,
)
from scinterp.errors import ScinterpInputError
from scinterp.io import read_peaks

GENOME = {"chr1": 10_000, "chr2": 5_000, "chrM": 500}


def _atac(names, var=None):
    var = pd.DataFrame(index=names) if var is None else var.set_index(pd.Index(names))
    return ad.AnnData(X=sp.csr_matrix((3, len(names)), dtype=np.float32), var=var)


@pytest.mark.parametrize(
    "names",
    [
        ["chr1:100-600", "chr2:0-50"],
        ["chr1-100-600", "chr2-0-50"],
        ["chr1_100_600", "chr2_0_50"],
    ],
)
def test_read_peaks_from_names(names):
    peaks = read_peaks(_atac(names))
    assert peaks["chrom"].tolist() == ["chr1", "chr2"]
    assert peaks["start"].tolist() == [100, 0]
    assert peaks["end"].tolist() == [600, 50]
    assert peaks["var_idx"].tolist() == [0, 1]
    assert peaks["peak"].tolist() == names


def test_read_peaks_scaffold_name_with_underscores():
    peaks = read_peaks(_atac(["chrUn_KI270302v1_10_90", "chr1:5-9"]))
    assert peaks["chrom"].tolist() == ["chrUn_KI270302v1", "chr1"]
    assert peaks["start"].tolist() == [10, 5]


def test_read_peaks_from_columns_case_insensitive():
    var = pd.DataFrame({"Chr": ["1", "2"], "START": [5, 7], "End": [10, 20]})
    peaks = read_peaks(_atac(["p1", "p2"], var))
    assert peaks["chrom"].tolist() == ["1", "2"]
    assert peaks["end"].tolist() == [10, 20]
    var = pd.DataFrame({"seqnames": ["chr1"], "start": [1], "end": [3]})
    assert read_peaks(_atac(["x"], var))["chrom"].tolist() == ["chr1"]


def test_read_peaks_unparseable_names():
    with pytest.raises(ScinterpInputError, match="chr1:100-600"):
        read_peaks(_atac(["peak_a", "chr1:1-5"]), dataset="d", path="atac.h5ad")


def _peaks(rows):
    df = pd.DataFrame(rows, columns=["chrom", "start", "end"])
    df.insert(0, "var_idx", np.arange(len(df)))
    df.insert(0, "peak", [f"p{i}" for i in range(len(df))])
    return df


def test_validate_unsorted_overlapping_duplicates_kept_in_order(caplog):
    peaks = _peaks([("chr2", 300, 400), ("chr1", 500, 900), ("chr1", 100, 600), ("chr1", 500, 900)])
    with caplog.at_level(logging.WARNING):
        out = validate_peaks(peaks, GENOME)
    # duplicate dropped (first kept), overlap kept, order and var_idx kept
    assert out["var_idx"].tolist() == [0, 1, 2]
    assert "1 duplicate" in caplog.text


def test_validate_clips_past_chromosome_end(caplog):
    with caplog.at_level(logging.WARNING):
        out = validate_peaks(_peaks([("chr2", 4_900, 5_200), ("chr1", 0, 10)]), GENOME)
    assert out["end"].tolist() == [5_000, 10]
    assert "clipping 1 peaks" in caplog.text
    with pytest.raises(ScinterpInputError, match="beyond the end"):
        validate_peaks(_peaks([("chr2", 6_000, 6_200)]), GENOME)


def test_validate_maps_chr_naming(caplog):
    peaks = _peaks([("1", 10, 20), ("2", 10, 20), ("MT", 1, 5)])
    with caplog.at_level(logging.INFO):
        out = validate_peaks(peaks, GENOME)
    assert out["chrom"].tolist() == ["chr1", "chr2", "chrM"]
    assert "renamed" in caplog.text
    # and the other way round
    out = validate_peaks(_peaks([("chr1", 10, 20)]), {"1": 100})
    assert out["chrom"].tolist() == ["1"]


def test_validate_missing_chromosome_error_lists_names():
    peaks = _peaks([("chr1", 10, 20), ("chrX", 10, 20)])
    with pytest.raises(ScinterpInputError) as err:
        validate_peaks(peaks, GENOME, dataset="demo", path="atac.h5ad", genome_path="g.fa")
    msg = str(err.value)
    assert "'chrX'" in msg and "'chr1'" in msg and "demo" in msg and "g.fa" in msg
    out = validate_peaks(peaks, GENOME, drop_unknown_chroms=True)
    assert out["var_idx"].tolist() == [0]


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (("chr1", -5, 20), "negative start"),
        (("chr1", 20, 20), "start >= end"),
        (("chr1", 30, 20), "start >= end"),
    ],
)
def test_validate_bad_coordinates(row, match):
    with pytest.raises(ScinterpInputError, match=match):
        validate_peaks(_peaks([("chr1", 1, 2), row]), GENOME, dataset="d")


def test_resize_keeps_width_and_clips():
    peaks = _peaks([("chr1", 100, 200), ("chr1", 0, 30), ("chr2", 4_950, 5_000), ("chrM", 0, 10)])
    out = resize_peaks(peaks, 300, GENOME)
    # chrM (500 bp) fits; nothing dropped
    assert (out["end"] - out["start"]).eq(300).all()
    assert out["start"].tolist() == [0, 0, 4_700, 0]
    assert out[["peak_start", "peak_end"]].iloc[0].tolist() == [100, 200]
    # window centred when there is room
    mid = resize_peaks(_peaks([("chr1", 1_000, 1_100)]), 200, GENOME)
    assert mid[["start", "end"]].iloc[0].tolist() == [950, 1_150]
    # chromosome shorter than the window -> dropped, var_idx of the others kept
    out = resize_peaks(peaks, 1_000, GENOME)
    assert out["var_idx"].tolist() == [0, 1, 2]


def test_gc_and_n_fraction_and_drop():
    seqs = ["GGCC", "AATT", "ACNN", "acgt"]
    np.testing.assert_allclose(gc_content(seqs), [1, 0, 0.25, 0.5])
    np.testing.assert_allclose(n_fraction(seqs), [0, 0, 0.5, 0])
    peaks = _peaks([("chr1", i, i + 4) for i in range(4)])
    kept, kept_seqs = drop_n_rich(peaks, seqs, max_n_fraction=0.1)
    assert kept["var_idx"].tolist() == [0, 1, 3]
    assert kept_seqs == ["GGCC", "AATT", "acgt"]
    assert "gc" in kept and "n_fraction" in kept


def test_nearest_genes(tmp_path):
    bed = tmp_path / "tss.bed"
    bed.write_text("# tss\n1\t700\t701\tGENE1\t0\t+\n1\t3000\t3001\tGENE2\t0\t-\n")
    peaks = _peaks([("chr1", 100, 600), ("chr1", 2_900, 3_100), ("chr2", 10, 20)])
    out = nearest_genes(peaks, bed)
    assert out["nearest_gene"].tolist() == ["GENE1", "GENE2", ""]
    assert out["tss_distance"].iloc[1] == 0
    assert out["tss_distance"].iloc[2] == -1
    assert out["var_idx"].tolist() == [0, 1, 2]
