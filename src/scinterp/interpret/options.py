"""A branch's options: one frozen dataclass per branch, the one place the library reads them.

Each branch declares ``<Branch>Options(BranchOptions)`` in its subpackage
(``scinterp/interpret/<branch>/_options.py``) and names it on its :class:`Branch`
(``options="scinterp.interpret.<branch>._options:<Branch>Options"``). A field is one
option with its one default; by default it is the config key ``branches.<branch>.<field>``
of ``workflow/schemas/config.schema.yaml``, whose default must be the same
(``tests/interpret/test_options.py`` checks every registered branch with
:func:`schema_problems`). A field read from another config section names it
(``option(0, config="train.seed")``); a library-only setting has ``config=None``. Keys of
the branch's section that the workflow reads itself (``enabled``, which models are
inputs, a figure's size when the figure is drawn in the script) are listed in the class's
``WORKFLOW_KEYS`` and are no fields.

A rule passes the keys it reads (``branch_options("<branch>", ...)`` in ``common.smk``:
params are a rerun trigger) and the other sections' values as params named like the
fields; its script builds the options with one call, ``<Branch>Options.from_params(
snakemake.params)``, and calls the branch's ``run(inputs, options)``. A library user
builds them from a whole config with :meth:`BranchOptions.from_config` or from keywords.

Every built-in branch has one (identity, programs, grn, motifs, conditions). A new branch:
write the dataclass (fields = the section's keys but ``WORKFLOW_KEYS``, defaults = the
schema's), add ``options=`` to its ``Branch``, let the script call ``from_params`` and the
entry point take ``options``. A list option is a tuple field (``consensus: tuple[str, ...]
= ("a", "b")``), a mapping one a ``field(default_factory=lambda: MappingProxyType({...}))``:
the options are frozen, and a config's lists and mappings become tuples and read-only
mappings. A library function that takes an option keeps no default of its own: it has
none or ``DEFAULT_OPTIONS.<field>`` (the test checks every function of the branch's
subpackage whose parameter is named like a field, or renamed in its list).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = ["BranchOptions", "option", "options_config_path", "schema_problems"]

_CONFIG = "config"  # field metadata key: the config path of the field (None: library only)
_SECTION = object()  # the default path: branches.<branch>.<field name>


def option(default: Any, *, config: str | None = _SECTION, **kwargs) -> Any:  # type: ignore[assignment]
    """A field of a :class:`BranchOptions` read from another config section (``config=
    "train.seed"``) or from none (``config=None``: a library setting, not in the config)."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    if config is not _SECTION:
        metadata[_CONFIG] = config
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def options_config_path(cls: type[BranchOptions], f: dataclasses.Field) -> str | None:
    """The config key of field ``f`` (``"branches.programs.used_threshold"``,
    ``"train.seed"``), or None for a library-only setting."""
    return f.metadata.get(_CONFIG, f"branches.{cls.BRANCH}.{f.name}")


@dataclasses.dataclass(frozen=True)
class BranchOptions:
    """Base of a branch's options (a frozen dataclass; subclasses set ``BRANCH``)."""

    #: the branch's name: its config section is ``branches.<BRANCH>``
    BRANCH: ClassVar[str] = ""
    #: keys of ``branches.<BRANCH>`` that the workflow reads itself, not the library
    WORKFLOW_KEYS: ClassVar[tuple[str, ...]] = ("enabled",)

    def __post_init__(self):
        # a config's YAML list or mapping becomes the frozen kind of the field's default
        # (a tuple, a read-only mapping): options built from a config equal the defaults
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list | tuple | Mapping):
                object.__setattr__(self, f.name, _frozen(value))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_params(cls, params: Any = None, /, **values):
        """The options a rule's params carry: its ``options`` mapping (keys of
        ``branches.<BRANCH>``, as ``branch_options`` gives them) and every other param
        named like a field (``seed``, ``device``); other params (``dataset``) are no
        options and are ignored. ``values`` override. Fields not given keep their
        defaults: a rule passes what its script reads."""
        if params is None:
            given: dict[str, Any] = {}
        elif hasattr(params, "items"):
            given = dict(params.items())
        else:
            given = dict(params)
        section = dict(given.pop("options", None) or {})
        names = set(cls.field_names())
        extra = {k: v for k, v in given.items() if k in names}
        return cls.from_section(section, **extra, **values)

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None = None, /, **values):
        """Options from (part of) the config section ``branches.<BRANCH>``, the
        workflow's own keys dropped, and ``values`` for the other fields; an unknown key
        raises ``ValueError`` naming the known ones."""
        merged = {k: v for k, v in dict(section or {}).items() if k not in cls.WORKFLOW_KEYS}
        merged.update(values)
        unknown = sorted(set(merged) - set(cls.field_names()))
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} of branches.{cls.BRANCH}; "
                f"known: {', '.join(cls.field_names())}"
            )
        return cls(**merged)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], /, **values):
        """Options from a whole workflow config (the dict of ``config.yaml`` after the
        schema's defaults): each field from its config key, keys absent keep the
        default; ``values`` override."""
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            path = options_config_path(cls, f)
            if path is None:
                continue
            node: Any = config
            for part in path.split("."):
                if not isinstance(node, Mapping) or part not in node:
                    break
                node = node[part]
            else:
                kw[f.name] = node
        kw.update(values)
        return cls.from_section({}, **kw)

    def replace(self, **changes):
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


