"""A model owns its settings: spec defaults, train.<model> sections, their check before any
job, the old flat spelling, and the training rules' params (rerun triggers)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from scinterp.errors import ScinterpInputError
from scinterp.models.registry import MODELS, model_names
from scinterp.train.settings import (
    LOOP_KEYS,
    SHARED_BY,
    check_train,
    legacy_keys,
    model_settings,
    resolve_settings,
    settings_of,
    shared_keys,
    train_params,
)

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def train():
    """The demo's train section, as the workflow sees it (schema defaults filled in)."""
    config = {"datasets": {"d": {"rna": "x.h5ad"}}}
    validate(config, schema=str(SCHEMA))
    return config["train"]


def _with(train, **changes):
    out = copy.deepcopy(train)
    out.update(changes)
    return out


def test_defaults_come_from_the_spec(train):
    assert settings_of("program_vae", train) == {
        "n_latent_denovo": 4,
        "l1_denovo": 0.3,
        "kl_weight": 1.0,
        "nonneg_programs": True,
        "learning_rate": 0.002,
    }
    # ldvae keeps the beta-VAE weight (signed loadings); program_vae its own learning rate
    assert settings_of("ldvae", train)["kl_weight"] == 0.3
    assert model_settings("program_vae", train)["learning_rate"] == 0.002
    grn = model_settings("grn_sem", train)
    # its own learning rate and cell cap replace the shared keys; the loop's others stay
    assert grn["learning_rate"] == 0.003 and train["learning_rate"] == 0.001
    assert grn["max_cells"] == 20000 and train["max_cells"] is None
    assert grn["predictor_penalty"] == 600 and grn["patience"] == train["patience"]
    seq = model_settings("seq_cnn", train)
    assert (seq["batch_size"], seq["max_epochs"], seq["shift"], seq["mutate"]) == (64, 150, 3, 0.1)
    assert model_settings("mlp_classifier", train)["batch_size"] == 128


def test_a_section_overrides_and_the_old_spelling_still_works(train):
    section = _with(train, program_vae={"n_latent_denovo": 8}, grn_sem={"learning_rate": 0.01})
    assert settings_of("program_vae", section)["n_latent_denovo"] == 8
    assert settings_of("ldvae", section)["n_latent_denovo"] == 4  # ldvae's own
    assert model_settings("grn_sem", section)["learning_rate"] == 0.01
    old = _with(train, n_latent_denovo=8, grn_learning_rate=0.01, grn_max_cells=None)
    assert settings_of("program_vae", old)["n_latent_denovo"] == 8
    assert settings_of("ldvae", old)["n_latent_denovo"] == 8  # the flat key set both
    assert model_settings("grn_sem", old)["learning_rate"] == 0.01
    assert model_settings("grn_sem", old)["max_cells"] is None  # null: every cell, as before


@pytest.mark.parametrize(
    "bad, expect",
    [
        # an unknown key: the model, the key, a guess and the allowed keys
        (
            {"program_vae": {"n_latent": 8}},
            r"train\.program_vae\.n_latent: program_vae has no setting 'n_latent'; did you "
            r"mean 'n_latent_denovo'\? \(its settings: n_latent_denovo, l1_denovo, kl_weight, "
            r"nonneg_programs, learning_rate\)",
        ),
        # a wrong type: the key, the value, the type and the default
        (
            {"grn_sem": {"learning_rate": "fast"}},
            r"train\.grn_sem\.learning_rate: 'fast' is not of type 'number'.*default 0\.003",
        ),
        ({"seq_cnn": {"mutate": 1.5}}, r"train\.seq_cnn\.mutate: 1\.5 .*maximum"),
        ({"grn_sem": {"max_cells": 0}}, r"train\.grn_sem\.max_cells: 0 is less than"),
        # a model without settings of its own
        ({"mlp_classifier": {"hidden": 64}}, r"mlp_classifier has no settings of its own"),
        ({"program_vae": [1]}, r"train\.program_vae is \[1\]: a mapping"),
        # both spellings of one setting
        (
            {"grn_learning_rate": 0.01, "grn_sem": {"learning_rate": 0.02}},
            r"train\.grn_learning_rate and train\.grn_sem\.learning_rate both set",
        ),
    ],
)
def test_check_train_names_model_key_allowed_keys_and_fix(train, bad, expect):
    with pytest.raises(ScinterpInputError, match=expect) as err:
        check_train(_with(train, **bad))
    assert "Fix:" in str(err.value) and "train.<model>" in str(err.value)


