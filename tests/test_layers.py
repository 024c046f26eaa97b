"""The package's layers, read from its imports: data flows one way through the house.

Every import of a ``scinterp`` module counts, at the top of a file or inside a
function (a lazy import is a dependency all the same). Each module belongs to a unit:
``scinterp.<x>`` for a top-level module or subpackage, ``scinterp.interpret.<branch>``
for a branch, ``scinterp.interpret`` for what the branches share (``branches``,
``options``, ``gene_scores``, ``stats``). A unit imports only units of lower layers, the
units of one layer know nothing of each other (the branches in particular), and no
modules import each other in a cycle. A new top-level module or branch must be placed in
:data:`LAYERS` (or found as a branch) before this test passes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "scinterp"

#: top to bottom; a unit may import the units of any layer below its own.
LAYERS: list[set[str]] = [
    # glue: what runs on a dataset before the workflow, the sweep, the demo data generator
    {"applicability", "sweep", "simulate"},
    # the config's checks (the conditions design among them)
    {"config"},
    # outputs: findings page, exports, run record, plots
    {"report"},
    # the branches, filled in from the subpackages of scinterp/interpret
    set(),
    # what the branches share: the Branch registry, options, gene-set scores, statistics
    {"interpret"},
    # stages and library parts that build on the models and data, independent of each other
    {"attribution", "evaluate", "preprocess"},
    {"train"},
    {"models"},
    {"data"},
    {"io"},
    # leaves
    {"device", "priors", "joblog", "numba_cache"},
    {"errors"},
]
BRANCH_LAYER = 3


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()
BRANCHES = sorted(
    p.parent.name for p in (PACKAGE / "interpret").glob("*/__init__.py") if p.parent.is_dir()
)


def _resolve(name: str) -> str | None:
    """The module an import names (``from a.b import c``: ``a.b.c`` if a module, else ``a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def import_graph() -> dict[str, set[str]]:
    """Module -> the scinterp modules it imports (with the packages Python runs to import
    them, except its own)."""
    graph: dict[str, set[str]] = {}
    for mod, path in MODULES.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{pkg}.{base}" if base else pkg
                names = [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                target = _resolve(name) if name.startswith("scinterp.") else None
                if target is not None:
                    deps |= _ancestors(target) & MODULES.keys()
        graph[mod] = deps - _ancestors(mod)
    return graph


def unit(mod: str) -> str | None:
    parts = mod.split(".")
    if len(parts) < 2:
        return None  # the package itself
    if parts[1] == "interpret" and len(parts) > 2 and parts[2] in BRANCHES:
        return f"interpret.{parts[2]}"
    return parts[1]


def layer_of(u: str) -> int:
    if u.startswith("interpret."):
        return BRANCH_LAYER
    for i, layer in enumerate(LAYERS):
        if u in layer:
            return i
    raise KeyError(u)


GRAPH = import_graph()


def test_the_branches_are_found():
    assert {"identity", "programs", "grn", "motifs", "conditions"} <= set(BRANCHES)


def test_every_unit_has_a_layer():
    units = {unit(m) for m in MODULES} - {None}
    missing = []
    for u in sorted(units):
        try:
            layer_of(u)
        except KeyError:
            missing.append(u)
    assert not missing, f"place these in tests/test_layers.py LAYERS: {missing}"


def test_imports_go_down_the_layers():
    wrong = []
    for mod, deps in GRAPH.items():
        u = unit(mod)
        if u is None:
            continue
        for dep in deps:
            d = unit(dep)
            if d is None or d == u:
                continue
            if layer_of(d) <= layer_of(u):  # index 0 is the top
                wrong.append(f"{mod} -> {dep} ({u} may not import {d})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "modules that import each other:\n" + "\n".join(map(str, cycles))


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder(graph, expected):
    assert _cycles(graph) == expected


def test_the_graph_sees_lazy_and_relative_imports():
    # a lazy import inside a function (integrate's kNN graph) and a relative one
    assert "scinterp.preprocess.neighbors" in GRAPH["scinterp.preprocess.integrate"]
    assert "scinterp.interpret.programs._stats" in GRAPH["scinterp.interpret.programs._compute"]
