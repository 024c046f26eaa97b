"""Batch integration (scinterp.preprocess.integrate): Harmony removes a planted batch effect and keeps
the cell types, the default (scaled_harmony) also removes a gene-wise factor that leaves
Harmony's clusters batch-pure and keeps a type of one batch apart, the scIB metrics rank embeddings, the confounding warning, and the
integration outputs are planned only for datasets with a batch."""

from __future__ import annotations

import logging
import subprocess
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import sparse
from sklearn.metrics import adjusted_rand_score

from scinterp.errors import ScinterpInputError
from scinterp.preprocess.integrate import (
    INTEGRATED_KEY,
    VAE_LOADINGS_KEY,
    VAE_UNITS,
    aggregate,
    batch_centred_pca,
    confounding_warnings,
    embedding_metrics,
    integrate,
    integration_metrics_to_file,
    vae_latent,
)
from scinterp.preprocess.normalize import normalize_to_file, run_normalize

DS = "toy"
P = {"n_top_genes": 100, "n_pcs": 10, "leiden_resolution": 0.3}


def batched_counts(
    n_cells=400,
    n_genes=200,
    n_types=3,
    seed=0,
    only_in_batch0=None,
    batch_sd=0.5,
    marker_fc=8.0,
):
    """Poisson counts of cell types (20 markers each, ``marker_fc``-fold) in two batches
    with a strong planted batch effect: gene-wise log-normal factors (sd ``batch_sd``)
    and a 2x depth shift. ``only_in_batch0``: a type index whose cells all sit in b0."""
    rng = np.random.default_rng(seed)
    profiles = np.tile(rng.gamma(0.6, 1.0, n_genes), (n_types, 1))
    for t in range(n_types):
        profiles[t, 20 * t + np.arange(20)] *= marker_fc
    batch = np.arange(n_cells) % 2
    ctype = rng.integers(0, n_types, n_cells)
    if only_in_batch0 is not None:
        batch[ctype == only_in_batch0] = 0
    factor = rng.lognormal(0, batch_sd, (2, n_genes))
    mu = profiles[ctype] * factor[batch]
    mu /= mu.sum(1, keepdims=True)
    lib = rng.lognormal(np.log(2000), 0.3, n_cells) * np.where(batch == 1, 2.0, 1.0)
    X = rng.poisson(mu * lib[:, None]).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": [f"type{t}" for t in ctype], "batch": [f"b{b}" for b in batch]},
        index=[f"cell{i}" for i in range(n_cells)],
    )
    return ad.AnnData(
        sparse.csr_matrix(X), obs=obs, var=pd.DataFrame(index=[f"G{i}" for i in range(n_genes)])
    )


def test_harmony_removes_a_planted_batch_effect_and_keeps_the_types():
    none = run_normalize(batched_counts(), {**P, "integration": "none"}, "batch", "cell_type", DS)
    harm = run_normalize(
        batched_counts(), {**P, "integration": "harmony"}, "batch", "cell_type", DS
    )
    batch_none = adjusted_rand_score(none.obs["batch"], none.obs["leiden"])
    batch_harm = adjusted_rand_score(harm.obs["batch"], harm.obs["leiden"])
    type_harm = adjusted_rand_score(harm.obs["cell_type"], harm.obs["leiden"])
    # unintegrated, Leiden splits every type by batch; after Harmony the batches mix
    assert batch_none > 0.3
    assert batch_harm < 0.05
    assert type_harm > 0.9
    assert harm.uns["scinterp"]["integration"]["method"] == "harmony"
    # counts and normalized values are never corrected
    assert (harm.X != none.X).nnz == 0
    np.testing.assert_allclose(harm.obsm["X_pca"], none.obsm["X_pca"], rtol=1e-5, atol=1e-5)


# A gene-wise factor (sd 0.8 on every gene) that outweighs 4-fold markers: Harmony's
# clusters stay batch-pure and it corrects nothing.
STRONG = {"n_cells": 600, "n_genes": 300, "batch_sd": 0.8, "marker_fc": 4.0}