def _frozen(value: Any) -> Any:
    """``value`` with its lists as tuples and its mappings read-only (recursively)."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping) and not isinstance(value, MappingProxyType):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    return value


def _schema_node(schema: Mapping, path: str) -> Mapping | None:
    node: Any = schema
    for part in path.split("."):
        props = node.get("properties", {}) if isinstance(node, Mapping) else {}
        if part not in props:
            return None
        node = props[part]
    return node


def _default(f: dataclasses.Field) -> Any:
    if f.default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _same(value: Any, schema_default: Any) -> bool:
    """A field's default is the schema's: equal, and of the same kind (``True`` is not
    ``1``; an int schema default may be a float field's); a tuple stands for a YAML list
    and any mapping for a YAML mapping (a frozen dataclass keeps immutable defaults)."""
    if isinstance(value, Mapping) and isinstance(schema_default, Mapping):
        return set(value) == set(schema_default) and all(
            _same(value[k], schema_default[k]) for k in value
        )
    if isinstance(value, list | tuple) and isinstance(schema_default, list | tuple):
        return len(value) == len(schema_default) and all(
            _same(a, b) for a, b in zip(value, schema_default, strict=True)
        )
    if isinstance(value, bool) or isinstance(schema_default, bool):
        return type(value) is type(schema_default) and value == schema_default
    if isinstance(value, float) and isinstance(schema_default, int | float):
        return value == schema_default
    return type(value) is type(schema_default) and value == schema_default


def schema_problems(cls: type[BranchOptions], schema: Mapping) -> list[str]:
    """How an options class and the config schema (the parsed
    ``config.schema.yaml``) disagree: a field whose config key is missing, has no
    description or another default; a key of ``branches.<BRANCH>`` that is neither a
    field nor in ``WORKFLOW_KEYS``; a workflow key missing from the section or also a
    field. Empty when they agree."""
    problems = []
    section = _schema_node(schema, f"branches.{cls.BRANCH}")
    if section is None:
        return [f"{cls.__name__}: the schema has no branches.{cls.BRANCH}"]
    keys = set(section.get("properties", {}))
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, f in fields.items():
        path = options_config_path(cls, f)
        if path is None:
            continue
        node = _schema_node(schema, path)
        if node is None:
            problems.append(f"{cls.__name__}.{name}: {path} is not in the schema")
            continue
        if not node.get("description"):
            problems.append(f"{cls.__name__}.{name}: {path} has no description")
        if "default" not in node:
            problems.append(f"{cls.__name__}.{name}: {path} has no default")
        elif not _same(_default(f), node["default"]):
            problems.append(
                f"{cls.__name__}.{name}: default {_default(f)!r}, "
                f"the schema's {path} {node['default']!r}"
            )
    for key in sorted(keys - set(fields) - set(cls.WORKFLOW_KEYS)):
        problems.append(f"{cls.__name__}: branches.{cls.BRANCH}.{key} is no field")
    for key in cls.WORKFLOW_KEYS:
        if key not in keys:
            problems.append(f"{cls.__name__}: workflow key {key} is not in the schema")
        if key in fields:
            problems.append(f"{cls.__name__}: {key} is a workflow key and a field")
    return problems
