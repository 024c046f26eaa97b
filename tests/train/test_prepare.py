"""prepare(): normalized AnnData + gene sets / TFs -> model and datasets, or a clear error."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from scinterp.errors import ScinterpInputError
from scinterp.models import build_model, load_model, save_model
from scinterp.train.loop import fit
from scinterp.train.prepare import Prepared, prepare


@pytest.fixture
def adata():
    rng = np.random.default_rng(0)
    n, g = 90, 30
    genes = [f"G{i}" for i in range(g)]
    y = np.array(["B", "T", "NK"])[np.arange(n) % 3]
    rate = np.ones((n, g))
    for c, name in enumerate(["B", "T", "NK"]):
        rate[y == name, c * 5 : (c + 1) * 5] = 5.0
    counts = sp.csr_matrix(rng.poisson(rate).astype(np.float32))
    a = ad.AnnData(
        X=sp.csr_matrix(np.log1p(counts.toarray())),
        obs=pd.DataFrame(
            {"cell_type": y, "batch": np.where(np.arange(n) < 45, "b1", "b2")},
            index=[f"c{i}" for i in range(n)],
        ),
        var=pd.DataFrame(index=genes),
    )
    a.layers["counts"] = counts
    a.var["highly_variable"] = np.arange(g) < 20
    return a


SETS = {
    "prog_B": ["G0", "G1", "G2", "G3", "G4", "G25"],
    "prog_T": ["G5", "G6", "G7", "G8", "G9"],
    "tiny": ["G10", "NOT_A_GENE"],
}
KW = {"label_key": "cell_type", "batch_key": "batch", "val_fraction": 0.2, "min_genes_per_set": 3}


@pytest.mark.parametrize(
    "name", ["attention_classifier", "mlp_classifier", "program_vae", "ldvae", "grn_sem"]
)
def test_every_model_is_built(adata, name):
    # the 2-gene set is skipped with a warning (the GRN model does not use gene sets)
    expect = nullcontext() if name == "grn_sem" else pytest.warns(UserWarning, match="tiny")
    with expect:
        prep = prepare(adata, name, gene_sets=SETS, tfs=["G0", "G5", "NOPE"], **KW)
    assert isinstance(prep, Prepared)
    module, init, meta, train_ds, val_ds = prep
    assert len(train_ds) + len(val_ds) == adata.n_obs
    assert len(meta["val_cells"]) == len(val_ds)
    assert set(meta["val_cells"]) == set(adata.obs_names[val_ds.indices])
    features = meta["features"]
    assert train_ds.n_features == len(features) == init["n_genes"]
    batch = train_ds.__getitems__(list(range(8)))
    module.eval()
    out = module(batch["x"])
    assert out.ndim == 2 and out.shape[0] == 8
    assert torch.isfinite(module.loss(batch)["loss"])
    rebuilt = build_model(name, **init)  # init is enough to rebuild the same architecture
    assert rebuilt.state_dict().keys() == module.state_dict().keys()

    if name != "grn_sem":
        # HVGs plus the set gene outside the HVGs (G25); the 2-gene set is dropped
        assert features == [f"G{i}" for i in range(20)] + ["G25"]
        assert list(meta["gene_sets"]) == ["prog_B", "prog_T"]
    if name in ("attention_classifier", "mlp_classifier"):
        assert meta["classes"] == ["B", "NK", "T"] and "y" in batch
    if name == "attention_classifier":
        assert meta["token_names"] == ["prog_B", "prog_T", "remaining_genes"]
    if name == "program_vae":
        assert meta["programs"] == [
            "prog_B",
            "prog_T",
            "denovo_0",
            "denovo_1",
            "denovo_2",
            "denovo_3",
        ]
        assert out.shape[1] == len(meta["programs"]) and meta["batches"] == ["b1", "b2"]
        mask = init["mask"]
        assert mask[:, 0].sum() == 6 and bool(mask[features.index("G25"), 0])
        lib = np.asarray(adata.layers["counts"].sum(1)).ravel()
        np.testing.assert_allclose(batch["library"].numpy(), lib[train_ds.indices[:8]])
    if name == "grn_sem":
        assert meta["tfs"] == ["G0", "G5"]
        assert [features[i] for i in init["tf_index"].tolist()] == ["G0", "G5"]
        assert features == [f"G{i}" for i in range(20)]
        assert out.shape[1] == len(features) and torch.any(module.x_std != 1)


def test_the_model_settings_reach_its_build(adata):
    """prepare(**settings): the model's settings over its spec's defaults, into the spec's
    build; a setting of another model is an error naming the model's own."""
    with pytest.warns(UserWarning):
        default = prepare(adata, "program_vae", gene_sets=SETS, **KW)
        wider = prepare(
            adata, "program_vae", gene_sets=SETS, n_latent_denovo=7, kl_weight=0.5, **KW
        )
    assert default.init["n_denovo"] == 4 and default.init["kl_weight"] == 1.0
    assert wider.init["n_denovo"] == 7 and wider.init["kl_weight"] == 0.5
    assert wider.meta["programs"][-7:] == [f"denovo_{i}" for i in range(7)]
    grn = prepare(adata, "grn_sem", tfs=["G0", "G5"], predictor_penalty=0, **KW)
    assert grn.init["predictor_penalty"] == 0 and grn.init["l1"] == 0.001
    with pytest.raises(ScinterpInputError, match="mlp_classifier has no setting 'kl_weight'"):
        prepare(adata, "mlp_classifier", kl_weight=1.0, **KW)


