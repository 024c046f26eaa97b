"""Normalization, HVGs, embedding, Leiden labels, the normalize script, and a run on
real 10x counts (celltypist's shipped sample)."""

from __future__ import annotations

import logging
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from scinterp.errors import ScinterpInputError
from scinterp.preprocess.normalize import plot_umap, run_normalize

REPO = Path(__file__).resolve().parents[1]
DS = "toy"


def make_counts(n_cells=240, n_genes=200, n_types=3, depth=(1.0, 2.0), seed=0):
    """Poisson counts of ``n_types`` cell types (20 markers each), batches of different depth."""
    rng = np.random.default_rng(seed)
    genes = [f"MT-{i}" for i in range(5)] + [f"G{i}" for i in range(n_genes - 5)]
    profiles = np.tile(rng.gamma(0.6, 1.0, n_genes), (n_types, 1))
    for t in range(n_types):
        profiles[t, 10 + 20 * t + np.arange(20)] *= 8
    profiles /= profiles.sum(1, keepdims=True)
    batch = np.arange(n_cells) % len(depth)
    ctype = rng.integers(0, n_types, n_cells)
    lib = rng.lognormal(np.log(2000), 0.3, n_cells) * np.asarray(depth)[batch]
    X = rng.poisson(profiles[ctype] * lib[:, None]).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": [f"type{t}" for t in ctype], "batch": [f"b{b}" for b in batch]},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    return ad.AnnData(sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=genes))


def _ari(a, b):
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(np.asarray(a), np.asarray(b))


def test_run_normalize_leiden_labels():
    a = make_counts()
    counts = a.X.copy()
    p = {"n_top_genes": 50, "n_pcs": 10, "leiden_resolution": 0.3}
    n = run_normalize(a, p, "batch", None, DS)
    assert sparse.issparse(n.X) and sparse.issparse(n.layers["counts"])
    assert (n.layers["counts"] != counts).nnz == 0
    # log1p of counts scaled to target_sum per cell
    row = counts[0].toarray().ravel()
    np.testing.assert_allclose(
        n.X[0].toarray().ravel(), np.log1p(row / row.sum() * 1e4), rtol=1e-4, atol=1e-5
    )
    assert n.n_vars == a.n_vars  # all genes kept
    assert n.var["highly_variable"].dtype == bool and n.var["highly_variable"].sum() == 50
    assert n.obsm["X_pca"].shape == (a.n_obs, 10) and n.obsm["X_umap"].shape == (a.n_obs, 2)
    assert n.uns["scinterp"]["label_key"] == "label"
    assert isinstance(n.obs["label"].dtype, pd.CategoricalDtype)
    assert (n.obs["label"].astype(str) == n.obs["leiden"].astype(str)).all()
    assert _ari(n.obs["label"], n.obs["cell_type"]) > 0.9  # clusters are the planted types


@pytest.mark.parametrize("lean", [False, True])
def test_run_normalize_without_normalize_total(monkeypatch, lean):
    """normalize_total false: X is log1p of the counts, on both paths (scanpy's and the
    chunked one for atlases); the default scales every cell to target_sum."""
    from scinterp.preprocess.normalize import _lean

    if lean:
        monkeypatch.setattr(_lean, "LEAN_MIN_NNZ", 0)
        monkeypatch.setattr(_lean, "_CHUNK_NNZ", 997)
    a = make_counts()
    counts = a.X.toarray()
    p = {"n_top_genes": 50, "n_pcs": 10, "normalize_total": False}
    n = run_normalize(a, p, "batch", "cell_type", DS)
    np.testing.assert_allclose(n.X.toarray(), np.log1p(counts), rtol=1e-6)
    scaled = run_normalize(make_counts(), {**p, "normalize_total": True}, "batch", "cell_type", DS)
    totals = np.expm1(scaled.X.toarray()).sum(1)
    np.testing.assert_allclose(totals, 1e4, rtol=1e-3)  # every cell at target_sum
    assert not np.allclose(scaled.X.toarray(), n.X.toarray())


