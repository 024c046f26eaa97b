"""Gene sets and TF lists: the shipped files and the readers."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from scinterp.errors import ScinterpInputError
from scinterp.priors import (
    default_gene_sets,
    default_tfs,
    read_gmt,
    read_tfs,
    resources_dir,
    write_gmt,
)


def write(tmp_path, text, name="sets.gmt", newline="\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


# --- shipped resources ----------------------------------------------------------------


def test_default_paths_point_into_resources():
    assert default_gene_sets() == resources_dir() / "gene_sets" / "hallmark.gmt"
    assert default_tfs() == resources_dir() / "tfs" / "jaspar2024_vertebrates.txt"
    assert (resources_dir() / "README.md").is_file()


def test_resources_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SCINTERP_RESOURCES", str(tmp_path))
    assert default_tfs() == tmp_path / "tfs" / "jaspar2024_vertebrates.txt"


def test_shipped_hallmark_parses():
    sets = read_gmt(default_gene_sets())
    assert len(sets) == 50
    assert all(name.startswith("HALLMARK_") for name in sets)
    assert "STAT1" in sets["HALLMARK_INTERFERON_GAMMA_RESPONSE"]


def test_shipped_reactome_parses():
    sets = read_gmt(resources_dir() / "gene_sets" / "reactome.gmt")
    assert len(sets) > 1000
    assert all(name.startswith("REACTOME_") for name in sets)


def test_shipped_tf_list():
    tfs = read_tfs(default_tfs())
    assert len(tfs) > 500
    assert {"SPI1", "GATA1", "CTCF", "FOS", "JUN"} <= set(tfs)
    assert tfs == sorted(set(tfs)), "unique and sorted"
    assert all("::" not in tf and tf == tf.upper() for tf in tfs)


# --- read_gmt -------------------------------------------------------------------------


def test_read_gmt_tolerates_windows_endings_trailing_tabs_and_duplicates(tmp_path):
    path = write(
        tmp_path,
        "A\tdesc\tG1\tG2\tG1\t\t\nB\thttp://x\tG3\t\tG4\n\nC\t\tG5\n",
        newline="\r\n",
    )
    assert read_gmt(path) == {"A": ["G1", "G2"], "B": ["G3", "G4"], "C": ["G5"]}


def test_read_gmt_malformed_line_is_named(tmp_path):
    path = write(tmp_path, "A\tdesc\tG1\nB G2 G3\n")
    with pytest.raises(ScinterpInputError, match="line 2") as err:
        read_gmt(path, dataset="pbmc")
    assert "pbmc" in str(err.value) and str(path) in str(err.value)
    assert "Fix:" in str(err.value)


def test_read_gmt_duplicate_set_names(tmp_path):
    path = write(tmp_path, "A\td\tG1\nA\td\tG2\n")
    with pytest.raises(ScinterpInputError, match="'A' appears twice"):
        read_gmt(path)


def test_read_gmt_missing_file(tmp_path):
    with pytest.raises(ScinterpInputError, match="does not exist"):
        read_gmt(tmp_path / "nope.gmt", dataset="d")


def test_read_gmt_matches_case_insensitively_in_data_spelling(tmp_path):
    path = write(tmp_path, "A\td\tGATA1\tSPI1\tNOPE\nB\td\tCd3e\n")
    sets = read_gmt(path, genes=["Gata1", "Spi1", "CD3E", "Actb"])
    assert sets == {"A": ["Gata1", "Spi1"], "B": ["CD3E"]}


def test_read_gmt_no_overlap_tells_the_user(tmp_path):
    path = write(tmp_path, "A\td\tGATA1\tSPI1\n")
    with pytest.raises(ScinterpInputError, match="none of the 1 gene sets") as err:
        read_gmt(path, genes=["ENSG000001", "ENSG000002"], dataset="d")
    message = str(err.value)
    assert "ENSG000001" in message and "GATA1" in message
    assert "species" in message


def test_read_gmt_skips_small_sets_with_warning(tmp_path, caplog):
    path = write(tmp_path, "BIG\td\tG1\tG2\tG3\nSMALL\td\tG1\tX1\tX2\n")
    with caplog.at_level(logging.WARNING, logger="scinterp"):
        sets = read_gmt(path, genes=["G1", "G2", "G3"], min_size=2)
    assert list(sets) == ["BIG"]
    assert "SMALL" in caplog.text and "BIG" not in caplog.text


def test_read_gmt_all_sets_too_small(tmp_path):
    path = write(tmp_path, "A\td\tG1\tX\n")
    with pytest.raises(ScinterpInputError, match="at least 5 genes"):
        read_gmt(path, genes=["G1"], min_size=5)


def test_write_gmt_round_trips(tmp_path):
    sets = {"P1": ["A", "B"], "P2": ["C"]}
    path = write_gmt(sets, tmp_path / "out" / "p.gmt")
    assert read_gmt(path) == sets


# --- read_tfs -------------------------------------------------------------------------


def test_read_tfs_comments_blanks_and_case(tmp_path):
    path = write(tmp_path, "# header\nSPI1\n\ngata1  # trailing comment\nSPI1\nFOO\n", "t.txt")
    assert read_tfs(path) == ["SPI1", "gata1", "FOO"]
    assert read_tfs(path, genes=["Spi1", "GATA1", "Actb"]) == ["Spi1", "GATA1"]


def test_read_tfs_no_overlap_lists_both_sides(tmp_path):
    path = write(tmp_path, "SPI1\nGATA1\n", "t.txt")
    with pytest.raises(ScinterpInputError, match="none of the 2 TFs") as err:
        read_tfs(path, genes=["gene_0", "gene_1"], dataset="demo")
    message = str(err.value)
    assert "gene_0" in message and "SPI1" in message and "demo" in message


def test_read_tfs_missing_or_empty(tmp_path):
    with pytest.raises(ScinterpInputError, match="does not exist"):
        read_tfs(tmp_path / "none.txt")
    with pytest.raises(ScinterpInputError, match="empty"):
        read_tfs(write(tmp_path, "# only a comment\n\n", "t.txt"))


def test_priors_stays_light():
    code = "import sys, scinterp.priors; print(sorted({'torch', 'snakemake', 'scanpy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
