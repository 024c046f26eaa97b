"""One options object per branch: the dataclass's fields and defaults are the schema's."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
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


def test_every_builtin_branch_declares_options():
    assert {"identity", "programs", "grn", "motifs", "conditions"} <= {b.name for b in WITH_OPTIONS}


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
        if "properties" in node and "default" not in node:
            return {k: defaults(v) for k, v in node["properties"].items()}
        return node.get("default")

    cls = spec.options_class()
    assert cls.from_config(defaults(SCHEMA)) == cls()


#: library parameters that take an option under another name: branch -> "function.parameter"
#: -> the options field (a function's default of an option must be the option's)
RENAMED = {
    "identity": {
        "aggregate_attributions.how": "aggregate",
        "ensemble_confidence.k": "confidence_top",
        "method_summary.k": "precision_k",
        "model_contribution.k": "precision_k",
        "sampling_table.k": "precision_k",
        "plot_top_genes.n_top": "n_top_plot",
    },
    "programs": {
        "compute_programs.ctrl_size": "score_genes_ctrl_size",
        "decoder_scores.trim": "score_trim",
        "ensemble_rows.top": "confidence_top",
        "top_programs.n": "n_top_umap",
    },
    "grn": {
        "top_regulators.n_edges": "regulator_edges",
        "top_regulators.n_top": "n_top_regulators",
        "plot_network.n_edges": "n_edges_plot",
    },
    "motifs": {
        "hypothetical_contributions.method": "attribution",
        "filter_motifs.activation_threshold": "filter_activation",
        "filter_motifs.min_sites": "filter_min_sites",
        "filter_motifs.min_ic": "filter_min_ic",
        "filter_motifs.max_motifs": "filter_max_motifs",
        "filter_motifs.min_influence": "filter_min_influence",
        "filter_motifs.influence_z": "filter_influence_z",
        "influential_filter_motifs.min_influence": "filter_min_influence",
        "influential_filter_motifs.influence_z": "filter_influence_z",
        "modisco_motifs.max_seqlets": "modisco_max_seqlets",
        "modisco_motifs.window": "modisco_window",
        "modisco_motifs.min_metacluster_size": "modisco_min_metacluster_size",
        "modisco_motifs.n_leiden_runs": "modisco_leiden_runs",
        "modisco_motifs.final_min_cluster_size": "modisco_min_cluster_size",
        "load_motif_database.collection": "jaspar_collection",
        "load_motif_database.tax_group": "jaspar_tax_group",
        "plot_logos.n": "n_logos",
    },
    "conditions": {},
}
#: parameters named like an option that are another thing, and why
NOT_THE_OPTION = {
    # the library takes a resolved torch device; "auto" is resolved by each run()
    "device": "*",
    # the edge-table helpers cut a table (None: every edge); infer_grn applies the option
    "max_edges": ("edges_from_matrix", "adjacency_edges", "consensus_edges", "ensemble_edges"),
    # the GRN peer RegDiffusion's diffusion steps, not integrated gradients'
    "n_steps": ("run_regdiffusion",),
}


def _library_functions(branch: str):
    """Every function defined in the branch's subpackage, by name."""
    package = importlib.import_module(f"scinterp.interpret.{branch}")
    out = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, fn in vars(module).items():
            if inspect.isfunction(fn) and fn.__module__ == module.__name__:
                out[name] = fn
    return out


@pytest.mark.parametrize("spec", WITH_OPTIONS, ids=lambda b: b.name)
def test_library_defaults_are_the_options_defaults(spec):
    """One default per option: a library function's default of an option (a parameter
    named like its field, or listed in RENAMED) is the option's default."""
    cls = spec.options_class()
    defaults = {f.name: _field_default(f) for f in dataclasses.fields(cls)}
    renamed = RENAMED.get(spec.name, {})
    functions = _library_functions(spec.name)
    for key in renamed:  # the list names real parameters
        fn, param = key.split(".")
        assert param in inspect.signature(functions[fn]).parameters, key
    wrong = []
    for name, fn in functions.items():
        for p in inspect.signature(fn).parameters.values():
            field = renamed.get(f"{name}.{p.name}", p.name)
            skip = NOT_THE_OPTION.get(p.name, ())
            if p.default is inspect.Parameter.empty or field not in defaults:
                continue
            if skip == "*" or name in skip:
                continue
            if p.default != defaults[field] or type(p.default) is not type(defaults[field]):
                wrong.append(f"{name}({p.name}={p.default!r}): {field} is {defaults[field]!r}")
    assert wrong == []


def _field_default(f: dataclasses.Field):
    if f.default is dataclasses.MISSING:
        return f.default_factory()
    return f.default


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