def test_run_normalize_is_deterministic():
    p = {"n_top_genes": 50, "n_pcs": 10, "seed": 3}
    n1 = run_normalize(make_counts(), p, "batch", None, DS)
    n2 = run_normalize(make_counts(), p, "batch", None, DS)
    assert (n1.obs["leiden"] == n2.obs["leiden"]).all()
    np.testing.assert_allclose(n1.obsm["X_umap"], n2.obsm["X_umap"])


def test_run_normalize_label_key_and_small_data(caplog):
    # 40 cells, a 5-cell batch, more HVGs and PCs asked for than there are genes/cells
    a = make_counts(n_cells=40, n_genes=80)
    a.obs["batch"] = ["tiny"] * 5 + ["big"] * 35
    n = run_normalize(
        a, {"n_top_genes": 2000, "n_pcs": 50, "n_neighbors": 60}, "batch", "cell_type", DS
    )
    assert n.uns["scinterp"]["label_key"] == "cell_type"
    assert "label" not in n.obs.columns
    assert n.var["highly_variable"].sum() == a.n_vars
    assert n.obsm["X_pca"].shape[1] == 39  # capped by the number of cells
    assert "batch 'tiny'" in caplog.text


def test_run_normalize_missing_label_key():
    with pytest.raises(ScinterpInputError) as e:
        run_normalize(make_counts(n_cells=30), {}, None, "celltype", DS, path="qc/filtered.h5ad")
    msg = str(e.value)
    assert "dataset 'toy'" in msg and "qc/filtered.h5ad" in msg
    assert "'cell_type'" in msg and "Fix:" in msg


def test_plot_umap(tmp_path):
    n = run_normalize(make_counts(n_cells=60), {"n_top_genes": 50, "n_pcs": 5}, "batch", None, DS)
    out = tmp_path / "umap.png"
    plot_umap(n, out)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_umap_on_a_sample_keeps_every_cell_and_the_types_apart(tmp_path, monkeypatch):
    """Above umap_max_cells UMAP is fitted on a Leiden-stratified sample and the other
    cells are placed by their sampled neighbours: every cell gets finite coordinates, the
    sampled ones keep theirs, the placed ones land among their own type, and the figure
    says what it shows (and draws a sample when the cells are many)."""
    from sklearn.metrics import silhouette_score

    a = make_counts(n_cells=600, seed=3)
    p = {"n_top_genes": 50, "n_pcs": 10, "leiden_resolution": 0.3, "umap_max_cells": 150}
    n = run_normalize(a, p, "batch", None, DS)
    xy = n.obsm["X_umap"]
    info = n.uns["umap_sample"]
    assert xy.shape == (600, 2) and np.isfinite(xy).all()
    assert info["n_cells"] <= 150 and info["n_cells"] + info["n_placed"] == 600
    types = n.obs["cell_type"].astype(str).to_numpy()
    assert silhouette_score(xy, types) > 0.5
    # a placed cell's nearest sampled cell in the embedding is mostly of its own type
    centres = {t: xy[types == t].mean(0) for t in np.unique(types)}
    nearest = [min(centres, key=lambda t: np.linalg.norm(xy[i] - centres[t])) for i in range(600)]
    assert np.mean(np.asarray(nearest) == types) > 0.9
    # without the cap the embedding is fitted on every cell (and recorded as such)
    full = run_normalize(
        make_counts(n_cells=600, seed=3), {**p, "umap_max_cells": None}, "batch", None, DS
    )
    assert "umap_sample" not in full.uns
    from scinterp.preprocess.normalize import _plots

    monkeypatch.setattr(_plots, "PLOT_MAX_CELLS", 200)
    fig_path = tmp_path / "umap.png"
    plot_umap(n, fig_path)
    assert fig_path.read_bytes()[:4] == b"\x89PNG"