def test_default_removes_a_gene_wise_batch_factor_that_harmony_leaves():
    def run(method, **kw):
        a = batched_counts(**STRONG, **kw)
        return run_normalize(a, {**P, "integration": method}, "batch", "cell_type", DS)

    harm, scaled = run("harmony"), run("scaled_harmony")
    assert scaled.uns["scinterp"]["integration"]["method"] == "scaled_harmony"
    # Harmony leaves Leiden splitting the types by batch
    assert adjusted_rand_score(harm.obs["batch"], harm.obs["leiden"]) > 0.3
    assert adjusted_rand_score(harm.obs["cell_type"], harm.obs["leiden"]) < 0.7
    # the default mixes the batches and recovers the types
    assert abs(adjusted_rand_score(scaled.obs["batch"], scaled.obs["leiden"])) < 0.05
    assert adjusted_rand_score(scaled.obs["cell_type"], scaled.obs["leiden"]) > 0.9
    assert (scaled.X != harm.X).nnz == 0  # normalized values are never corrected


def test_default_keeps_a_type_of_one_batch_apart():
    a = batched_counts(**STRONG, only_in_batch0=2)
    a = run_normalize(a, {**P, "integration": "scaled_harmony"}, "batch", "cell_type", DS)
    isolated = a.obs["cell_type"].to_numpy() == "type2"
    leiden = a.obs["leiden"].astype(str).to_numpy()
    # the isolated type's cluster holds (nearly) all its cells and (nearly) nothing else
    top = pd.Series(leiden[isolated]).value_counts().index[0]
    assert (leiden[isolated] == top).mean() > 0.95
    assert isolated[leiden == top].mean() > 0.95
    # the shared types are recovered with their batches mixed
    shared = ~isolated
    assert abs(adjusted_rand_score(a.obs["batch"].to_numpy()[shared], leiden[shared])) < 0.05
    assert adjusted_rand_score(a.obs["cell_type"], leiden) > 0.9


def test_vae_mixes_the_batches_keeps_the_types_and_gives_its_programs():
    vae = run_normalize(batched_counts(), {**P, "integration": "vae"}, "batch", "cell_type", DS)
    assert vae.uns["scinterp"]["integration"]["method"] == "vae"
    leiden = vae.obs["leiden"].to_numpy()
    assert abs(adjusted_rand_score(vae.obs["batch"], leiden)) < 0.05
    assert adjusted_rand_score(vae.obs["cell_type"], leiden) > 0.9
    Z = vae.obsm["X_integrated"]
    assert Z.shape == (vae.n_obs, VAE_UNITS)
    # the programs: one loading per gene and unit, zero outside the HVGs; a type's 20
    # markers load together on some unit (units are linear gene programs)
    L = vae.varm[VAE_LOADINGS_KEY]
    assert L.shape == (vae.n_vars, VAE_UNITS)
    assert not L[~vae.var["highly_variable"].to_numpy()].any()
    markers = np.zeros(vae.n_vars, dtype=bool)
    markers[:20] = True
    markers &= vae.var["highly_variable"].to_numpy()
    best = np.abs(L[markers]).mean(0) / (np.abs(L[~markers]).mean(0) + 1e-9)
    # 2.92 with the batch-centred encoder input (f03146d; above 3 before it), ~1 at random
    assert best.max() > 2.5
    # normalized values are never corrected; deterministic for a seed on CPU
    none = run_normalize(batched_counts(), {**P, "integration": "none"}, "batch", "cell_type", DS)
    assert (vae.X != none.X).nnz == 0
    short = [vae_latent(none, none.obs["batch"], seed=3, max_epochs=2)[0] for _ in range(2)]
    np.testing.assert_array_equal(short[0], short[1])


def test_vae_encoder_reads_the_batch_centred_and_scaled_expression():
    # the vae path's minibatches: each batch's gene means removed from the scaled values
    # the default's PCA factorizes, without forming the dense centred matrix
    from scinterp.data.cells import CellDataset
    from scinterp.preprocess.integrate import _batch_location_scale, _BatchCentred

    rng = np.random.default_rng(4)
    codes = np.repeat([0, 1, 2], [30, 50, 20])
    dense = rng.poisson(2.0, (100, 12)).astype(np.float32) * rng.lognormal(0, 0.4, (3, 12))[
        codes
    ].astype(np.float32)
    X, means = _batch_location_scale(sparse.csr_matrix(dense), codes, 3)
    ds = _BatchCentred(CellDataset(X, batch=codes), means)
    x = ds.__getitems__(list(range(100)))["x"].numpy()
    np.testing.assert_allclose(x, X.toarray() - means[codes], atol=1e-5)
    sds = []
    for b in range(3):
        # centred per batch, every batch's genes at the same (pooled) sd
        np.testing.assert_allclose(x[codes == b].mean(0), 0.0, atol=1e-4)
        sds.append(x[codes == b].std(0))
    np.testing.assert_allclose(sds[0], sds[1], rtol=1e-3)
    np.testing.assert_allclose(sds[0], sds[2], rtol=1e-3)
    assert not np.allclose(dense[codes == 0].std(0), dense[codes == 1].std(0), rtol=0.1)
    np.testing.assert_allclose(ds[7]["x"].numpy(), x[7], atol=1e-6)
    assert len(ds) == 100


