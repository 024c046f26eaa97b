"""Outputs other tools read: cell_activity.h5ad and the GRN as arboreto adjacencies."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from scinterp.errors import ScinterpInputError
from scinterp.io import write_h5ad_atomic, write_tsv_atomic
from scinterp.report.export import ADJACENCY_COLUMNS, cell_activity, grn_adjacencies

TYPES = ("B cell", "T cell", "NK cell")


@pytest.fixture
def normalized():
    """Log-normalized cells of three types, each with 5 of 60 genes up; obs, embeddings."""
    rng = np.random.default_rng(0)
    n_per, n_genes = 40, 60
    labels = np.repeat(TYPES, n_per)
    X = rng.poisson(1.0, (len(labels), n_genes)).astype(np.float32)
    for i, _t in enumerate(TYPES):
        X[labels == TYPES[i], i * 5 : i * 5 + 5] += rng.poisson(8.0, (n_per, 5))
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(labels),
            "batch": pd.Categorical(np.tile(["b1", "b2"], len(labels) // 2)),
            "leiden": pd.Categorical(rng.integers(0, 4, len(labels)).astype(str)),
        },
        index=[f"cell{i}" for i in range(len(labels))],
    )
    adata = ad.AnnData(
        np.log1p(X), obs=obs, var=pd.DataFrame(index=[f"G{j}" for j in range(n_genes)])
    )
    adata.obsm["X_umap"] = rng.normal(size=(adata.n_obs, 2))
    adata.obsm["X_pca"] = rng.normal(size=(adata.n_obs, 10))
    adata.obsm["spatial_like"] = rng.normal(size=(adata.n_obs, 2))  # not an X_ embedding
    adata.uns["cell_type_colors"] = ["#111111", "#222222", "#333333"]
    return adata


def _genes():
    """Consensus ranks each type's five planted genes first, another method ranks noise."""
    rows = []
    for i, t in enumerate(TYPES):
        for r, g in enumerate([f"G{i * 5 + k}" for k in range(5)] + ["NOT_IN_DATA"], 1):
            rows.append((t, g, 1.0 / r, r, "consensus"))
        rows.append((t, "G59", 1.0, 1, "wilcoxon"))
    return pd.DataFrame(rows, columns=["cell_type", "gene", "score", "rank", "method"])


def _programs(adata):
    """programs/cell_activity.h5ad: cells (in another order) x 2 programs."""
    order = adata.obs_names[::-1]
    X = np.column_stack([np.arange(adata.n_obs)[::-1], -np.arange(adata.n_obs)[::-1]])
    p = ad.AnnData(
        X.astype(np.float32),
        obs=pd.DataFrame(index=order),
        var=pd.DataFrame(index=["IFN_RESPONSE", "denovo_0"]),
    )
    p.uns["method"] = "program_vae"
    return p


def test_cell_activity_opens_with_scores_obs_and_embeddings(normalized, tmp_path):
    out = cell_activity(
        normalized, genes=_genes(), programs=_programs(normalized), n_genes=3, dataset="tiny"
    )
    path = tmp_path / "cell_activity.h5ad"
    write_h5ad_atomic(out, path)
    back = ad.read_h5ad(path)

    assert back.X.dtype == np.float32 and np.isfinite(back.X).all()
    assert list(back.var_names) == [f"identity:{t}" for t in sorted(TYPES)] + [
        "program:IFN_RESPONSE",
        "program:denovo_0",
    ]
    assert list(back.var["kind"]) == ["identity"] * 3 + ["program"] * 2
    assert back.var.loc["program:denovo_0", "method"] == "program_vae"
    # identity scores from the consensus top 3 (the other method's gene and a gene absent
    # from the data left out), and each type scores highest on its own cells
    assert back.var.loc["identity:T cell", "genes"] == "G5,G6,G7"
    ident = back[:, [f"identity:{t}" for t in TYPES]].X
    for i, t in enumerate(TYPES):
        assert ident[back.obs["cell_type"] == t].mean(0).argmax() == i
    assert (back.obs["identity_top"].astype(str) == back.obs["cell_type"].astype(str)).mean() > 0.95
    # program activity follows the cells, not the order of the programs file
    assert np.array_equal(back[:, "program:IFN_RESPONSE"].X.ravel(), np.arange(back.n_obs))
    # obs, X_ embeddings (float32, for CELLxGENE) and label colours kept
    assert {"cell_type", "batch", "leiden"} <= set(back.obs.columns)
    assert set(back.obsm) == {"X_umap", "X_pca"}
    assert back.obsm["X_umap"].dtype == np.float32
    np.testing.assert_allclose(back.obsm["X_umap"], normalized.obsm["X_umap"], rtol=1e-6)
    assert list(back.uns["cell_type_colors"]) == ["#111111", "#222222", "#333333"]
    assert back.uns["scinterp"]["programs_method"] == "program_vae"


