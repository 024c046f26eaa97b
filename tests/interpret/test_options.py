"""One options object per branch: the dataclass's fields and defaults are the schema's."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest
import yaml

from scinterp.interpret.branches import branches
from scinterp.interpret.options import BranchOptions, option, schema_problems

REPO = Path(__file__).resolve().parents[2]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
WITH_OPTIONS = [b for b in branches() if b.options is not None]


def test_programs_motifs_conditions_declare_options():
    assert {"programs", "motifs", "conditions"} <= {b.name for b in WITH_OPTIONS}


@pytest.mark.parametrize("spec", WITH_OPTIONS, ids=lambda b: b.name)
def test_options_agree_with_the_schema(spec):
    cls = spec.options_class()
    assert issubclass(cls, BranchOptions) and cls.BRANCH == spec.name
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
    assert schema_problems(cls, SCHEMA) == []


@pytest.mark.parametrize("spec", WITH_OPTIONS, ids=lambda b: b.name)
def test_from_config_of_the_schema_defaults_is_the_default(spec):
    """A config of the schema's defaults builds the dataclass's defaults."""

    def defaults(node):
        if "properties" in node:
            return {k: defaults(v) for k, v in node["properties"].items()}
        return node.get("default")

    cls = spec.options_class()
    assert cls.from_config(defaults(SCHEMA)) == cls()


@dataclasses.dataclass(frozen=True)
class _Toy(BranchOptions):
    BRANCH = "toy"
    WORKFLOW_KEYS = ("enabled", "figure_size")

    threshold: float = 0.5
    seed: int = option(0, config="train.seed")
    chunk_rows: int | None = option(None, config=None)


def _toy_schema(**threshold):
    def key(default):
        return {"description": "d", "default": default}

    node = {"description": "d", "default": 0.5, **threshold}
    return {
        "properties": {
            "train": {"properties": {"seed": key(0)}},
            "branches": {
                "properties": {
                    "toy": {
                        "properties": {
                            "enabled": key(True),
                            "figure_size": key(3),
                            "threshold": node,
                        }
                    }
                }
            },
        }
    }


def test_schema_problems_finds_each_disagreement():
    assert schema_problems(_Toy, _toy_schema()) == []
    assert schema_problems(_Toy, _toy_schema(default=0.6)) == [
        "_Toy.threshold: default 0.5, the schema's branches.toy.threshold 0.6"
    ]
    assert schema_problems(_Toy, _toy_schema(description="")) == [
        "_Toy.threshold: branches.toy.threshold has no description"
    ]
    schema = _toy_schema()
    schema["properties"]["branches"]["properties"]["toy"]["properties"]["extra"] = {"default": 1}
    del schema["properties"]["train"]["properties"]["seed"]
    assert schema_problems(_Toy, schema) == [
        "_Toy.seed: train.seed is not in the schema",
        "_Toy: branches.toy.extra is no field",
    ]


@dataclasses.dataclass(frozen=True)
class _Sequences(BranchOptions):
    BRANCH = "toy"
    WORKFLOW_KEYS = ("enabled", "figure_size", "threshold")

    methods: tuple[str, ...] = ("a", "b")
    weights: Mapping[str, int] = dataclasses.field(
        default_factory=lambda: MappingProxyType({"a": 2, "b": 1})
    )


def test_schema_problems_compares_lists_mappings_and_kinds():
    schema = _toy_schema()
    toy = schema["properties"]["branches"]["properties"]["toy"]["properties"]
    toy["methods"] = {"description": "d", "default": ["a", "b"]}
    toy["weights"] = {"description": "d", "default": {"a": 2, "b": 1}}
    assert schema_problems(_Sequences, schema) == []
    toy["methods"]["default"] = ["b", "a"]
    toy["weights"]["default"] = {"a": 2, "b": True}  # True is no 1
    assert schema_problems(_Sequences, schema) == [
        "_Sequences.methods: default ('a', 'b'), the schema's branches.toy.methods ['b', 'a']",
        "_Sequences.weights: default mappingproxy({'a': 2, 'b': 1}), the schema's "
        "branches.toy.weights {'a': 2, 'b': True}",
    ]


def test_from_params_reads_a_rules_params():
    params = {"options": {"threshold": 0.25, "enabled": True}, "seed": 7, "dataset": "demo"}
    assert _Toy.from_params(params) == _Toy(threshold=0.25, seed=7)
    assert _Toy.from_params(params, chunk_rows=10).chunk_rows == 10
    with pytest.raises(ValueError, match="unknown option.*thresold.*known: threshold"):
        _Toy.from_params({"options": {"thresold": 0.25}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        _Toy().threshold = 1.0


def test_from_config_reads_each_fields_section():
    config = {"train": {"seed": 3}, "branches": {"toy": {"threshold": 0.1, "enabled": False}}}
    assert _Toy.from_config(config) == _Toy(threshold=0.1, seed=3)
    assert _Toy.from_config({}) == _Toy()
