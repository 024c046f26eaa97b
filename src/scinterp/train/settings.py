"""A model's settings: its spec's defaults, overridden by the config's ``train.<model>``.

A model declares its hyperparameters on its
:class:`~scinterp.models.registry.ModelSpec` (``settings``: name ->
:class:`~scinterp.models.registry.Setting`, each with its one default). The config's
``train`` section holds the keys that the models' training shares (:data:`LOOP_KEYS`,
and :data:`SHARED_BY`'s for the models that read them) and one section per model::

    train:
      learning_rate: 0.001        # every model's, unless the model sets its own
      program_vae: {n_latent_denovo: 8}
      grn_sem: {learning_rate: 0.003, max_cells: 20000}

:func:`check_train` checks each section against its model's settings when the workflow
is parsed (an unknown key or a wrong type names the model, the key, the allowed keys and
the fix). The flat keys that set a model's settings before the sections
(``train.grn_learning_rate``, ``train.n_latent_denovo``: ``Setting.legacy``) are still
read. :func:`train_params` is what a model's training reads of the ``train`` section (the
training rules' params: a change to another model's settings reruns none of its jobs);
:func:`model_settings` the values its training uses.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from scinterp.errors import ScinterpInputError
from scinterp.models.registry import MODELS, ModelSpec, model_spec

__all__ = [
    "LOOP_KEYS",
    "SHARED_BY",
    "build_settings",
    "check_train",
    "legacy_keys",
    "model_settings",
    "resolve_settings",
    "settings_of",
    "shared_keys",
    "train_params",
]

#: ``train`` keys of the training loop, read by every model (unless its spec has a
#: setting of the same name: seq_cnn's ``batch_size``)
LOOP_KEYS = (
    "device",
    "seed",
    "max_epochs",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "patience",
    "min_delta",
    "val_fraction",
)
#: ``train`` keys that only some models read: key -> whether a model (its spec) reads it
SHARED_BY: dict[str, Callable[[ModelSpec], bool]] = {
    # the cells a model on cells trains on (grn_sem has its own max_cells)
    "max_cells": lambda spec: "atac" not in spec.needs,
    # gene sets that keep fewer genes are skipped
    "min_genes_per_set": lambda spec: spec.reads("gene_sets"),
    # the peaks' width: the sequence model's input (the motifs branch reads it too)
    "seq_width": lambda spec: "atac" in spec.needs,
}


def shared_keys(name: str) -> tuple[str, ...]:
    """The shared ``train`` keys model ``name`` reads: :data:`LOOP_KEYS` and its
    :data:`SHARED_BY` keys, less those its own settings replace."""
    spec = model_spec(name)
    keys = LOOP_KEYS + tuple(k for k, reads in SHARED_BY.items() if reads(spec))
    return tuple(k for k in keys if k not in spec.settings)


def legacy_keys() -> dict[str, list[tuple[str, str]]]:
    """The flat ``train`` keys of the old spelling -> the ``(model, setting)`` pairs each
    sets (``n_latent_denovo`` sets program_vae's and ldvae's)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for spec in MODELS.values():
        for key, setting in spec.settings.items():
            if setting.legacy is not None:
                out.setdefault(setting.legacy, []).append((spec.name, key))
    return out


def _allowed(spec: ModelSpec) -> str:
    if not spec.settings:
        return f"{spec.name} has no settings of its own"
    return f"its settings: {', '.join(spec.settings)}"


def _unknown(spec: ModelSpec, key: str, dataset: str | None = None) -> ScinterpInputError:
    close = difflib.get_close_matches(str(key), list(spec.settings), n=1)
    guess = f"; did you mean '{close[0]}'?" if close else ""
    return ScinterpInputError(
        f"train.{spec.name}.{key}: {spec.name} has no setting '{key}'{guess} ({_allowed(spec)}).",
        dataset=dataset,
        fix=f"correct or remove the key under train.{spec.name} (config/README.md lists "
        "each model's settings with their defaults).",
    )