def test_batch_centred_pca_is_the_pca_of_the_centred_and_scaled_matrix():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    batches = np.repeat(["a", "b", "c"], [50, 80, 70])
    dense = rng.poisson(1.0, (200, 40)).astype(np.float32) * rng.lognormal(0, 0.7, (3, 40))[
        pd.factorize(batches)[0]
    ].astype(np.float32)
    for scale in (False, True):
        ref = dense.astype(np.float64).copy()
        sds = []
        for b in np.unique(batches):
            rows = batches == b
            ref[rows] -= ref[rows].mean(0)
            sds.append(ref[rows].std(0))
        if scale:
            n_b = np.array([(batches == b).sum() for b in np.unique(batches)])
            pooled = np.sqrt((np.array(sds) ** 2 * n_b[:, None]).sum(0) / len(batches))
            for b, sd in zip(np.unique(batches), sds, strict=True):
                ref[batches == b] *= np.clip(pooled / sd, 0.1, 10.0)
        expected = PCA(5, svd_solver="full").fit_transform(ref)
        X = sparse.csr_matrix(dense)
        got = batch_centred_pca(X, batches, 5, seed=0, scale=scale, solver="arpack")
        # the same scores up to each component's sign
        signs = np.sign((got * expected).sum(0))
        np.testing.assert_allclose(got, expected * signs, rtol=1e-3, atol=1e-3)
        # the default (randomized, for atlases) finds the same subspace: the variance it
        # captures is the PCA's within 1% (this noise has a flat spectrum), the leading
        # components match
        fast = batch_centred_pca(X, batches, 5, seed=0, scale=scale)
        assert (fast**2).sum() == pytest.approx((expected**2).sum(), rel=0.01)
        signs = np.sign((fast * expected).sum(0))
        np.testing.assert_allclose(fast[:, :2], (expected * signs)[:, :2], atol=0.02)
        # each batch's centre is the origin: a shift of every gene is gone
        for b in np.unique(batches):
            np.testing.assert_allclose(got[batches == b].mean(0), 0.0, atol=1e-3)
    # deterministic for a seed
    again = batch_centred_pca(sparse.csr_matrix(dense), batches, 5, seed=0, scale=True)
    np.testing.assert_array_equal(fast, again)


@pytest.mark.parametrize("overwrite", [False, True])
def test_batch_scaling_in_row_chunks_is_the_dense_scaling(monkeypatch, overwrite):
    # the atlas path: the scaled values computed a few rows at a time (chunks of 97
    # values here), in a new array or in the input's own (which then holds the result)
    from scinterp.preprocess import _rows
    from scinterp.preprocess.integrate import _batch_location_scale

    monkeypatch.setattr(_rows, "CHUNK_NNZ", 97)
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 3, 150)
    dense = rng.poisson(0.8, (150, 30)).astype(np.float32) * rng.lognormal(0, 0.6, (3, 30))[
        codes
    ].astype(np.float32)
    X = sparse.csr_matrix(dense)
    before = X.data.copy()
    got, means = _batch_location_scale(X, codes, 3, overwrite=overwrite)
    dense_scaled, dense_means = _batch_location_scale(dense, codes, 3)
    np.testing.assert_allclose(got.toarray(), dense_scaled, rtol=1e-6)
    np.testing.assert_allclose(means, dense_means, rtol=1e-5)
    assert np.shares_memory(got.indices, X.indices)  # the index arrays are not copied
    assert np.shares_memory(got.data, X.data) == overwrite
    if not overwrite:
        np.testing.assert_array_equal(X.data, before)  # the input is left as it was


def test_none_leaves_the_pca_and_no_batch_leaves_no_integration():
    a = run_normalize(batched_counts(), {**P, "integration": "none"}, "batch", "cell_type", DS)
    assert a.uns["scinterp"]["integration"]["method"] == "none"
    np.testing.assert_array_equal(a.obsm[INTEGRATED_KEY], a.obsm["X_pca"])
    b = run_normalize(batched_counts(), P, None, "cell_type", DS)
    assert INTEGRATED_KEY not in b.obsm and "integration" not in b.uns["scinterp"]