def test_cell_activity_is_deterministic_and_needs_every_cell(normalized):
    a = cell_activity(normalized, genes=_genes(), seed=3)
    b = cell_activity(normalized, genes=_genes(), seed=3)
    assert np.array_equal(a.X, b.X)
    short = _programs(normalized)[5:]
    with pytest.raises(ScinterpInputError, match="lacks 5 cells"):
        cell_activity(normalized, programs=short)
    with pytest.raises(ScinterpInputError, match="no 'consensus' ranking"):
        cell_activity(normalized, genes=_genes().query("method != 'consensus'"))


def test_cell_activity_on_a_panel_of_a_few_genes(normalized):
    """krumsiek11 has 11 genes: each type's set is capped at half of them and, its own
    expression bins holding no other gene, scored against the rest (scanpy raises)."""
    panel = normalized[:, [f"G{j}" for j in range(9)]].copy()
    genes = pd.DataFrame(
        [(t, f"G{g}", 1.0 / (r + 1), r + 1, "consensus")
         for i, t in enumerate(TYPES) for r, g in enumerate(range(9))]
    , columns=["cell_type", "gene", "score", "rank", "method"])  # fmt: skip
    out = cell_activity(panel, genes=genes, n_genes=20)
    assert np.isfinite(out.X).all()
    assert [len(out.var.loc[f"identity:{t}", "genes"].split(",")) for t in TYPES] == [4] * 3


def test_adjacencies_are_the_consensus_network_in_arboreto_format(tmp_path):
    edges = pd.DataFrame(
        {
            "tf": ["PAX5", "GATA1", "TCF7", "PAX5", "EBF1", "SPI1"],
            "target": ["CD19", "HBB", "CD3E", "CD79A", "CD79B", "CSF1R"],
            "score": [0.9, 0.95, 0.8, 0.7, 0.99, 0.5],
            "method": ["consensus", "deepsem", "consensus", "consensus", "consensus", "consensus"],
            "cell_type": ["all", "all", "all", "all", "B cell", "all"],
        }
    )
    adj = grn_adjacencies(edges)
    path = tmp_path / "adjacencies.tsv"
    write_tsv_atomic(adj, path)
    back = pd.read_csv(path, sep="\t")
    assert list(back.columns) == ADJACENCY_COLUMNS == ["TF", "target", "importance"]
    assert list(zip(back["TF"], back["target"], strict=True)) == [
        ("PAX5", "CD19"),
        ("TCF7", "CD3E"),
        ("PAX5", "CD79A"),
        ("SPI1", "CSF1R"),
    ]
    assert back["importance"].tolist() == [0.9, 0.8, 0.7, 0.5]
    with pytest.raises(ScinterpInputError, match="no all-cells 'consensus' network"):
        grn_adjacencies(edges[edges["method"] == "deepsem"])


def test_tf_activity_only_when_every_cell_has_atac(normalized):
    motifs = ad.AnnData(
        np.ones((normalized.n_obs, 2), dtype=np.float32) * [[1.0, 2.0]],
        obs=pd.DataFrame(index=normalized.obs_names[::-1]),
        var=pd.DataFrame({"tf": ["SPI1", "nan"]}, index=["modisco_0", "modisco_1"]),
    )
    out = cell_activity(normalized, motifs=motifs)
    assert list(out.var_names) == ["tf_activity:modisco_0", "tf_activity:modisco_1"]
    assert out.var.loc["tf_activity:modisco_0", "tf"] == "SPI1"
    assert np.array_equal(out[:, "tf_activity:modisco_1"].X.ravel(), np.full(out.n_obs, 2.0))
    # scATAC of other cells (not multiome): no per-cell TF activity, the rest is written
    partial = cell_activity(normalized, genes=_genes(), motifs=motifs[10:])
    assert set(partial.var["kind"]) == {"identity"}