def resolve_settings(
    name: str, values: Mapping[str, Any] | None = None, *, dataset: str | None = None
) -> dict[str, Any]:
    """Every setting of model ``name``: ``values`` over its spec's defaults, in the
    spec's order; a key that is no setting of the model raises
    :class:`~scinterp.errors.ScinterpInputError` naming the allowed ones."""
    spec = model_spec(name)
    values = dict(values or {})
    for key in values:
        if key not in spec.settings:
            raise _unknown(spec, key, dataset)
    return {k: values.get(k, s.default) for k, s in spec.settings.items()}


def build_settings(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that ``build(data, **settings)`` of model ``name`` takes: those that
    are not ``training`` ones."""
    spec = model_spec(name)
    return {k: v for k, v in settings.items() if not spec.settings[k].training}


def settings_of(name: str, train: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of model ``name`` as the ``train`` section sets it: its
    ``train.<name>`` section, else the flat key of the old spelling, else the spec's
    default. Both spellings of one setting raise (which one wins would be a guess)."""
    spec = model_spec(name)
    section = dict(train.get(name) or {})
    for key, setting in spec.settings.items():
        if setting.legacy is None or setting.legacy not in train:
            continue
        if key in section:
            raise ScinterpInputError(
                f"train.{setting.legacy} and train.{name}.{key} both set {name}'s {key}.",
                fix=f"keep train.{name}.{key} (train.{setting.legacy} is its old spelling).",
            )
        section[key] = train[setting.legacy]
    return resolve_settings(name, section)


def train_params(name: str, train: Mapping[str, Any]) -> dict[str, Any]:
    """What model ``name``'s training reads of the ``train`` section, in its shape: the
    shared keys it reads (:func:`shared_keys`) and its own section with every setting
    resolved (:func:`settings_of`). The training rules' params: Snakemake reruns a job
    whose params changed, so a setting of one model (or a shared key it does not read)
    reruns no other model's jobs. ``train_params(name, train_params(name, train))`` is
    ``train_params(name, train)``."""
    shared = {k: train[k] for k in shared_keys(name) if k in train}
    return {**shared, name: settings_of(name, train)}


def model_settings(name: str, train: Mapping[str, Any]) -> dict[str, Any]:
    """The values model ``name`` trains with, flat: the shared keys it reads, and its own
    settings (which replace the shared key of the same name: seq_cnn's ``batch_size``)."""
    params = train_params(name, train)
    own = params.pop(name)
    return {**params, **own}


def _section_problems(spec: ModelSpec, section: Any) -> list[str]:
    from jsonschema import Draft202012Validator

    where = f"train.{spec.name}"
    if not isinstance(section, Mapping):
        return [f"{where} is {section!r}: a mapping of {spec.name}'s settings"]
    schema = {
        "type": "object",
        "properties": {k: s.json_schema() for k, s in spec.settings.items()},
        "additionalProperties": False,
    }
    out = []
    for err in Draft202012Validator(schema).iter_errors(dict(section)):
        if err.validator == "additionalProperties":
            out += [_unknown(spec, k).problem for k in section if k not in spec.settings]
            continue
        key = err.absolute_path[0]
        setting = spec.settings[key]
        out.append(
            f"{where}.{key}: {err.message} ({spec.name}'s {key}: "
            f"{setting.json_schema().get('type', 'any value')}, default {setting.default!r})"
        )
    return out


def check_train(train: Mapping[str, Any]) -> None:
    """Check every ``train.<model>`` section of a config against its model's settings
    (types and ranges with jsonschema), and that no setting is given in both spellings.

    Raises
    ------
    ScinterpInputError
        Listing every problem, one line each: the model, the key, the allowed keys.
    """
    problems = []
    for name, spec in MODELS.items():
        if name in train:
            problems += _section_problems(spec, train[name])
    if not problems:
        for name in MODELS:
            try:
                settings_of(name, train)
            except ScinterpInputError as err:
                problems.append(err.problem)
    if problems:
        raise ScinterpInputError(
            "the config's model settings are wrong:\n  - " + "\n  - ".join(problems) + "\n",
            fix="correct these keys: a model's settings go in its train.<model> section "
            "(config/README.md lists each one with its default).",
        )
