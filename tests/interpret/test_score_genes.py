"""score_genes, program activities and the export's identity scores read in row chunks
(issue 18): the same numbers as scanpy on the whole matrix, whatever the chunk size."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

SETS = {
    "low": [f"G{i}" for i in range(25, 45)],  # straddles the all-zero genes' bin
    "mid": [f"G{i}" for i in range(100, 110)] + ["NOT_IN_DATA"],
    "spread": [f"G{i}" for i in range(0, 400, 37)],
    "three": ["G5", "G6", "G7"],
}


def _adata(kind: str) -> ad.AnnData:
    """Log-normalized cells: genes of many expression levels, 30 all-zero genes (tied
    means, the ranking's hard case), a prime number of cells."""
    rng = np.random.default_rng(0)
    n, g = 523, 400
    X = rng.poisson(rng.gamma(0.3, 2.0, g), (n, g)).astype(np.float32)
    X[:, :30] = 0
    X = np.log1p(X / X.sum(1, keepdims=True).clip(1) * 1e4).astype(np.float32)
    a = ad.AnnData(
        sparse.csr_matrix(X) if kind == "csr" else X,
        obs=pd.DataFrame(
            {"cell_type": pd.Categorical(rng.choice(["A", "B"], n))},
            index=[f"c{i}" for i in range(n)],
        ),
        var=pd.DataFrame(index=[f"G{i}" for i in range(g)]),
    )
    a.obsm["X_umap"] = rng.normal(size=(n, 2)).astype(np.float32)
    return a


def _scanpy(adata, sets, ctrl_size, seed) -> pd.DataFrame:
    import scanpy as sc

    out = {}
    for name, genes in sets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.tl.score_genes(
                adata, genes, ctrl_size=ctrl_size, random_state=seed, score_name="_s", use_raw=False
            )
        out[name] = adata.obs["_s"].to_numpy(dtype=np.float64)
    return pd.DataFrame(out, index=adata.obs_names)


@pytest.mark.parametrize("kind", ["csr", "dense"])
@pytest.mark.parametrize(("ctrl_size", "seed"), [(50, 0), (7, 3)])
def test_chunked_score_genes_equals_scanpy(kind, ctrl_size, seed, tmp_path):
    from scinterp.interpret.gene_scores import score_gene_sets

    adata = _adata(kind)
    path = tmp_path / "n.h5ad"
    adata.write_h5ad(path)
    want = _scanpy(adata.copy(), SETS, ctrl_size, seed)
    one_chunk = score_gene_sets(path, SETS, ctrl_size=ctrl_size, seed=seed)
    pd.testing.assert_frame_equal(one_chunk, want, check_exact=False, rtol=1e-12, atol=1e-12)
    # same control genes and sums whatever the chunking, from the file or from memory
    # (one-row chunks from memory: from the file they cost 523 reads a pass for nothing more)
    for data, chunk_rows in ((path, 10), (adata, 1), (adata, 64), (adata, None)):
        got = score_gene_sets(data, SETS, ctrl_size=ctrl_size, seed=seed, chunk_rows=chunk_rows)
        np.testing.assert_allclose(got.to_numpy(), one_chunk.to_numpy(), rtol=1e-12, atol=1e-12)
        assert list(got.columns) == list(SETS) and got.index.equals(adata.obs_names)


def test_gene_means_are_scanpys_for_any_chunking(tmp_path):
    from scinterp.interpret.gene_scores import gene_means

    adata = _adata("csr")
    path = tmp_path / "n.h5ad"
    adata.write_h5ad(path)
    whole = gene_means(path)
    assert whole.index.equals(adata.var_names)
    np.testing.assert_allclose(whole, np.asarray(adata.X.mean(axis=0)).ravel(), rtol=1e-5)
    assert (whole.iloc[:30] == 0).all()
    for chunk_rows in (1, 7, 1000):
        assert np.array_equal(gene_means(path, chunk_rows=chunk_rows), whole)


@pytest.mark.parametrize("kind", ["csr", "dense"])
def test_row_chunks_cover_the_cells_with_the_genes_asked_for(kind, tmp_path):
    from scinterp.io import iter_row_chunks

    adata = _adata(kind)
    path = tmp_path / "n.h5ad"
    adata.write_h5ad(path)
    genes = ["G9", "G2", "G300"]
    dense = np.asarray(adata[:, genes].X.toarray() if kind == "csr" else adata[:, genes].X)
    for data in (path, adata):
        chunks = list(iter_row_chunks(data, genes, chunk_rows=100))
        assert [r.start for r, _ in chunks] == [0, 100, 200, 300, 400, 500]
        assert sparse.issparse(chunks[0][1]) == (kind == "csr")
        got = np.vstack([b.toarray() if sparse.issparse(b) else b for _, b in chunks])
        assert np.array_equal(got, dense)
    # by stored values, in multiples of a batch size; every gene when none is named
    chunks = list(iter_row_chunks(path, chunk_values=5000, row_multiple=16))
    sizes = {r.stop - r.start for r, _ in chunks[:-1]}
    assert len(sizes) == 1 and sizes.pop() % 16 == 0 and chunks[-1][0].stop == adata.n_obs
    assert chunks[0][1].shape[1] == adata.n_vars
    with pytest.raises(KeyError, match="NOPE"):
        next(iter_row_chunks(path, ["G1", "NOPE"]))


def test_model_activity_by_chunks_is_one_pass(tmp_path):
    import torch

    from scinterp.interpret.gene_scores import feed_chunks
    from scinterp.interpret.programs import ModelActivity, model_activity

    adata = _adata("csr")
    genes = [f"G{i}" for i in range(50, 90)][::-1]  # a model's features, in its own order

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(len(genes), 4)

        def encode(self, x):
            return self.lin(x), torch.tanh(self.lin(x))

    torch.manual_seed(0)
    model = Encoder()
    mu, sd = model_activity(model, adata[:, genes].X, batch_size=32)
    act = ModelActivity(model, genes, adata.n_obs, batch_size=32)
    feed_chunks(adata, [act], chunk_rows=64)  # a multiple of the batch: the same batches
    got_mu, got_sd = act.result()
    assert np.array_equal(got_mu, mu) and np.array_equal(got_sd, sd)


def test_cell_activity_from_the_file_equals_from_memory(tmp_path):
    from scinterp.report.export import cell_activity

    adata = _adata("csr")
    path = tmp_path / "n.h5ad"
    adata.write_h5ad(path)
    genes = pd.DataFrame(
        [(t, g, 1.0, r, "consensus") for t, gs in SETS.items() for r, g in enumerate(gs, 1)],
        columns=["cell_type", "gene", "score", "rank", "method"],
    )
    mem = cell_activity(adata, genes=genes, n_genes=8, seed=2)
    disk = cell_activity(path, genes=genes, n_genes=8, seed=2, chunk_rows=50)
    assert np.array_equal(mem.X, disk.X) and mem.var.equals(disk.var)
    assert mem.obs.equals(disk.obs) and np.array_equal(mem.obsm["X_umap"], disk.obsm["X_umap"])
    # the identity scores are scanpy's score_genes of each type's top genes
    top = {t: gs[:8] for t, gs in SETS.items()}
    want = _scanpy(adata.copy(), dict(sorted(top.items())), 50, 2)
    np.testing.assert_allclose(disk.X, want.to_numpy(), rtol=1e-6, atol=1e-6)


def test_program_umap_draws_a_rasterized_sample_of_an_atlas():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.collections import PathCollection

    from scinterp.interpret.programs import plot_program_umap

    rng = np.random.default_rng(0)
    cells = ad.AnnData(
        rng.normal(size=(300, 2)).astype(np.float32), var=pd.DataFrame(index=["P1", "P2"])
    )
    cells.obsm["X_umap"] = rng.normal(size=(300, 2))
    cells.uns["method"] = "program_vae"
    fig = plot_program_umap(cells, ["P1", "P2"], max_cells=120)
    points = [c for ax in fig.axes for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points) == 2 and all(p.get_rasterized() for p in points)
    assert all(len(p.get_offsets()) == 120 for p in points)
    assert "120 of 300 cells drawn at random" in fig._suptitle.get_text()
    whole = plot_program_umap(cells, ["P1"])
    assert len(whole.axes[0].collections[0].get_offsets()) == 300
    assert "drawn at random" not in whole._suptitle.get_text()


def test_control_genes_fall_back_to_the_other_genes_when_the_bins_hold_none():
    """scanpy raises when the set's expression bins hold no other gene (a panel of a few
    genes, each alone in its bin); the reference is then every other gene."""
    from scinterp.interpret.gene_scores import _control_genes

    cut = pd.Series(np.arange(6), index=[f"g{i}" for i in range(6)])  # one gene per bin
    control = _control_genes(cut, pd.Index(["g0", "g1"]), ctrl_size=50, seed=0, name="s")
    assert sorted(control) == ["g2", "g3", "g4", "g5"]
    with pytest.raises(RuntimeError, match="every gene of the data"):
        _control_genes(cut, cut.index, ctrl_size=50, seed=0, name="s")
