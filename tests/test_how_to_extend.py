"""README "How to extend" names every file to touch to add a model, an attribution method,
a GRN peer or a branch. These tests keep its lists true: every path it names exists (a
placeholder such as ``<branch>`` for every built-in one), every test it names exists,
and every built-in model, method, peer and branch has its place in each file its list
names, so the list is what adding one more takes. The toy tests go further and add one
(``tests/models/test_adding_a_model.py``, ``tests/workflow/test_adding_a_branch.py``,
whose toy branch touches exactly the branch list's files).
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import yaml

from scinterp.attribution.core import METHOD_CLASSES
from scinterp.interpret.branches import branches
from scinterp.interpret.grn.peers import PEERS
from scinterp.models.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
HEADINGS = {
    "model": "**A model**",
    "method": "**An attribution method**",
    "peer": "**A GRN peer**",
    "branch": "**A branch**",
}
TOP_DIRS = ("src/", "workflow/", "scripts/", "config/", "tests/", "envs/", "resources/")


def _section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## How to extend")
    return text[start : text.index("\n## ", start + 1)]


def checklists() -> dict[str, str]:
    """Each checklist's text, from its heading to the next heading (or the section's end)."""
    text = _section()
    starts = sorted((text.index(h), key) for key, h in HEADINGS.items())
    out = {}
    for (pos, key), nxt in zip(starts, [*starts[1:], (len(text), None)], strict=True):
        out[key] = text[pos : nxt[0]]
    return out


def listed_paths(block: str) -> set[str]:
    """The repository paths a checklist names (backticked; a test's ``::name`` dropped)."""
    tokens = re.findall(r"`([^`\s]+)`", block)
    return {t.split("::")[0] for t in tokens if t.startswith(TOP_DIRS)}


def named_tests(block: str) -> set[tuple[str, str]]:
    return set(re.findall(r"`(tests/[^`:\s]+\.py)::(\w+)`", block))


def _rule_scripts(smk: Path) -> set[str]:
    return set(re.findall(r"\.\./\.\./scripts/(\w+)\.py", smk.read_text()))


BRANCHES = [b.name for b in branches()]
MODEL_MODULES = sorted({spec.cls.__module__.rsplit(".", 1)[1] for spec in MODELS.values()})
PLACEHOLDERS = {
    "<name>": MODEL_MODULES,
    "<branch>": BRANCHES,
    "<rule>": sorted(
        set().union(*(_rule_scripts(REPO / "workflow" / "rules" / f"{b}.smk") for b in BRANCHES))
    ),
}
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
CONFIG_README = (REPO / "config" / "README.md").read_text()


def test_the_four_checklists_are_there():
    lists = checklists()
    assert set(lists) == set(HEADINGS)
    for key, block in lists.items():
        assert re.search(r"^1\. `", block, flags=re.M), f"the {key} checklist has no items"


@pytest.mark.parametrize("kind", sorted(HEADINGS))
def test_every_listed_path_exists(kind):
    missing = []
    for path in sorted(listed_paths(checklists()[kind])):
        holes = [p for p in PLACEHOLDERS if p in path]
        assert len(holes) <= 1, path
        values = PLACEHOLDERS[holes[0]] if holes else [None]
        for value in values:
            real = path if value is None else path.replace(holes[0], value)
            if not (REPO / real).exists():
                missing.append(real)
    assert not missing, f"README How to extend ({kind}) names missing paths: {missing}"


@pytest.mark.parametrize("kind", sorted(HEADINGS))
def test_every_named_test_exists(kind):
    for path, name in named_tests(checklists()[kind]):
        assert re.search(rf"^def {name}\(", (REPO / path).read_text(), flags=re.M), (
            f"{path}::{name}"
        )


def test_the_branch_count_is_the_number_of_files_listed():
    block = checklists()["branch"]
    counts = {int(n) for n in re.findall(r"(\d+) files", block[: block.index("\n1. ")])}
    items = re.findall(r"^\d+\. `([^`]+)`", block, flags=re.M)
    assert counts == {len(items)}, (counts, items)


def test_every_model_has_its_place_in_the_model_list():
    listed = listed_paths(checklists()["model"])
    assert {"src/scinterp/models/<name>.py", "src/scinterp/models/__init__.py"} <= listed
    assert {"workflow/schemas/config.schema.yaml", "config/README.md"} <= listed
    init = (REPO / "src" / "scinterp" / "models" / "__init__.py").read_text()
    train = SCHEMA["properties"]["train"]["properties"]
    for name, spec in MODELS.items():
        module = spec.cls.__module__.rsplit(".", 1)[1]
        assert re.search(rf"\b{module}\b", init), f"models/__init__.py does not import {module}"
        assert name in train["models"]["items"]["enum"], name
        assert train[name].get("x-model-settings"), f"train.{name} in the schema"
        assert f"train.{name}" in CONFIG_README, name


def test_every_method_has_its_place_in_the_method_list():
    listed = listed_paths(checklists()["method"])
    assert {"src/scinterp/attribution/core.py", "workflow/schemas/config.schema.yaml"} <= listed
    enum = SCHEMA["properties"]["attribution"]["properties"]["methods"]["items"]["enum"]
    for name, cls in METHOD_CLASSES.items():
        assert Path(inspect.getsourcefile(cls)).name == "core.py", name
        assert name in enum, name
        assert name in CONFIG_README, name


def test_every_peer_has_its_place_in_the_peer_list():
    listed = listed_paths(checklists()["peer"])
    assert {
        "src/scinterp/interpret/grn/peers.py",
        "workflow/rules/grn.smk",
        "workflow/rules/inputs/grn.smk",
        "workflow/schemas/config.schema.yaml",
        "config/README.md",
    } <= listed
    rules = (REPO / "workflow" / "rules" / "grn.smk").read_text()
    peer_rules = {
        m.group(1)
        for m in re.finditer(
            r"^rule (\w+):\n(?:(?!^rule ).*\n)*?.*scripts/grn_peer\.py", rules, re.M
        )
    }
    assert peer_rules == set(PEERS), "a rule with script grn_peer.py per peer"
    switches = re.search(
        r"_PEER_SWITCHES = \(([^)]*)\)", (REPO / "workflow/rules/inputs/grn.smk").read_text()
    )
    assert set(re.findall(r'"(\w+)"', switches.group(1))) == set(PEERS)
    grn = SCHEMA["properties"]["branches"]["properties"]["grn"]["properties"]
    for name, fn in PEERS.items():
        assert Path(inspect.getsourcefile(fn)).name == "peers.py", name
        assert grn[name]["type"] == "boolean" and "default" in grn[name], name
        assert f"branches.grn.{name}" in CONFIG_README, name


def test_every_branch_has_its_place_in_the_branch_list():
    listed = listed_paths(checklists()["branch"])
    assert {
        "src/scinterp/interpret/<branch>/__init__.py",
        "src/scinterp/interpret/<branch>/_branch.py",
        "scripts/<rule>.py",
        "workflow/rules/inputs/<branch>.smk",
        "workflow/rules/<branch>.smk",
        "workflow/schemas/config.schema.yaml",
        "config/README.md",
    } <= listed
    props = SCHEMA["properties"]["branches"]["properties"]
    for name in BRANCHES:
        assert "enabled" in props[name]["properties"], name
        assert f"branches.{name}.enabled" in CONFIG_README, name
        for script in _rule_scripts(REPO / "workflow" / "rules" / f"{name}.smk"):
            assert (REPO / "scripts" / f"{script}.py").exists(), (name, script)