def test_prepare_fit_save_load(adata, tmp_path):
    with pytest.warns(UserWarning):
        module, init, meta, train_ds, val_ds = prepare(adata, "program_vae", gene_sets=SETS, **KW)
    hist = fit(
        module,
        train_ds,
        val_ds,
        outdir=tmp_path,
        max_epochs=2,
        batch_size=32,
        lr=1e-2,
        patience=2,
        seed=0,
        progress=False,
    )
    assert len(hist) == 2
    save_model(module, tmp_path, "program_vae", init, meta)
    loaded, meta2 = load_model(tmp_path)
    assert meta2["programs"] == meta["programs"] and meta2["features"] == meta["features"]
    x = val_ds.__getitems__([0, 1])["x"]
    torch.testing.assert_close(loaded(x), module(x))


def test_seed_fixes_split_and_weights(adata):
    a = prepare(adata, "mlp_classifier", seed=1, **KW)
    b = prepare(adata, "mlp_classifier", seed=1, **KW)
    assert a.meta["val_cells"] == b.meta["val_cells"]
    for k, v in a.module.state_dict().items():
        assert torch.equal(v, b.module.state_dict()[k])


def test_no_gene_set_overlap(adata):
    sets = {"x": ["A1", "A2", "A3"], "y": ["B1", "B2", "B3"]}
    with (
        pytest.warns(UserWarning),
        pytest.raises(ScinterpInputError, match="none of the 2 gene sets.*Fix"),
    ):
        prepare(adata, "program_vae", gene_sets=sets, **KW)
    with pytest.raises(ValueError, match="needs gene sets"):
        prepare(adata, "attention_classifier", gene_sets=None, **KW)


def test_no_tf_in_data(adata):
    with pytest.raises(ScinterpInputError, match="none of the 2 TFs.*Fix"):
        prepare(adata, "grn_sem", tfs=["FOXP3", "PAX5"], **KW)


def test_label_problems(adata, caplog):
    one = adata.copy()
    one.obs["cell_type"] = "T"
    with pytest.raises(ScinterpInputError, match="at least 2"):
        prepare(one, "mlp_classifier", **KW)
    rare = adata.copy()
    rare.obs["cell_type"] = rare.obs["cell_type"].astype(str)
    rare.obs.iloc[0, rare.obs.columns.get_loc("cell_type")] = "pDC"
    # a cell type too small to learn, and cells without a label (as atlases have them),
    # are left out of training with a log line, not fatal
    rare.obs.iloc[1:4, rare.obs.columns.get_loc("cell_type")] = ["", "nan", "unknown"]
    with caplog.at_level("WARNING", logger="scinterp.train.prepare"):
        p = prepare(rare, "mlp_classifier", **KW)
    assert "pDC" not in p.meta["classes"] and "" not in p.meta["classes"]
    assert p.meta["n_unlabelled"] == 4
    assert "pDC (1)" in caplog.text and "3 of 90 cells have no 'cell_type' label" in caplog.text
    used = set(p.train_ds.indices.tolist()) | set(p.val_ds.indices.tolist())
    assert used.isdisjoint({0, 1, 2, 3}) and len(used) == 86
    with pytest.raises(ScinterpInputError, match="no column 'celltype'"):
        prepare(adata, "mlp_classifier", **{**KW, "label_key": "celltype"})