def test_check_train_accepts_the_defaults_and_good_sections(train):
    check_train(train)
    check_train(_with(train, program_vae={"kl_weight": 1}, grn_sem={"max_cells": None}))


def test_library_callers_get_the_unknown_key_error_too():
    """prepare and train_from_files resolve with resolve_settings: no jsonschema needed
    (the torch env has none), the same message."""
    with pytest.raises(ScinterpInputError, match="ldvae has no setting 'l1_denovo'"):
        resolve_settings("ldvae", {"l1_denovo": 0.1})
    assert resolve_settings("ldvae", {"kl_weight": 1.0}) == {"n_latent_denovo": 4, "kl_weight": 1.0}


def test_a_grn_only_key_reruns_only_grn_jobs(train):
    """The training rules' params (inputs/train.smk's train_settings is train_params):
    Snakemake reruns a job whose params changed, so each model's params hold only what it
    reads."""
    changes = [
        {"grn_sem": {"predictor_penalty": 100}},
        {"grn_predictor_penalty": 100},  # the old spelling
        {"l1_adjacency": 0.01},
        {"grn_max_cells": 500},
    ]
    for change in changes:
        changed = _with(train, **change)
        for name in model_names():
            same = train_params(name, changed) == train_params(name, train)
            assert same == (name != "grn_sem"), (change, name)
    # a program-VAE key reruns both VAEs only through the old spelling that set both
    changed = _with(train, program_vae={"kl_weight": 0.5})
    assert [m for m in model_names() if train_params(m, changed) != train_params(m, train)] == [
        "program_vae"
    ]
    changed = _with(train, kl_weight=0.5)
    assert [m for m in model_names() if train_params(m, changed) != train_params(m, train)] == [
        "program_vae",
        "ldvae",
    ]


def test_shared_keys_rerun_the_models_that_read_them(train):
    def rerun(**change):
        changed = _with(train, **change)
        return [m for m in model_names() if train_params(m, changed) != train_params(m, train)]

    everyone = model_names()
    assert rerun(patience=3) == [m for m in everyone if m != "seq_cnn"]  # seq_cnn has its own
    own_lr = ("grn_sem", "seq_cnn", "program_vae")  # their own learning_rate settings
    assert rerun(learning_rate=0.01) == [m for m in everyone if m not in own_lr]
    # gene sets: the models that read them; cells: the models on cells but grn_sem (its own)
    assert rerun(min_genes_per_set=3) == [
        "attention_classifier",
        "mlp_classifier",
        "capsule_classifier",
        "program_vae",
        "ldvae",
        "logistic_classifier",
    ]
    assert rerun(max_cells=1000) == [m for m in everyone if m not in ("grn_sem", "seq_cnn")]
    assert rerun(seq_width=300) == ["seq_cnn"]
    assert rerun(seed=1) == everyone


def test_train_params_are_what_training_reads_and_resolve_again_to_themselves(train):
    section = _with(train, grn_learning_rate=0.01, seq_cnn={"shift": 0})
    for name in model_names():
        params = train_params(name, section)
        assert set(params) == {*shared_keys(name), name}
        assert train_params(name, params) == params
        assert model_settings(name, params) == model_settings(name, section)


def test_the_schema_follows_the_specs():
    """Every model has a train.<model> section (its keys are its spec's, rendered into
    config/README.md); every old flat key is in the schema, deprecated and without a
    default (set means set); the other train keys are the shared ones."""
    props = yaml.safe_load(SCHEMA.read_text())["properties"]["train"]["properties"]
    for name in MODELS:
        assert props[name].get("x-model-settings") is True, name
        assert props[name]["default"] == {}
    for key in legacy_keys():
        assert props[key].get("deprecated") is True and "default" not in props[key], key
    shared = set(props) - {"models"} - set(MODELS) - set(legacy_keys())
    assert shared == set(LOOP_KEYS) | set(SHARED_BY)
