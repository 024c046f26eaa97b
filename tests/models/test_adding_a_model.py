"""Adding a model is one file: an nn.Module and register_model(ModelSpec(...)).

The toy classifier below is all it takes for the workflow's own functions to train it
(``train_from_files``, rule train_model) with its own setting (``train.toy_classifier``,
checked like the built-in models' sections) and attribute it (``attribute_from_files``,
rule attribute); the workflow lists (attributed models, identity fallback) pick it up too.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from torch import nn

from scinterp.errors import ScinterpInputError
from scinterp.models import ModelSpec, register_model
from scinterp.models.classifier import classification_loss
from scinterp.models.registry import MODELS, Setting, model_names


# ---- the new model's file: a module and its spec -------------------------------------
class ToyClassifier(nn.Module):
    def __init__(self, n_genes: int, n_classes: int, hidden: int = 8, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_genes, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def forward(self, x):
        return self.net(x)

    def loss(self, batch):
        return classification_loss(self(batch["x"]), batch["y"])


TOY = ModelSpec(
    name="toy_classifier",
    cls=ToyClassifier,
    kind="classifier",
    needs=("labels",),
    attributed=True,
    sweep_kwargs=("hidden",),
    # its hyperparameters, each with its one default: the config's train.toy_classifier
    settings={"dropout": Setting(0.0, "Dropout after the hidden layer.", schema={"maximum": 0.9})},
    build=lambda data, *, dropout: {
        "n_genes": data.n_genes,
        "n_classes": len(data.classes),
        "dropout": dropout,
    },
)
# ---------------------------------------------------------------------------------------


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(MODELS, TOY.name, None)  # forgotten after the test
    return register_model(TOY)


def _defaults(repo, section):
    schema = yaml.safe_load((repo / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"][section]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


@pytest.fixture
def normalized(tmp_path):
    rng = np.random.default_rng(0)
    n, g = 60, 16
    y = np.array(["B", "T", "NK"])[np.arange(n) % 3]
    rate = np.ones((n, g))
    for c, name in enumerate(["B", "T", "NK"]):
        rate[y == name, c * 4 : (c + 1) * 4] = 6.0
    counts = rng.poisson(rate).astype(np.float32)
    a = ad.AnnData(
        X=sp.csr_matrix(np.log1p(counts)),
        obs=pd.DataFrame({"cell_type": y}, index=[f"c{i}" for i in range(n)]),
        var=pd.DataFrame(index=[f"G{i}" for i in range(g)]),
    )
    a.layers["counts"] = sp.csr_matrix(counts)
    a.var["highly_variable"] = True
    a.uns["scinterp"] = {"label_key": "cell_type"}
    path = tmp_path / "normalized.h5ad"
    a.write_h5ad(path)
    return path


def test_a_registered_model_trains_and_is_attributed(toy, normalized, tmp_path, repo):
    from scinterp.applicability import pick_identity_model
    from scinterp.attribution.stage import attribute_from_files
    from scinterp.sweep import check_table
    from scinterp.train.run import train_from_files

    assert "toy_classifier" in model_names(attributed=True)
    assert pick_identity_model("mlp_classifier", ["toy_classifier"]) == "toy_classifier"

    from scinterp.models.registry import load_model
    from scinterp.train.settings import check_train

    params = {**_defaults(repo, "train"), "max_epochs": 2, "device": "cpu"}
    params["toy_classifier"] = {"dropout": 0.25}  # its section of the config's train
    check_train(params)
    with pytest.raises(ScinterpInputError, match="toy_classifier has no setting 'dropuot'"):
        check_train({**params, "toy_classifier": {"dropuot": 0.25}})
    outdir = tmp_path / "models" / "toy_classifier"
    history = train_from_files(
        "toy_classifier", normalized=normalized, outdir=outdir, params=params, dataset="toy"
    )
    assert len(history) == 2 and (outdir / "model.pt").exists()
    assert load_model(outdir)[1]["init"]["dropout"] == 0.25

    attribution = {**_defaults(repo, "attribution"), "max_cells": 30, "sanity_cells": 10}
    out = attribute_from_files(
        outdir, normalized, "integrated_gradients", attribution, seed=0, device="cpu"
    )
    assert out.shape == (30, 16) and np.isfinite(out.X).all()
    assert out.uns["attribution"]["model"] == "toy_classifier"
    assert out.uns["attribution"]["target"].startswith("own class")
    # a classifier is attributed to each cell's own class
    np.testing.assert_array_equal(out.obs["attribution_target"], out.obs["cell_type"])

    # its sweep_kwargs are what a sweep column may set
    check_table(pd.DataFrame({"hidden": [4, 8]}), params, attribution, "toy_classifier")
