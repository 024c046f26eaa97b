"""Readers, count validation, obs-key validation and atomic writers (scinterp.io)."""

from __future__ import annotations

import gzip
import os

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import io as spio
from scipy import sparse

from scinterp.errors import ScinterpInputError
from scinterp.io import (
    detect_format,
    read_counts,
    validate_obs_keys,
    write_h5ad_atomic,
    write_tsv_atomic,
)

DS = "toy"


def _counts(n_cells=20, n_genes=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(2.0, (n_cells, n_genes)).astype(np.float64)
    obs = pd.DataFrame(
        {"cell_type": rng.choice(["a", "b"], n_cells), "sample": "s1"},
        index=[f"c{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"G{j}" for j in range(n_genes)])
    return ad.AnnData(X, obs=obs, var=var)


def _assert_clear(err: ScinterpInputError, path, *words):
    msg = str(err)
    assert f"dataset '{DS}'" in msg, msg
    assert str(path) in msg, msg
    assert "Fix:" in msg and err.fix, msg
    for w in words:
        assert w in msg, (w, msg)


def test_h5ad_counts_become_float32_csr(tmp_path):
    a = _counts()
    p = tmp_path / "x.h5ad"
    a.write_h5ad(p)
    b = read_counts(p, dataset=DS)
    assert sparse.isspmatrix_csr(b.X) or isinstance(b.X, sparse.csr_array)
    assert b.X.dtype == np.float32
    np.testing.assert_array_equal(b.X.toarray(), a.X)
    assert list(b.obs["cell_type"]) == list(a.obs["cell_type"])


def test_counts_layer_is_used(tmp_path):
    a = _counts()
    a.layers["counts"] = a.X.copy()
    a.X = np.log1p(a.X)
    p = tmp_path / "x.h5ad"
    a.write_h5ad(p)
    b = read_counts(p, dataset=DS, counts_layer="counts")
    np.testing.assert_array_equal(b.X.toarray(), a.layers["counts"])
    assert len(b.layers) == 0


def test_missing_file(tmp_path):
    p = tmp_path / "nope.h5ad"
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS)
    _assert_clear(e.value, p, "does not exist", "'rna' path")


def test_unknown_format(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS)
    _assert_clear(e.value, p, "unknown input format", ".h5ad")


def test_missing_counts_layer_lists_layers(tmp_path):
    a = _counts()
    a.layers["raw"] = a.X.copy()
    p = tmp_path / "x.h5ad"
    a.write_h5ad(p)
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS, counts_layer="counts")
    _assert_clear(e.value, p, "'counts'", "'raw'", "counts_layer")


def test_negative_counts(tmp_path):
    a = _counts()
    a.X[0, 0] = -3
    p = tmp_path / "x.h5ad"
    a.write_h5ad(p)
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS)
    _assert_clear(e.value, p, "negative", "counts_layer")


def test_log_normalized_x_takes_the_counts_layer_and_logs_it(tmp_path, caplog):
    """Counts in a layer named like counts are found without counts_layer, and logged."""
    a = _counts()
    a.layers["counts"] = a.X.copy()
    a.X = np.log1p(a.X)
    p = tmp_path / "x.h5ad"
    a.write_h5ad(p)
    with caplog.at_level("INFO", logger="scinterp.io"):
        b = read_counts(p, dataset=DS)
    np.testing.assert_array_equal(b.X.toarray(), a.layers["counts"])
    assert "taken from layers['counts']" in caplog.text


def test_log_normalized_everywhere_names_each_place_looked(tmp_path):
    a = _counts()
    a.layers["lognorm"] = np.log1p(a.X)
    a.layers["raw_counts"] = np.log1p(a.X)
    a.X = np.log1p(a.X)
    p = tmp_path / "x.h5ad"
    a.write_h5ad(p)
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS)
    _assert_clear(
        e.value,
        p,
        "non-integer",
        ".X holds",
        "layers['raw_counts'] holds",
        ".raw is absent",
        "'lognorm'",
        "counts_layer",
    )


