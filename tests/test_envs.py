"""The conda envs in envs/ agree with pyproject.toml (conda itself is not needed)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
CHANNELS = ["conda-forge", "bioconda", "nodefaults"]
# conda-forge names that are another name on PyPI
CONDA_ALIASES = {
    "python-igraph": "igraph",
    "matplotlib-base": "matplotlib",
    "pytorch": "torch",
    "dask-core": "dask",
}
CONDA_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)=([0-9][0-9A-Za-z.+!_]*)$")
PIP_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([0-9][0-9A-Za-z.+!_]*)$")


def normalise(name: str) -> str:
    name = re.sub(r"[-_.]+", "-", name.strip().lower())
    return CONDA_ALIASES.get(name, name)


def pyproject_pins(path: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    deps = tomllib.loads(path.read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        match = PIP_PIN.match(dep.replace(" ", ""))
        assert match, f"pyproject dependency not pinned exactly with ==: {dep!r}"
        pins[normalise(match[1])] = match[2]
    return pins


def env_pins(env: dict) -> tuple[dict[str, str], list[str]]:
    """Package -> version of one parsed env file, and the problems found."""
    pins: dict[str, str] = {}
    problems: list[str] = []

    def add(name: str, version: str, spec: str) -> None:
        key = normalise(name)
        if key in pins:
            problems.append(f"{spec!r}: {key} listed twice")
        pins[key] = version

    for dep in env.get("dependencies") or []:
        if isinstance(dep, dict):
            for spec in dep.get("pip") or []:
                match = PIP_PIN.match(str(spec).replace(" ", ""))
                if match:
                    add(match[1], match[2], spec)
                else:
                    problems.append(f"pip dependency {spec!r} is not pinned as name==version")
            continue
        match = CONDA_PIN.match(str(dep).replace(" ", ""))
        if match:
            add(match[1], match[2], dep)
        else:
            problems.append(f"conda dependency {dep!r} is not pinned as name=version")
    return pins, problems


def pin_mismatches(pins: dict[str, str], reference: dict[str, str]) -> list[str]:
    return [
        f"{name}: env has {version}, pyproject has {reference[name]}"
        for name, version in sorted(pins.items())
        if name in reference and version != reference[name]
    ]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_env_files_exist():
    names = {p.stem for p in ENV_FILES}
    assert {"scanpy", "torch", "motifs", "grn"} <= names


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_pyproject(path):
    pins, problems = env_pins(load(path))
    assert not problems, problems
    mismatches = pin_mismatches(pins, pyproject_pins())
    assert not mismatches, f"{path.name} disagrees with pyproject.toml: {mismatches}"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_python_and_channels(path):
    env = load(path)
    assert env["channels"] == CHANNELS
    assert "python=3.11" in env["dependencies"]
    pins, _ = env_pins(env)
    # pip serves the pip section and the post-deploy install of scinterp; conda warns
    # and picks an unpinned one when a pip section comes without it
    assert "pip" in pins


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_installs_scinterp(path):
    # Snakemake clears PYTHONPATH in conda jobs; each env installs scinterp through a
    # post-deploy script next to it (see the script for why not a relative pip entry).
    script = path.with_suffix(".post-deploy.sh")
    assert script.is_file(), f"{script.name} missing: the env would not have scinterp"
    text = script.read_text()
    assert text.startswith("#!")
    assert re.search(r"python -m pip install .*--no-deps.*-e \"\$root\"", text)
    assert text == (ROOT / "envs" / "scanpy.post-deploy.sh").read_text(), "scripts diverged"
    pins, _ = env_pins(load(path))
    # building the editable install offline needs the build backend in the env
    assert {"setuptools", "wheel", "pip"} <= pins.keys()


def test_torch_and_captum_from_pip():
    env = load(ROOT / "envs" / "torch.yaml")
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    reference = pyproject_pins()
    assert f"torch=={reference['torch']}" in pip
    assert f"captum=={reference['captum']}" in pip


def test_every_pyproject_dependency_is_in_some_env():
    covered = set()
    for path in ENV_FILES:
        covered |= env_pins(load(path))[0].keys()
    # the workflow engine runs outside the conda envs
    outside = {"snakemake", "snakemake-executor-plugin-slurm"}
    missing = set(pyproject_pins()) - covered - outside
    assert not missing, f"in pyproject but in no env: {sorted(missing)}"


def test_a_pin_bumped_in_one_place_is_caught():
    env = load(ROOT / "envs" / "scanpy.yaml")
    env["dependencies"] = [
        "scanpy=1.99.0" if str(d).startswith("scanpy=") else d for d in env["dependencies"]
    ]
    pins, problems = env_pins(env)
    assert not problems
    assert pin_mismatches(pins, pyproject_pins()) == [
        f"scanpy: env has 1.99.0, pyproject has {pyproject_pins()['scanpy']}"
    ]


def test_loose_pins_are_caught():
    env = {"dependencies": ["numpy>=2", "scipy", {"pip": ["torch>=2.0", "captum"]}]}
    pins, problems = env_pins(env)
    assert pins == {}
    assert len(problems) == 4
