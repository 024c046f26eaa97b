"""Models are built by name and round-trip through model.pt (weights_only) + model.json."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from scinterp.models import ModelSpec, build_model, load_model, register_model, save_model
from scinterp.models.registry import MODELS, model_names, model_spec

MASK = torch.zeros(12, 3, dtype=torch.bool)
MASK[:4, 0] = MASK[4:8, 1] = MASK[6:12, 2] = True

INITS = {
    "attention_classifier": {
        "n_genes": 12,
        "tokens": [torch.tensor([0, 1, 2]), torch.tensor([5, 6])],
        "n_classes": 3,
        "d_model": 8,
        "n_heads": 2,
    },
    "mlp_classifier": {"n_genes": 12, "n_classes": 3, "hidden": (16, 8)},
    "capsule_classifier": {
        "n_genes": 12,
        "groups": [torch.tensor([0, 1, 2]), torch.tensor([5, 6])],
        "n_classes": 3,
    },
    "program_vae": {"n_genes": 12, "mask": MASK, "n_denovo": 2, "n_batches": 2},
    "ldvae": {"n_genes": 12, "mask": torch.zeros(12, 0, dtype=torch.bool), "n_denovo": 5},
    "grn_sem": {"n_genes": 12, "tf_index": torch.tensor([0, 4, 9]), "hidden": 8},
}


@pytest.mark.parametrize("name", list(INITS))
def test_roundtrip_weights_only(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, **INITS[name])
    if name == "grn_sem":
        model.set_standardization(torch.arange(12.0), torch.full((12,), 2.0))
    model.eval()
    meta = {"features": [f"g{i}" for i in range(12)], "classes": ["a", "b", "c"]}
    save_model(model, tmp_path, name, INITS[name], meta)

    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(state) == set(model.state_dict())
    record = json.loads((tmp_path / "model.json").read_text())
    assert record["name"] == name and record["meta"]["features"][0] == "g0"

    loaded, meta2 = load_model(tmp_path)
    assert type(loaded) is type(model) and not loaded.training
    assert meta2["features"] == meta["features"] and meta2["name"] == name
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)
    x = torch.rand(4, 12)
    torch.testing.assert_close(loaded(x), model(x))
    assert loaded(x).ndim == 2 and loaded(x).shape[0] == 4


def test_ldvae_is_unmasked_program_vae():
    model = build_model("ldvae", **INITS["ldvae"])
    assert type(model).__name__ == "ProgramVAE" and not model.masked


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'transformer9000'.*known models"):
        build_model("transformer9000")


class _Toy(nn.Module):
    def __init__(self, n_in: int):
        super().__init__()
        self.lin = nn.Linear(n_in, 1)

    def forward(self, x):
        return self.lin(x)


def _register(monkeypatch, name, cls):
    """Register a model for one test (the registry forgets it afterwards)."""
    monkeypatch.setitem(MODELS, name, None)
    return register_model(ModelSpec(name=name, cls=cls, kind="latent", build=lambda data: {}))


def test_models_plug_in_by_spec(tmp_path, monkeypatch):
    assert MODELS["seq_cnn"].target == "scinterp.models.seqcnn:SeqCNN"
    _register(monkeypatch, "toy", _Toy)
    model = build_model("toy", n_in=3)
    save_model(model, tmp_path, "toy", {"n_in": 3})
    loaded, _ = load_model(tmp_path)
    torch.testing.assert_close(loaded.lin.weight, model.lin.weight)


def test_load_missing_dir_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.json"):
        load_model(tmp_path)


class _Sized(nn.Module):
    def __init__(self, n_in, hidden=4):
        super().__init__()
        self.lin = nn.Linear(n_in, hidden)


def test_saved_model_keeps_its_defaults_and_old_files_fail_clearly(tmp_path, monkeypatch):
    import json

    from scinterp.errors import ScinterpInputError

    _register(monkeypatch, "sized", _Sized)
    save_model(build_model("sized", n_in=3), tmp_path, "sized", {"n_in": 3})
    assert json.loads((tmp_path / "model.json").read_text())["init"]["hidden"] == 4
    # a later version changes the default: the file is still rebuilt as it was saved
    monkeypatch.setattr(_Sized.__init__, "__defaults__", (8,))
    loaded, _ = load_model(tmp_path)
    assert loaded.lin.out_features == 4
    # a file that did not record the default (older scinterp): a clear error, not torch's
    record = json.loads((tmp_path / "model.json").read_text())
    record["init"] = {"n_in": 3}
    (tmp_path / "model.json").write_text(json.dumps(record))
    with pytest.raises(ScinterpInputError, match="--forcerun .*model.pt"):
        load_model(tmp_path)


def test_registry_lists_the_built_in_models_in_order():
    assert model_names() == [
        "attention_classifier",
        "mlp_classifier",
        "capsule_classifier",
        "program_vae",
        "ldvae",
        "grn_sem",
        "seq_cnn",
        "logistic_classifier",
    ]
    assert model_names(kind="classifier") == [*model_names()[:3], "logistic_classifier"]
    assert model_names(attributed=True) == model_names()[:5]
    assert model_names(program_vae=True) == ["program_vae", "ldvae"]
    # the coefficients are its explanation: not attributed, never the identity model
    assert model_spec("logistic_classifier").provides == ("markers",)
    assert {n: list(model_spec(n).settings) for n in model_names() if model_spec(n).settings} == {
        "program_vae": [
            "n_latent_denovo",
            "l1_denovo",
            "kl_weight",
            "nonneg_programs",
            "learning_rate",
        ],
        "ldvae": ["n_latent_denovo", "kl_weight"],
        "grn_sem": ["l1_adjacency", "predictor_penalty", "learning_rate", "max_cells"],
        "seq_cnn": ["batch_size", "learning_rate", "max_epochs", "patience", "shift", "mutate"],
    }


@pytest.mark.parametrize("name", model_names())
def test_settings_meet_their_schema_and_build_takes_the_others(name):
    """Each default meets its own JSON schema (what check_train holds a config to), and
    the spec's build takes exactly the settings that are not training ones as keywords."""
    import inspect

    from jsonschema import Draft202012Validator

    spec = model_spec(name)
    for key, setting in spec.settings.items():
        schema = setting.json_schema()
        assert schema["description"] and "type" in schema, key
        Draft202012Validator(schema).validate(setting.default)
    params = inspect.signature(spec.build).parameters
    keywords = {k for k, p in params.items() if p.kind is p.KEYWORD_ONLY}
    assert keywords == {k for k, s in spec.settings.items() if not s.training}