def test_pbmc68k_reduced_is_not_counts(tmp_path):
    """scanpy's shipped pbmc68k_reduced holds scaled data in X and log data in raw."""
    import scanpy as sc

    pb = sc.datasets.pbmc68k_reduced()
    for name, a in (("scaled", pb), ("log", pb.raw.to_adata())):
        a = ad.AnnData(a.X, obs=a.obs[["bulk_labels"]], var=pd.DataFrame(index=a.var_names))
        p = tmp_path / f"pbmc_{name}.h5ad"
        a.write_h5ad(p)
        with pytest.raises(ScinterpInputError) as e:
            read_counts(p, dataset=DS)
        _assert_clear(e.value, p, "non-integer", "counts_layer")


def test_duplicated_cell_names(tmp_path):
    a = _counts()
    a.obs_names = ["c0", "c0"] + list(a.obs_names[2:])
    p = tmp_path / "x.h5ad"
    a.write_h5ad(p)
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS)
    _assert_clear(e.value, p, "cell names", "'c0'", "obs_names_make_unique")


def test_duplicated_gene_names(tmp_path):
    a = _counts()
    a.var_names = ["G0", "G0"] + list(a.var_names[2:])
    p = tmp_path / "x.h5ad"
    a.write_h5ad(p)
    with pytest.raises(ScinterpInputError) as e:
        read_counts(p, dataset=DS)
    _assert_clear(e.value, p, "gene names", "'G0'", "var_names_make_unique")


def test_obs_keys(tmp_path):
    a = _counts()
    p = tmp_path / "x.h5ad"
    validate_obs_keys(a, DS, p, label_key="cell_type", batch_key="sample")
    with pytest.raises(ScinterpInputError) as e:
        validate_obs_keys(a, DS, p, label_key="celltype", batch_key=None)
    _assert_clear(e.value, p, "label_key 'celltype'", "'cell_type'", "'sample'")
    with pytest.raises(ScinterpInputError) as e:
        validate_obs_keys(a, DS, p, label_key=None, batch_key="donor")
    _assert_clear(e.value, p, "batch_key 'donor'", "'cell_type'")


def _write_mtx_dir(d, X, genes, barcodes, *, v3=True, feature_types=None):
    """Cell Ranger layout: genes x cells matrix; v3 gzipped with features.tsv.gz."""
    d.mkdir()
    m = sparse.coo_matrix(X.T)
    if v3:
        with gzip.open(d / "matrix.mtx.gz", "wb") as fh:
            spio.mmwrite(fh, m, field="integer")
        rows = [
            f"ENSG{i:05d}\t{g}\t{feature_types[i] if feature_types else 'Gene Expression'}"
            for i, g in enumerate(genes)
        ]
        with gzip.open(d / "features.tsv.gz", "wt") as fh:
            fh.write("\n".join(rows) + "\n")
        with gzip.open(d / "barcodes.tsv.gz", "wt") as fh:
            fh.write("\n".join(barcodes) + "\n")
    else:
        spio.mmwrite(d / "matrix.mtx", m, field="integer")
        (d / "genes.tsv").write_text("\n".join(f"ENSG{i:05d}\t{g}" for i, g in enumerate(genes)))
        (d / "barcodes.tsv").write_text("\n".join(barcodes) + "\n")


def test_mtx_v3_dir_gex_only_and_duplicate_symbols(tmp_path):
    a = _counts(n_cells=12, n_genes=6)
    genes = ["A", "B", "B", "MT-C", "D", "CD3_ab"]
    types = ["Gene Expression"] * 5 + ["Antibody Capture"]
    bcs = [f"AAAC-{i}" for i in range(12)]
    d = tmp_path / "filtered_feature_bc_matrix"
    _write_mtx_dir(d, a.X, genes, bcs, feature_types=types)
    assert detect_format(d) == "mtx"
    b = read_counts(d, dataset=DS)
    assert b.shape == (12, 5)
    assert list(b.var_names) == ["A", "B", "B-1", "MT-C", "D"]
    assert list(b.obs_names) == bcs
    np.testing.assert_array_equal(b.X.toarray(), a.X[:, :5])
    assert b.X.dtype == np.float32


def test_mtx_plain_legacy_dir(tmp_path):
    a = _counts(n_cells=10, n_genes=5)
    d = tmp_path / "mtx"
    _write_mtx_dir(d, a.X, list(a.var_names), list(a.obs_names), v3=False)
    b = read_counts(d / "matrix.mtx", dataset=DS)  # the matrix file stands for its folder
    np.testing.assert_array_equal(b.X.toarray(), a.X)
    assert list(b.var_names) == list(a.var_names)


