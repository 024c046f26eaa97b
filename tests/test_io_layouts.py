"""Real-world input layouts (scinterp.io, scinterp.config): CELLxGENE-style h5ad with
Ensembl IDs and counts in .raw, a Cell Ranger ARC multiome .h5, a MuData .h5mu; symbols of
the wrong or of mixed species; the errors name the dataset, the file and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scinterp.config import check_datasets, gene_names
from scinterp.errors import ScinterpInputError
from scinterp.io import check_species, read_atac, read_counts, symbol_styles
from scinterp.priors import default_gene_sets, read_gmt

sys.path.insert(0, str(Path(__file__).parent))
from layouts import write_arc_h5, write_cellxgene_h5ad, write_h5mu  # noqa: E402

DS = "atlas"
HUMAN = ["GAPDH", "ACTB", "CD3E", "MS4A1", "LYZ", "NKG7", "MT-CO1", "RPL13", "TP53", "GATA1"]


def _rna(n_cells=30, genes=HUMAN, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(3.0, (n_cells, len(genes))).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": rng.choice(["B", "T"], n_cells)},
        index=[f"AAAC{i:04d}-1" for i in range(n_cells)],
    )
    return ad.AnnData(sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=list(genes)))


def _atac(cells, n_peaks=12, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.poisson(1.0, (len(cells), n_peaks)).astype(np.float32)
    var = pd.DataFrame(
        {
            "chrom": ["chr1"] * (n_peaks // 2) + ["chr2"] * (n_peaks - n_peaks // 2),
            "start": [100 + 1000 * i for i in range(n_peaks)],
            "end": [600 + 1000 * i for i in range(n_peaks)],
        }
    )
    var.index = [
        f"{c}:{s}-{e}" for c, s, e in zip(var["chrom"], var["start"], var["end"], strict=True)
    ]
    return ad.AnnData(sparse.csr_matrix(X), obs=pd.DataFrame(index=cells), var=var)


def _check_config(datasets):
    check_datasets(datasets, motif_releases=("JASPAR2024",))


def _assert_clear(err, path, *words):
    msg = str(err.value)
    assert f"dataset '{DS}'" in msg and str(path) in msg and "Fix:" in msg, msg
    for w in words:
        assert w in msg, (w, msg)


# --- CELLxGENE: Ensembl IDs, feature_name symbols, counts in .raw -----------------


def test_cellxgene_counts_from_raw_and_symbols(tmp_path, caplog):
    rna = _rna()
    # gene 9 (GATA1) becomes a second "ACTB" with more counts than the real one
    X = rna.X.toarray()
    X[:, 9] = X[:, 1] + 5
    rna.X = sparse.csr_matrix(X)
    p = tmp_path / "atlas.h5ad"
    written = write_cellxgene_h5ad(rna, p, duplicate=(1, 9))
    with caplog.at_level("INFO", logger="scinterp.io"):
        a = read_counts(p, dataset=DS, symbol_key="feature_name", species="human")
    # the counts are .raw's, not the log values of .X
    np.testing.assert_array_equal(a.X.toarray(), written.raw.X.toarray())
    assert "taken from .raw.X" in caplog.text
    # symbols are the names; the IDs stay alongside; the busier ACTB keeps the symbol
    ids = list(written.var_names)
    assert a.var["gene_ids"].tolist() == ids
    assert a.var_names[9] == "ACTB" and a.var_names[1] == f"ACTB_{ids[1]}"
    assert a.var_names[0] == "GAPDH" and a.var_names.is_unique
    assert "1 symbol(s) shared by several genes" in caplog.text
    # gene sets match now; with the IDs they would not
    assert "MT-CO1" in a.var_names
    # the parse-time view of the names is the same
    assert gene_names(p, "feature_name")[0] == "GAPDH"


def test_ensembl_ids_without_symbol_key_hint_the_column(tmp_path, caplog):
    p = tmp_path / "atlas.h5ad"
    write_cellxgene_h5ad(_rna(), p)
    with caplog.at_level("WARNING", logger="scinterp.io"):
        a = read_counts(p, dataset=DS)
    assert a.var_names[0].startswith("ENSG")
    assert "set symbol_key" in caplog.text and "'feature_name'" in caplog.text


def test_symbol_key_missing_column(tmp_path):
    p = tmp_path / "atlas.h5ad"
    write_cellxgene_h5ad(_rna(), p)
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS, symbol_key="gene_symbols")
    _assert_clear(e, p, "'gene_symbols'", "'feature_name'", "symbol_key")
    with pytest.raises(ScinterpInputError) as e:
        _check_config({DS: {"rna": str(p), "symbol_key": "gene_symbols"}})
    _assert_clear(e, p, "'gene_symbols'", "feature_name", f"datasets.{DS}.symbol_key")


def test_counts_layer_raw_names_dot_raw(tmp_path):
    p = tmp_path / "atlas.h5ad"
    written = write_cellxgene_h5ad(_rna(), p)
    a = read_counts(p, dataset=DS, counts_layer="raw")
    np.testing.assert_array_equal(a.X.toarray(), written.raw.X.toarray())
    _check_config({DS: {"rna": str(p), "counts_layer": "raw"}})  # .raw counts as a source


def test_normalized_only_names_every_place_looked(tmp_path):
    rna = _rna()
    p = tmp_path / "atlas.h5ad"
    written = write_cellxgene_h5ad(rna, p)
    logged = ad.AnnData(written.X, obs=written.obs, var=written.var)
    logged.raw = logged.copy()  # .raw holds the same log values (a common export)
    logged.layers["logcounts"] = written.X.copy()
    logged.write_h5ad(p)
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS, symbol_key="feature_name")
    _assert_clear(
        e,
        p,
        "no raw integer counts",
        ".X holds non-integer",
        ".raw.X holds non-integer",
        "layers['logcounts'] holds non-integer",
        "counts_layer",
    )


# --- 10x multiome (Cell Ranger ARC) ---------------------------------------------


def test_arc_h5_gene_expression_and_peaks(tmp_path):
    rna = _rna()
    atac = _atac(rna.obs_names)
    p = write_arc_h5(tmp_path / "filtered_feature_bc_matrix.h5", rna, atac)
    a = read_counts(p, dataset=DS, species="human")
    assert list(a.var_names) == HUMAN
    np.testing.assert_array_equal(a.X.toarray(), rna.X.toarray())
    peaks = read_atac(p, dataset=DS)
    assert list(peaks.obs_names) == list(rna.obs_names)
    assert peaks.var["chrom"].tolist() == atac.var["chrom"].tolist()
    assert peaks.var["start"].tolist() == atac.var["start"].tolist()
    assert peaks.var["end"].tolist() == atac.var["end"].tolist()
    np.testing.assert_array_equal(peaks.X.toarray(), atac.X.toarray())
    _check_config({DS: {"rna": str(p), "atac": "from_rna", "genome": str(p)}})


def test_arc_h5_interval_field_gives_coordinates(tmp_path):
    """Peak names need not be coordinates: the interval field is read."""
    rna = _rna()
    atac = _atac(rna.obs_names)
    p = write_arc_h5(tmp_path / "arc.h5", rna, atac)
    import h5py

    with h5py.File(p, "r+") as f:
        names = f["matrix/features/name"]
        new = [n if i < rna.n_vars else f"peak{i}".encode() for i, n in enumerate(names[()])]
        names[...] = np.array(new)
    peaks = read_atac(p, dataset=DS)
    assert peaks.var_names[0] == f"peak{rna.n_vars}"
    assert peaks.var["start"].tolist() == atac.var["start"].tolist()


def test_gene_expression_only_h5_has_no_peaks(tmp_path):
    rna = _rna()
    p = write_arc_h5(tmp_path / "gex.h5", rna, None)
    with pytest.raises(ScinterpInputError) as e:
        read_atac(p, dataset=DS)
    _assert_clear(e, p, "no peaks", "'Gene Expression'", "ARC")
    # caught when the config is read, before any job
    with pytest.raises(ScinterpInputError) as e:
        _check_config({DS: {"rna": str(p), "atac": "from_rna", "genome": str(p)}})
    _assert_clear(e, p, "no peaks", "Gene Expression", f"datasets.{DS}.atac")


# --- MuData ------------------------------------------------------------------------


def test_h5mu_rna_and_atac_modalities(tmp_path):
    rna = _rna()
    rna.layers["counts"] = rna.X.copy()
    rna.X = rna.X.copy()
    rna.X.data = np.log1p(rna.X.data)  # counts found in the layer
    atac = _atac(rna.obs_names)
    p = write_h5mu(tmp_path / "multiome.h5mu", rna, atac, rna_name="gex", atac_name="peaks")
    a = read_counts(p, dataset=DS, modality="gex")
    np.testing.assert_array_equal(a.X.toarray(), rna.layers["counts"].toarray())
    assert a.obs["cell_type"].tolist() == rna.obs["cell_type"].tolist()
    peaks = read_atac(p, dataset=DS, modality="peaks")
    assert peaks.shape == atac.shape and peaks.var["end"].tolist() == atac.var["end"].tolist()
    ds = {"rna": str(p), "rna_modality": "gex", "atac": "from_rna", "atac_modality": "peaks"}
    _check_config({DS: {**ds, "genome": str(p), "label_key": "cell_type"}})


def test_h5mu_without_the_named_modality(tmp_path):
    rna = _rna()
    p = write_h5mu(tmp_path / "rna_only.h5mu", rna, None)
    with pytest.raises(ScinterpInputError) as e:
        read_atac(p, dataset=DS)
    _assert_clear(e, p, "no modality 'atac'", "'rna'", "atac_modality")
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS, modality="gex")
    _assert_clear(e, p, "no modality 'gex'", "'rna'", "rna_modality")
    with pytest.raises(ScinterpInputError) as e:
        _check_config({DS: {"rna": str(p), "atac": "from_rna", "genome": str(p)}})
    _assert_clear(e, p, "no modality 'atac'", f"datasets.{DS}.atac_modality")
    with pytest.raises(ScinterpInputError) as e:
        _check_config({DS: {"rna": str(p), "rna_modality": "gex"}})
    _assert_clear(e, p, "no modality 'gex'", f"datasets.{DS}.rna_modality")


# --- species -----------------------------------------------------------------------

HUMAN_60 = [f"GENE{i}X" for i in range(60)]
MOUSE_60 = [f"Gene{i}x" for i in range(60)]


def test_symbol_styles():
    assert symbol_styles(["GAPDH", "MT-CO1", "Gapdh", "mt-Co1", "C1orf112", "ENSG00000000001"]) == (
        2,
        2,
    )


def test_species_checks():
    check_species(HUMAN_60, "human")
    check_species(MOUSE_60, "mouse")
    check_species(HUMAN_60 + MOUSE_60[:5], None)  # a few odd names are no mixture
    check_species(HUMAN_60[:10] + MOUSE_60[:10], None)  # too few symbols to judge
    with pytest.raises(ScinterpInputError, match="look human") as e:
        check_species(HUMAN_60, "mouse", dataset=DS, path="x.h5ad")
    assert "species of dataset 'atlas' to 'human'" in str(e.value)
    with pytest.raises(ScinterpInputError, match="look mouse"):
        check_species(MOUSE_60, "human", dataset=DS, path="x.h5ad")
    with pytest.raises(ScinterpInputError, match="mix species") as e:
        check_species(HUMAN_60 + MOUSE_60[:30], None, dataset=DS, path="x.h5ad")
    assert "60 of 90 symbols are human-style" in str(e.value)


def test_species_mismatch_is_caught_when_the_config_is_read(tmp_path):
    rna = _rna(genes=HUMAN_60)
    p = tmp_path / "atlas.h5ad"
    write_cellxgene_h5ad(rna, p)
    with pytest.raises(ScinterpInputError) as e:
        _check_config({DS: {"rna": str(p), "symbol_key": "feature_name", "species": "mouse"}})
    _assert_clear(e, p, "species is 'mouse'", "look human")
    # the IDs alone (no symbol_key) are no species
    _check_config({DS: {"rna": str(p), "species": "mouse"}})
    with pytest.raises(ScinterpInputError):
        read_counts(p, dataset=DS, symbol_key="feature_name", species="mouse")


def test_mouse_default_gene_sets_match_mouse_symbols():
    path = default_gene_sets("mouse")
    assert path.name == "mouse_hallmark.gmt" and path.stat().st_size < 1_000_000
    sets = read_gmt(path)
    assert len(sets) == 50
    genes = [g for members in sets.values() for g in members]
    assert symbol_styles(genes)[1] > 0.95 * len(set(genes))  # mouse-style symbols
    # an ortholog whose mouse symbol is not the capitalised human one (CD8B: Cd8b1)
    assert "Cd8b1" in set(genes) and "Cd8b" not in set(genes)
    assert default_gene_sets().name == "hallmark.gmt"