@pytest.mark.parametrize("method", ["harmony", "scaled_harmony"])
@pytest.mark.parametrize("n_cells", [4, 8, 20])
def test_a_tiny_dataset_with_two_batches_is_integrated(method, n_cells):
    # harmonypy's default clusters (cells / 30) is 0 below 15 cells and it raised
    # "nclust must be at least 1": an 8-cell dataset with a batch key crashed normalize
    rng = np.random.default_rng(0)
    a = ad.AnnData(sparse.csr_matrix(rng.poisson(2.0, (n_cells, 40)).astype(np.float32)))
    a.obs["batch"] = pd.Categorical(["a", "b"] * (n_cells // 2))
    a.var["highly_variable"] = True
    a.obsm["X_pca"] = rng.normal(size=(n_cells, 3)).astype(np.float32)
    integrate(a, "batch", method, dataset=DS)
    Z = a.obsm[INTEGRATED_KEY]
    assert Z.shape == (n_cells, 3) and np.isfinite(Z).all()


def test_unknown_method_is_an_input_error():
    a = ad.AnnData(obs=pd.DataFrame({"batch": ["a", "b"] * 5}, index=[str(i) for i in range(10)]))
    a.obsm["X_pca"] = np.zeros((10, 3), dtype=np.float32)
    with pytest.raises(ScinterpInputError, match="harmony, vae, none"):
        integrate(a, "batch", "scanorama", dataset=DS)


def _blobs(mixed: bool, seed=0):
    """Three well separated types in two batches: batches overlapping (mixed) or each
    type split into one blob per batch (unmixed)."""
    rng = np.random.default_rng(seed)
    n = 300
    labels = np.repeat(["t0", "t1", "t2"], n // 3)
    batches = np.tile(["b0", "b1"], n // 2)
    centres = {"t0": 0.0, "t1": 10.0, "t2": 20.0}
    X = rng.normal(0, 1, (n, 5))
    X[:, 0] += [centres[x] for x in labels]
    if not mixed:
        X[:, 1] += np.where(batches == "b1", 5.0, 0.0)
    return X.astype(np.float32), batches, labels


def test_metrics_are_in_range_and_rank_a_mixed_embedding_above_an_unmixed_one():
    X_un, batches, labels = _blobs(mixed=False)
    X_mix, _, _ = _blobs(mixed=True)
    clusters = labels  # a perfect clustering: ARI 1
    un = embedding_metrics(X_un, batches, labels, clusters=clusters)
    mix = embedding_metrics(X_mix, batches, labels, X_pre=X_un, clusters=clusters)
    for m in (un, mix):
        m.update(aggregate(m))
        for k, v in m.items():
            lo = -0.5 if "ari" in k else 0.0
            assert lo <= v <= 1.0 + 1e-6, (k, v)
    assert mix["ilisi"] > un["ilisi"] + 0.3
    assert mix["silhouette_batch"] > un["silhouette_batch"]
    assert mix["pcr_batch"] > 0.5 and un["pcr_batch"] == 0.0
    assert mix["batch_correction"] > un["batch_correction"]
    assert mix["overall"] > un["overall"]
    assert mix["overall"] == pytest.approx(
        0.4 * mix["batch_correction"] + 0.6 * mix["bio_conservation"]
    )
    # without labels: only the label-free batch metrics
    assert set(embedding_metrics(X_mix, batches)) == {"ilisi", "pcr_batch"}


def test_confounded_label_warns_in_the_log_and_in_the_file(tmp_path, caplog):
    a = batched_counts(only_in_batch0=2)
    w = confounding_warnings(a.obs, "batch", {"label": "cell_type"})
    assert len(w) == 1 and "label 'type2'" in w[0] and "batch 'b0'" in w[0]
    assert confounding_warnings(batched_counts().obs, "batch", {"label": "cell_type"}) == []
    a.write_h5ad(tmp_path / "filtered.h5ad")
    with caplog.at_level(logging.WARNING, logger="scinterp.preprocess.integrate"):
        normalize_to_file(
            tmp_path / "filtered.h5ad", tmp_path / "normalized.h5ad", P, "batch", "cell_type", DS
        )
    assert "batch and label are confounded" in caplog.text
    out = tmp_path / "normalize"
    table = integration_metrics_to_file(
        tmp_path / "normalized.h5ad",
        out / "integration.tsv",
        out / "integration.png",
        out / "integration_warnings.txt",
        P,
        "batch",
        "cell_type",
    )
    lines = (out / "integration_warnings.txt").read_text().splitlines()
    assert len(lines) == 1 and "type2" in lines[0]
    read = pd.read_csv(out / "integration.tsv", sep="\t")
    assert list(read.columns) == ["method", "metric", "value"]
    assert set(read["method"]) == {"unintegrated", "scaled_harmony"}
    wide = table.pivot(index="metric", columns="method", values="value")
    assert wide.loc["ilisi", "scaled_harmony"] > wide.loc["ilisi", "unintegrated"]
    # the type in one batch only is not merged away (no over-correction)
    assert (
        wide.loc["isolated_labels", "scaled_harmony"]
        >= wide.loc["isolated_labels", "unintegrated"] - 0.05
    )
    assert (out / "integration.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # a Snakemake dry run: the fast suite runs none (tests/conftest.py)
def test_integration_outputs_are_planned_only_with_a_batch(repo, tmp_path):
    path = tmp_path / "a.h5ad"
    batched_counts(n_cells=60).write_h5ad(path)
    cfg = {
        "datasets": {
            "with": {"rna": str(path), "label_key": "cell_type", "batch_key": "batch"},
            "without": {"rna": str(path), "label_key": "cell_type"},
        }
    }
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(tmp_path)]
        + ["-n", "--configfile", str(tmp_path / "my.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "results/with/normalize/integration.tsv" in out
    assert "results/without/normalize/integration" not in out
    assert "results/without/normalized.h5ad" in out


def test_findings_page_shows_the_integration_and_its_warning(tmp_path):
    from scinterp.report.summary import build_summary, to_markdown

    qc = tmp_path / "metrics.tsv"
    pd.DataFrame({"cell": ["a", "b"], "total_counts": [10, 20], "keep": [True, True]}).to_csv(
        qc, sep="\t", index=False
    )
    tsv = tmp_path / "integration.tsv"
    pd.DataFrame(
        {
            "method": ["unintegrated", "unintegrated", "harmony", "harmony"],
            "metric": ["overall", "leiden_batch_ari", "overall", "leiden_batch_ari"],
            "value": [0.61, 0.19, 0.9, 0.0],
        }
    ).to_csv(tsv, sep="\t", index=False)
    warn = tmp_path / "integration_warnings.txt"
    warn.write_text("label 'type2' (obs['cell_type'], 9 cells) occurs only in batch 'b0'\n")
    paths = {"qc_metrics": qc, "integration": tsv, "integration_warnings": warn}
    md = to_markdown(build_summary(paths), "t")
    assert "## Batch integration" in md
    assert "integrated with harmony" in md and "scIB overall: 0.61 -> 0.9" in md
    assert "**Warning**: label 'type2'" in md
    # no batch, no section
    assert "Batch integration" not in to_markdown(build_summary({"qc_metrics": qc}), "t")


def test_a_method_that_leaves_the_batches_apart_is_flagged():
    from scinterp.preprocess.integrate import unmixed_warning

    def table(after):
        return pd.DataFrame(
            {
                "method": ["unintegrated", "harmony"],
                "metric": ["ilisi", "ilisi"],
                "value": [0.01, after],
            }
        )

    assert "harmony did not mix the batches" in unmixed_warning(table(0.02), "harmony")[0]
    assert unmixed_warning(table(0.8), "harmony") == []
    assert unmixed_warning(table(0.02), "none") == []


def test_metrics_without_labels_are_the_label_free_batch_metrics(tmp_path):
    batched_counts(n_cells=200).write_h5ad(tmp_path / "filtered.h5ad")
    normalize_to_file(tmp_path / "filtered.h5ad", tmp_path / "n.h5ad", P, "batch", None, DS)
    out = tmp_path / "normalize"
    table = integration_metrics_to_file(
        tmp_path / "n.h5ad",
        out / "integration.tsv",
        out / "integration.png",
        out / "integration_warnings.txt",
        P,
        "batch",
        None,
    )
    assert set(table["metric"]) == {"ilisi", "pcr_batch", "leiden_batch_ari", "batch_correction"}
    wide = table.pivot(index="metric", columns="method", values="value")
    assert (
        wide.loc["leiden_batch_ari", "scaled_harmony"]
        < wide.loc["leiden_batch_ari", "unintegrated"]
    )
    assert (out / "integration_warnings.txt").read_text() == ""