def test_mtx_dir_missing_part(tmp_path):
    a = _counts(n_cells=10, n_genes=5)
    d = tmp_path / "mtx"
    _write_mtx_dir(d, a.X, list(a.var_names), list(a.obs_names), v3=False)
    os.remove(d / "barcodes.tsv")
    with pytest.raises(ScinterpInputError) as e:
        read_counts(d, dataset=DS)
    _assert_clear(e.value, d, "barcodes.tsv")


def test_10x_h5_v3(tmp_path):
    h5py = pytest.importorskip("h5py")
    a = _counts(n_cells=9, n_genes=4)
    m = sparse.csc_matrix(a.X.T.astype(np.int32))  # 10x stores genes x cells, CSC
    p = tmp_path / "filtered_feature_bc_matrix.h5"
    with h5py.File(p, "w") as f:
        g = f.create_group("matrix")
        g["barcodes"] = np.array([f"B{i}-1" for i in range(9)], dtype="S")
        g["data"] = m.data
        g["indices"] = m.indices.astype(np.int64)
        g["indptr"] = m.indptr.astype(np.int64)
        g["shape"] = np.array(m.shape, dtype=np.int32)
        fe = g.create_group("features")
        fe["id"] = np.array([f"ENSG{i}" for i in range(4)], dtype="S")
        fe["name"] = np.array(["A", "A", "MT-X", "B"], dtype="S")
        fe["feature_type"] = np.array(["Gene Expression"] * 4, dtype="S")
        fe["genome"] = np.array(["GRCh38"] * 4, dtype="S")
    assert detect_format(p) == "10x_h5"
    b = read_counts(p, dataset=DS)
    assert b.shape == (9, 4)
    assert list(b.var_names) == ["A", "A-1", "MT-X", "B"]
    np.testing.assert_array_equal(b.X.toarray(), a.X)


def test_atomic_writers(tmp_path):
    df = pd.DataFrame({"cell": ["a", "b"], "keep": [True, False]})
    out = tmp_path / "sub" / "metrics.tsv"
    write_tsv_atomic(df, out)
    pd.testing.assert_frame_equal(pd.read_csv(out, sep="\t"), df)
    a = _counts()
    write_h5ad_atomic(a, tmp_path / "a.h5ad")
    assert ad.read_h5ad(tmp_path / "a.h5ad").shape == a.shape
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.h5ad", "sub"]
    assert [x.name for x in (tmp_path / "sub").iterdir()] == ["metrics.tsv"]


def test_atomic_writer_leaves_nothing_on_failure(tmp_path):
    class Broken(pd.DataFrame):
        def to_csv(self, path, **kw):
            open(path, "w").write("half")
            raise RuntimeError("disk full")

    out = tmp_path / "metrics.tsv"
    with pytest.raises(RuntimeError):
        write_tsv_atomic(Broken({"a": [1]}), out)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_the_old_file_on_failure_and_the_umask_mode(tmp_path):
    from scinterp.io import atomic_path

    out = tmp_path / "model.pt"
    with atomic_path(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".pt")
        tmp.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert out.read_text() == "old"
    assert list(tmp_path.iterdir()) == [out]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not 0600


def test_read_normalized_reads_only_the_layers_asked_for(tmp_path):

    from scinterp.io import read_normalized

    X = sparse.random(20, 8, density=0.3, format="csr", dtype=np.float32, random_state=0)
    a = ad.AnnData(X=X, layers={"counts": X.copy(), "other": X.copy()})
    a.obs["cell_type"] = ["x"] * 10 + ["y"] * 10
    a.uns["scinterp"] = {"label_key": "cell_type"}
    a.write_h5ad(tmp_path / "n.h5ad")
    lean = read_normalized(tmp_path / "n.h5ad")
    assert not lean.layers and (lean.X != X).nnz == 0
    assert (
        lean.uns["scinterp"]["label_key"] == "cell_type" and list(lean.obs["cell_type"])[-1] == "y"
    )
    full = read_normalized(tmp_path / "n.h5ad", layers=("counts",))
    assert list(full.layers) == ["counts"]