def test_spec_rejects_settings_that_are_no_setting():
    from scinterp.models.registry import Setting

    with pytest.raises(ValueError, match="settings maps names to Setting"):
        ModelSpec(name="x", cls=_Toy, kind="latent", build=dict, settings={"a": 1})
    with pytest.raises(ValueError, match="settings maps names to Setting"):
        ModelSpec(name="x", cls=_Toy, kind="latent", build=dict, settings={"a-b": Setting(1, "d")})


@pytest.mark.parametrize("name", ["attention_classifier", "mlp_classifier", "capsule_classifier"])
def test_sweep_kwargs_are_constructor_arguments_the_data_do_not_set(name):
    import inspect

    spec = model_spec(name)
    params = set(inspect.signature(spec.cls.__init__).parameters)
    assert spec.sweep_kwargs and set(spec.sweep_kwargs) <= params
    assert not set(spec.sweep_kwargs) & {"n_genes", "n_classes", "tokens", "groups"}


def test_spec_rejects_unknown_kind_and_needs():
    with pytest.raises(ValueError, match="kind must be one of"):
        ModelSpec(name="x", cls=_Toy, kind="regressor", build=dict)
    with pytest.raises(ValueError, match="unknown data needs"):
        ModelSpec(name="x", cls=_Toy, kind="latent", needs=("proteins",), build=dict)
    with pytest.raises(ValueError, match="threads must be >= 1"):
        ModelSpec(name="x", cls=_Toy, kind="latent", build=dict, threads=0)
    with pytest.raises(TypeError, match="ModelSpec"):
        register_model("mod:Cls")
