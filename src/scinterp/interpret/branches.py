"""Branches by name: one :class:`Branch` per interpretation branch (identity, programs,
grn, motifs, ...), declared once and read by everything that used to name the branches.

Each branch declares itself in its own subpackage, ``scinterp/interpret/<branch>/_branch.py``,
ending in ``register_branch(Branch(...))``: its config section (``branches.<name>``), the
model roles it reads (:data:`scinterp.models.registry.ROLES`; a branch finds its models by
role, never by name), the dataset keys it needs, why it is off for a dataset, its
findings-page section (:mod:`scinterp.report.summary` loops over the registry), its columns in
``cell_activity.h5ad`` (:func:`scinterp.report.export.cell_activity` loops too), the exports made
from its tables, and its two Snakemake files, which the ``Snakefile`` includes for every
registered branch. The workflow's input functions (``workflow/rules/inputs/summary.smk``,
``common.smk``) ask the registry instead of lists of branch names.

:func:`branches` finds the built-in branches by looking for ``_branch.py`` in each
subpackage of :mod:`scinterp.interpret`, so a new branch is its subpackage and its rules
files, nothing else here. This module imports nothing heavy (no torch, no anndata): the
``Snakefile`` reads it when the workflow is parsed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BRANCHES",
    "VAR_COLUMNS",
    "Branch",
    "Columns",
    "branch",
    "branch_names",
    "branches",
    "register_branch",
    "resolve",
]


# the var columns of cell_activity.h5ad (the feature name is the index)
VAR_COLUMNS = ["feature", "kind", "name", "method", "genes", "tf"]


@dataclass
class Columns:
    """A branch's columns of ``cell_activity.h5ad`` (the return of ``Branch.columns``).

    ``X`` is cells x columns in the order of the cells given; ``var`` one row per
    column, the tuple of :data:`VAR_COLUMNS` (``feature`` as ``"<kind>:<name>"``);
    ``obs`` and ``uns`` are added to the AnnData's obs and ``uns["scinterp"]``.
    """

    X: np.ndarray
    var: list[tuple[str, str, str, str, str, str]]
    obs: dict = field(default_factory=dict)
    uns: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Branch:
    """What the rest of scinterp knows about one interpretation branch.

    Paths are relative to the dataset's results folder (``results/{dataset}/``).

    Parameters
    ----------
    name
        Registry name: the config section ``branches.<name>`` (whose ``enabled`` switches
        it), ``results/{dataset}/<name>/``, the ``{name}_targets`` of its inputs file.
    order
        Its place among the branches: on the findings page, in ``cell_activity.h5ad``, in
        the ``Snakefile``'s includes (identity 10, programs 20, grn 30, motifs 40).
    reads
        Model roles it reads (``ModelSpec.provides``: ``cell_types``, ``programs``,
        ``network``, ``sequence``). Its models on a dataset are the trained ones that
        provide one of them, in ``train.models`` order.
    needs_model
        Whether it is off when no trained model provides a role of ``reads`` (the
        programs branch runs without one: its ``score_genes`` baseline).
    no_model
        The reason shown when no model is trained; ``{models}`` is replaced by the
        registered models of its roles (``"grn_sem"``, ``"seq_cnn or toy_cnn"``).
    data
        Dataset keys (``datasets.<name>.<key>``) it cannot run without (``atac``).
    no_data
        The reason shown when one is unset; ``{key}`` is replaced by the key.
    summary_tables
        Summary input key -> table path, in the order of the section function's
        positional arguments; the first is the main table: the section is on the page
        when that table was made. The others may be missing (passed as None).
    summary_figures
        Summary input key -> (figure path, caption), passed as ``figures=[(path,
        caption), ...]`` in this order, those that were made.
    section
        The function that renders its section of the findings page, or its import path
        (``"scinterp.report.summary:grn_section"``): ``section(*tables, figures=...) -> Section``.
    other_tools
        Lines of the page's "Files for other tools" list, shown with its section.
    cell_activity
        Input key -> file of its per-cell scores, read by rule ``cell_activity`` (a
        ``.tsv`` as a DataFrame, a ``.h5ad`` as an AnnData).
    columns
        The function (or its import path) that turns those files into
        ``cell_activity.h5ad`` columns: ``columns(value, cells=, source=, n_genes=, seed=,
        chunk_rows=, dataset=) -> Columns | None``, one call per key.
    exports
        Files for other tools that the summary stage makes from its tables when it runs
        (``grn/adjacencies.tsv``): final targets beside the page.
    rules
        Its Snakemake files, relative to the ``Snakefile``'s folder (or absolute), in
        the order they are included: the inputs file (config, input functions,
        ``{name}_targets``), then the rules file. Default:
        ``workflow/rules/inputs/<name>.smk`` and ``workflow/rules/<name>.smk``.
    options
        Its options class (or its import path), a frozen
        :class:`scinterp.interpret.options.BranchOptions` whose fields and defaults are
        those of its config section (``tests/interpret/test_options.py`` checks them);
        its scripts build it with ``from_params`` and pass it to its ``run``.
    """

    name: str
    order: int
    reads: tuple[str, ...] = ()
    needs_model: bool = True
    no_model: str = "no model of {models} was trained on this dataset"
    data: tuple[str, ...] = ()
    no_data: str = "the dataset has no {key} data"
    summary_tables: Mapping[str, str] = field(default_factory=dict)
    summary_figures: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    section: str | Callable[..., Any] | None = None
    other_tools: tuple[str, ...] = ()
    cell_activity: Mapping[str, str] = field(default_factory=dict)
    columns: str | Callable[..., Any] | None = None
    exports: tuple[str, ...] = ()
    rules: tuple[str, ...] | None = None
    options: str | type | None = None

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"branch {self.name!r}: the name must be a Python identifier")
        if self.summary_tables and self.section is None:
            raise ValueError(f"branch {self.name!r}: summary_tables without a section function")
        if self.cell_activity and self.columns is None:
            raise ValueError(f"branch {self.name!r}: cell_activity without a columns function")
        clash = set(self.summary_tables) & set(self.summary_figures)
        if clash:
            raise ValueError(f"branch {self.name!r}: keys {sorted(clash)} are tables and figures")
        if self.rules is None:
            rules = (f"workflow/rules/inputs/{self.name}.smk", f"workflow/rules/{self.name}.smk")
            object.__setattr__(self, "rules", rules)

    @property
    def config_key(self) -> str:
        """Its config section, ``branches.<name>``."""
        return f"branches.{self.name}"

    def options_class(self) -> type | None:
        """Its options class (:attr:`options` imported), or None."""
        return None if self.options is None else resolve(self.options)

    @property
    def main_table(self) -> str | None:
        """The summary input key whose table puts its section on the page."""
        return next(iter(self.summary_tables), None)

    def summary_files(self) -> dict[str, str]:
        """Summary input key -> path of every table and figure its section may show."""
        return {
            **self.summary_tables,
            **{k: path for k, (path, _) in self.summary_figures.items()},
        }

    def off_reason(
        self,
        *,
        enabled: bool,
        dataset: Mapping[str, Any],
        models: Sequence[str],
        registered: Sequence[str] = (),
        skipped: Mapping[str, str] | None = None,
    ) -> str | None:
        """Why the branch does not run on a dataset, or None when it runs.

        Checked in this order: the config switch (``enabled``), the dataset keys of
        ``data``, a reason of ``run/skipped.tsv`` (``skipped["branch <name>"]``, the
        dataset's data do not fit, :mod:`scinterp.applicability`), then ``models``, the
        trained models that provide its roles (``registered``: every model that could,
        for the message).
        """
        if not enabled:
            return f"{self.config_key}.enabled is false"
        for key in self.data:
            if not dataset.get(key):
                return self.no_data.format(key=key)
        part = f"branch {self.name}"
        if skipped and part in skipped:
            return skipped[part]
        if self.reads and self.needs_model and not models:
            return self.no_model.format(models=" or ".join(registered) or "none registered")
        return None


# name -> branch, as registered; branches() gives them in `order`.
BRANCHES: dict[str, Branch] = {}
_LOADED = False


def register_branch(spec: Branch) -> Branch:
    """Add (or replace) a branch; returns ``spec``. Call it in the branch's ``_branch.py``."""
    if not isinstance(spec, Branch):
        raise TypeError(f"register_branch takes a Branch, got {type(spec).__name__}")
    # the summary's and cell_activity's input keys are one namespace per rule
    mine = set(spec.summary_files()) | set(spec.cell_activity)
    for other in BRANCHES.values():
        clash = mine & (set(other.summary_files()) | set(other.cell_activity))
        if other.name != spec.name and clash:
            raise ValueError(
                f"branch {spec.name!r}: input keys {sorted(clash)} are branch {other.name!r}'s"
            )
    BRANCHES[spec.name] = spec
    return spec


def _load_builtin() -> None:
    """Import ``_branch.py`` of every subpackage of :mod:`scinterp.interpret` (once)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    here = Path(__file__).parent
    for sub in sorted(p for p in here.iterdir() if (p / "_branch.py").is_file()):
        importlib.import_module(f"scinterp.interpret.{sub.name}._branch")


def branches() -> list[Branch]:
    """Every registered branch, by ``order`` (then name)."""
    _load_builtin()
    return sorted(BRANCHES.values(), key=lambda b: (b.order, b.name))


def branch_names() -> list[str]:
    """The registered branch names, by ``order``."""
    return [b.name for b in branches()]


def branch(name: str) -> Branch:
    """The branch registered under ``name`` (``ValueError`` naming the known branches)."""
    _load_builtin()
    if name not in BRANCHES:
        raise ValueError(f"unknown branch {name!r}; known branches: {', '.join(branch_names())}")
    return BRANCHES[name]


def resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """A function, or the one an import path ``"package.module:function"`` names."""
    if callable(target):
        return target
    module_name, _, attr = str(target).partition(":")
    return getattr(importlib.import_module(module_name), attr)