@pytest.mark.parametrize("dense", [False, True])
def test_read_normalized_keeps_only_the_genes_asked_for(tmp_path, dense):
    """Columns cut chunk by chunk (tiny chunks here) equal the whole matrix cut at once."""
    import scinterp.io._h5ad as sio  # read_normalized calls _read_columns of its own module

    X = sparse.random(53, 12, density=0.3, format="csr", dtype=np.float32, random_state=1)
    a = ad.AnnData(X=X.toarray() if dense else X, layers={"counts": X.copy()})
    a.var_names = [f"g{i}" for i in range(12)]
    a.write_h5ad(tmp_path / "n.h5ad")
    real = sio._read_columns
    try:  # chunks of ~5 values, so that every chunk boundary is crossed
        sio._read_columns = lambda e, c: real(e, c, chunk_values=5)
        sub = sio.read_normalized(tmp_path / "n.h5ad", ("counts",), var_names=["g9", "g2", "g3"])
    finally:
        sio._read_columns = real
    assert list(sub.var_names) == ["g2", "g3", "g9"]  # the file's order
    want = X[:, [2, 3, 9]].toarray()
    got = sub.X if dense else sub.X.toarray()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(sub.layers["counts"].toarray(), want)
    with pytest.raises(KeyError, match="nope"):
        sio.read_normalized(tmp_path / "n.h5ad", var_names=["g1", "nope"])


@pytest.mark.parametrize("dense", [False, True])
def test_read_normalized_keeps_only_the_cells_asked_for(tmp_path, dense):
    """rows= reads those cells (and their obs, obsm) and, with var_names, those genes."""
    from scinterp.io import read_normalized

    X = sparse.random(40, 10, density=0.3, format="csr", dtype=np.float32, random_state=2)
    a = ad.AnnData(X=X.toarray() if dense else X, layers={"counts": X.copy()})
    a.var_names = [f"g{i}" for i in range(10)]
    a.obs["n"] = np.arange(40)
    a.obsm["X_pca"] = np.arange(80, dtype=float).reshape(40, 2)
    a.write_h5ad(tmp_path / "n.h5ad")
    rows = np.array([1, 5, 6, 30])
    sub = read_normalized(tmp_path / "n.h5ad", ("counts",), var_names=["g7", "g0"], rows=rows)
    assert list(sub.obs["n"]) == [1, 5, 6, 30] and list(sub.var_names) == ["g0", "g7"]
    np.testing.assert_array_equal(sub.obsm["X_pca"], a.obsm["X_pca"][rows])
    want = X[rows][:, [0, 7]].toarray()
    np.testing.assert_array_equal(sub.X if dense else sub.X.toarray(), want)
    np.testing.assert_array_equal(sub.layers["counts"].toarray(), want)
    whole = read_normalized(tmp_path / "n.h5ad", rows=rows)
    assert whole.n_vars == 10 and not whole.layers
    with pytest.raises(ValueError, match="sorted"):
        read_normalized(tmp_path / "n.h5ad", rows=[5, 1])
    with pytest.raises(KeyError, match="nope"):
        read_normalized(tmp_path / "n.h5ad", var_names=["nope"], rows=rows)


@pytest.mark.parametrize("dense", [False, True])
def test_read_rows_and_meta_read_what_is_asked_for(tmp_path, dense):
    """Rows in the order given (unsorted, repeated); obs, var and uns without matrices."""
    from scinterp.io import read_meta, read_rows

    X = sparse.random(30, 6, density=0.4, format="csr", dtype=np.float32, random_state=2)
    a = ad.AnnData(X=X.toarray() if dense else X, layers={"counts": X.copy()})
    a.obs_names = [f"c{i}" for i in range(30)]
    a.var_names = [f"g{i}" for i in range(6)]
    a.obs["cell_type"] = [f"t {i % 3}" for i in range(30)]
    a.uns["scinterp"] = {"label_key": "cell_type"}
    a.write_h5ad(tmp_path / "n.h5ad")
    got = read_rows(tmp_path / "n.h5ad", [17, 3, 29, 3])
    got = got.toarray() if sparse.issparse(got) else got
    np.testing.assert_array_equal(got, X[[17, 3, 29, 3]].toarray())
    meta = read_meta(tmp_path / "n.h5ad")
    assert set(meta) == {"obs", "var", "uns"}
    assert meta["uns"]["scinterp"]["label_key"] == "cell_type"
    assert list(meta["var"].index) == [f"g{i}" for i in range(6)]
    assert meta["obs"]["cell_type"].iloc[[17, 3]].tolist() == ["t 2", "t 0"]
    assert read_meta(tmp_path / "n.h5ad", ("obs",)).keys() == {"obs"}