def test_unknown_model_and_missing_counts(adata):
    with pytest.raises(ValueError, match="does not build model 'seq_cnn'"):
        prepare(adata, "seq_cnn", **KW)
    del adata.layers["counts"]
    with (
        pytest.warns(UserWarning),
        pytest.raises(ScinterpInputError, match="layers has no 'counts'"),
    ):
        prepare(adata, "program_vae", gene_sets=SETS, **KW)


@pytest.mark.parametrize("name", ["grn_sem", "mlp_classifier"])
def test_train_from_files_step_size(adata, tmp_path, monkeypatch, name):
    """grn_sem trains at its own learning rate (here in its old spelling,
    train.grn_learning_rate), the other cell models at learning_rate."""
    import yaml

    import scinterp.train.loop as loop
    from scinterp.train.run import train_from_files

    root = Path(__file__).resolve().parents[2]
    schema = yaml.safe_load((root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["train"]["properties"]
    params = {k: v["default"] for k, v in props.items() if "default" in v}
    params.update(learning_rate=0.002, grn_learning_rate=0.02, max_epochs=1, device="cpu")
    seen = {}
    real_fit = loop.fit

    def spy(*args, **kwargs):
        seen["lr"] = kwargs["lr"]
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(loop, "fit", spy)
    path = tmp_path / "normalized.h5ad"
    adata.uns["scinterp"] = {"label_key": "cell_type"}
    adata.write_h5ad(path)
    tfs = tmp_path / "tfs.txt"
    tfs.write_text("G0\nG5\nG10\n")
    train_from_files(name, normalized=path, outdir=tmp_path / name, params=params, tfs=tfs)
    assert seen["lr"] == (0.02 if name == "grn_sem" else 0.002)
    assert (tmp_path / name / "model.pt").exists()


def test_grn_sem_trains_on_a_stratified_sample_the_peers_read(adata, tmp_path):
    """train.grn_sem.max_cells: grn_sem trains on a stratified sample (the other models
    on every cell, max_cells null); model_rows gives the GRN peers the same cells."""
    import json

    import yaml

    from scinterp.interpret.grn import model_rows
    from scinterp.train.run import train_from_files

    root = Path(__file__).resolve().parents[2]
    schema = yaml.safe_load((root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]["train"]["properties"]
    params = {k: v["default"] for k, v in props.items() if "default" in v}
    assert params["max_cells"] is None and "grn_max_cells" not in params  # old spelling
    n = adata.n_obs
    params.update(grn_sem={"max_cells": n // 2}, max_epochs=1, device="cpu")
    path = tmp_path / "normalized.h5ad"
    adata.uns["scinterp"] = {"label_key": "cell_type"}
    adata.write_h5ad(path)
    tfs = tmp_path / "tfs.txt"
    tfs.write_text("G0\nG5\nG10\n")
    meta = {}
    for name in ("grn_sem", "mlp_classifier"):
        train_from_files(name, normalized=path, outdir=tmp_path / name, params=params, tfs=tfs)
        meta[name] = json.loads((tmp_path / name / "model.json").read_text())["meta"]
    assert meta["grn_sem"]["train_cells"] == {"max_cells": n // 2, "seed": params["seed"]}
    assert "train_cells" not in meta["mlp_classifier"]
    assert model_rows(path, meta["mlp_classifier"]) is None
    rows = model_rows(path, meta["grn_sem"])
    assert len(rows) == n // 2 and np.all(np.diff(rows) > 0)
    # stratified: every cell type keeps its share
    share = adata.obs["cell_type"].iloc[rows].value_counts(normalize=True).sort_index()
    whole = adata.obs["cell_type"].value_counts(normalize=True).sort_index()
    np.testing.assert_allclose(share.to_numpy(), whole.to_numpy(), atol=0.05)