def test_normalize_script(tmp_path, monkeypatch):
    a = make_counts(n_cells=80)
    qc = tmp_path / "filtered.h5ad"
    a.write_h5ad(qc)
    smk = SimpleNamespace(
        input=SimpleNamespace(h5ad=str(qc)),
        output=SimpleNamespace(
            h5ad=str(tmp_path / "normalized.h5ad"), umap=str(tmp_path / "normalize/umap.png")
        ),
        params=SimpleNamespace(
            dataset=DS,
            label_key=None,
            batch_key="batch",
            condition_key=None,
            normalize={"n_top_genes": 50},
        ),
        log=[str(tmp_path / "normalize.log")],
        threads=1,
    )
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # the script redirects it to the log
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # and logging too
    runpy.run_path(str(REPO / "scripts/normalize.py"), init_globals={"snakemake": smk})
    sys.stderr.close()
    n = ad.read_h5ad(tmp_path / "normalized.h5ad")
    assert "counts" in n.layers and n.var["highly_variable"].sum() == 50
    assert n.uns["scinterp"]["label_key"] == "label" and "label" in n.obs
    # a batch: the embedding ran on the integrated PCA (the default), the PCA itself is kept
    assert n.uns["scinterp"]["integration"]["method"] == "scaled_harmony"
    assert n.obsm["X_integrated"].shape == n.obsm["X_pca"].shape
    assert not np.allclose(n.obsm["X_integrated"], n.obsm["X_pca"])
    assert (tmp_path / "normalize/umap.png").exists()
    assert "HVGs" in (tmp_path / "normalize.log").read_text()


@pytest.fixture(scope="module")
def celltypist_counts(tmp_path_factory):
    """celltypist's real 10x sample (559 cells x 32,786 genes), as an h5ad file."""
    samples = pytest.importorskip("celltypist.samples")
    path = samples.get_sample_csv()
    cells, rows = [], []
    with open(path) as fh:  # plain parsing: 3x faster than pandas on 32k columns
        genes = fh.readline().rstrip("\n").split(",")[1:]
        for line in fh:
            cell, rest = line.rstrip("\n").split(",", 1)
            cells.append(cell)
            rows.append(sparse.csr_matrix(np.array(rest.split(","), dtype=np.float64)))
    a = ad.AnnData(
        sparse.vstack(rows).tocsr(),
        obs=pd.DataFrame(index=cells),
        var=pd.DataFrame(index=genes),
    )
    out = tmp_path_factory.mktemp("celltypist") / "sample.h5ad"
    a.write_h5ad(out)
    return out


@pytest.mark.slow
def test_qc_and_normalize_on_real_counts(celltypist_counts):
    from scinterp.io import read_counts
    from scinterp.preprocess.qc import run_qc

    # the file's counts carry float noise (0.999999999999999): read as integers
    a = read_counts(celltypist_counts, dataset="celltypist")
    assert a.shape == (559, 32786)
    assert np.all(a.X.data == np.rint(a.X.data))
    f, m, s = run_qc(a, {}, None, "celltypist")  # schema defaults, doublets on
    assert 0.8 <= s["n_cells_kept"] / s["n_cells_in"] < 1.0
    assert m["pct_mito"].median() > 0.5  # human MT- genes found
    assert 5_000 < f.n_vars < a.n_vars
    n = run_normalize(f, {}, None, None, "celltypist")
    assert n.var["highly_variable"].sum() == 2000
    assert n.obs["label"].nunique() >= 4  # PBMC-like sample: several populations
    assert np.isfinite(n.obsm["X_umap"]).all()


def test_lean_paths_match_scanpy(monkeypatch):
    """The chunked paths used for atlas-sized matrices give scanpy's HVGs and values."""
    import anndata as ad
    import scanpy as sc
    import scipy.sparse as sp

    from scinterp.preprocess.normalize import _lean

    rng = np.random.default_rng(0)
    n_cells, n_genes = 600, 300
    rate = rng.gamma(0.5, 2.0, n_genes) * rng.uniform(0.5, 1.5, (n_cells, 1))
    rate[: n_cells // 2, :40] *= 6.0  # some genes vary between two groups
    counts = sp.csr_matrix(rng.poisson(rate).astype(np.float32))
    obs = pd.DataFrame(
        {"batch": np.where(np.arange(n_cells) % 2, "b1", "b2")},
        index=[f"c{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"g{i}" for i in range(n_genes)])
    ours = ad.AnnData(X=counts.copy(), obs=obs, var=var, layers={"counts": counts.copy()})
    ref = ours.copy()
    monkeypatch.setattr(_lean, "_CHUNK_NNZ", 997)  # many small chunks
    _lean.hvgs_seurat_v3_csr(ours, 50, "batch")
    sc.pp.highly_variable_genes(
        ref, n_top_genes=50, flavor="seurat_v3", layer="counts", batch_key="batch"
    )
    assert (ours.var["highly_variable"] == ref.var["highly_variable"]).all()
    np.testing.assert_allclose(ours.var["variances_norm"], ref.var["variances_norm"], rtol=1e-5)

    X = counts.copy()
    _lean.normalize_log1p_inplace(X, 1e4)
    expected = ad.AnnData(X=counts.copy())
    sc.pp.normalize_total(expected, target_sum=1e4)
    sc.pp.log1p(expected)
    np.testing.assert_allclose(X.toarray(), expected.X.toarray(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("label_key", "lean"), [(None, False), ("cell_type", False), (None, True)])
def test_normalize_to_file_embeds_after_writing_and_equals_run_normalize(
    tmp_path, monkeypatch, label_key, lean
):
    """The rule's path (matrices written first, the graph, UMAP and Leiden on the PCA
    alone, then added to the file) gives the file run_normalize gives in memory; on an
    atlas-sized matrix (``lean``) the counts are written before the normalization, which
    then reuses their arrays (never both in memory), and the file is the same."""
    from scinterp.preprocess.normalize import _lean, _run, normalize_to_file

    if lean:
        monkeypatch.setattr(_lean, "LEAN_MIN_NNZ", 0)
        monkeypatch.setattr(_lean, "_CHUNK_NNZ", 997)
        sinks = []
        real = _run.run_normalize

        def spy(*a, **k):  # the counts reach the sink and leave memory
            sink = k["counts_sink"]
            k["counts_sink"] = lambda ad_: (sinks.append(ad_.layers["counts"].nnz), sink(ad_))
            out = real(*a, **k)
            assert "counts" not in out.layers
            return out

        monkeypatch.setattr(_run, "run_normalize", spy)
    p = {"n_top_genes": 50, "n_pcs": 10, "leiden_resolution": 0.3}
    make_counts().write_h5ad(tmp_path / "filtered.h5ad")
    small = normalize_to_file(
        tmp_path / "filtered.h5ad", tmp_path / "normalized.h5ad", p, "batch", label_key, DS
    )
    assert small.X is None and "X_umap" in small.obsm
    got = ad.read_h5ad(tmp_path / "normalized.h5ad")
    want = run_normalize(make_counts(), p, "batch", label_key, DS)
    assert {f.name for f in tmp_path.iterdir()} == {"filtered.h5ad", "normalized.h5ad"}
    assert (got.X != want.X).nnz == 0 and (got.layers["counts"] != want.layers["counts"]).nnz == 0
    np.testing.assert_allclose(got.obsm["X_pca"], want.obsm["X_pca"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.obsm["X_umap"], want.obsm["X_umap"], rtol=1e-4, atol=1e-4)
    assert (got.obs["leiden"] == want.obs["leiden"]).all()
    assert got.uns["scinterp"] == want.uns["scinterp"]
    used = got.uns["scinterp"]["label_key"]
    assert used == (label_key or "label") and list(got.obs[used]) == list(want.obs[used])
    assert (got.obsp["connectivities"] != want.obsp["connectivities"]).nnz == 0
    assert list(got.var_names) == list(want.var_names)
    assert got.var.equals(want.var)
    pd.testing.assert_frame_equal(got.obs.astype(str), want.obs.astype(str))
    if lean:
        assert sinks == [want.layers["counts"].nnz]
