"""Shared fixtures, the guard that keeps Snakemake out of the fast tests, and
``--cpu-durations N`` (the N tests that used most CPU, children included: wall times
mislead on a shared machine)."""

from __future__ import annotations

import os
import re
import resource
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------ one thread per pool
# BLAS and OpenMP pools of one thread: on a shared 2-core machine (or with pytest -n 2)
# more threads only spin. OpenBLAS's spinning made the conditions branch's small logistic
# regressions cost 23 CPU s instead of 2.5. Libraries loaded later read the variables;
# numpy's OpenBLAS is loaded already (by a plugin), so threadpoolctl limits it. A value
# the user set wins. NUMBA_NUM_THREADS too: numba's OpenMP layer (scanpy's Wilcoxon,
# scrublet, UMAP) sets the OpenMP pool torch shares to numba's count, 2 here; every later
# torch test then spun a second thread: the identity ensemble test cost 10.8 CPU s instead
# of 1.8, scrublet's 157 instead of 3.7, the integration VAE's 113 instead of 10.6 (load 10).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if os.environ["OPENBLAS_NUM_THREADS"] == "1":
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
# numba's workqueue layer, not GNU OpenMP: it shares no pool with torch, and it is fork
# safe, so modisco-lite still compiles its kernels into numba's cache in forked children
# after scanpy ran a parallel kernel (under OpenMP it compiled them in-process, uncached:
# the modisco test cost 32 CPU s after a Wilcoxon test instead of 4).
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
# ... and no thread but the main one, which modisco-lite also requires: tqdm's monitor
# thread, started by the first progress bar of an earlier test, made the modisco test
# compile in-process (17 CPU s in the suite, 4 alone).
import tqdm  # noqa: E402

tqdm.tqdm.monitor_interval = 0
# JAX's compiled scib-metrics kernels (tests/test_integrate.py: 222 compilations, ~9 CPU s
# of its 23) kept between runs, beside the numba cache scinterp keeps for memelite.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scinterp" / "jax"
    try:
        _cache.mkdir(parents=True, exist_ok=True)
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(_cache)
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    except OSError:  # read-only home: JAX compiles as before
        pass

# ------------------------------------------------------------------ no Snakemake when fast
# `pytest -m "not slow"` must not run the workflow, not even a dry run: a test that starts
# Snakemake (a subprocess, or its API in-process) is marked slow. An audit hook sees every
# subprocess a test starts; it raises before Snakemake starts and the test fails.
_GUARD = {"test": None, "seen": []}
_SNAKEMAKE_MODULES = ("snakemake.api", "snakemake.workflow")


def _starts_snakemake(argv) -> bool:
    if isinstance(argv, str | bytes | os.PathLike):
        argv = [argv]
    words = [os.fsdecode(w) for w in argv]
    if words and os.path.basename(words[0]).startswith("snakemake"):
        return True
    return any(w == "-m" and nxt == "snakemake" for w, nxt in zip(words, words[1:], strict=False))


def _audit(event: str, args: tuple) -> None:
    test = _GUARD["test"]
    if test is None:
        return
    if event == "subprocess.Popen":
        hit = _starts_snakemake(args[1] if args[1] is not None else args[0])
    elif event in ("os.exec", "os.posix_spawn"):
        hit = _starts_snakemake(args[1])
    elif event == "os.spawn":
        hit = _starts_snakemake(args[2])
    elif event == "os.system":
        hit = re.search(r"(^|[\s/])snakemake(\s|$)|-m\s+snakemake", os.fsdecode(args[0]))
    elif event == "import":
        hit = args[0] in _SNAKEMAKE_MODULES
    else:
        return
    if hit:
        _GUARD["seen"].append(f"{event}: {args[:2]!r}")
        raise RuntimeError(
            f"{test} starts Snakemake ({event}) but is not marked slow: "
            "mark it @pytest.mark.slow or test the behaviour without a workflow run"
        )


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def _no_snakemake_when_fast(request, monkeypatch):
    """Fails a fast test that started Snakemake, even where it caught the guard's error."""
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    if "snakemake.api" in sys.modules:  # imported by an earlier slow test: no import event
        api = sys.modules["snakemake.api"].SnakemakeApi

        def refuse(*args, **kwargs):
            _audit("import", ("snakemake.api",))

        monkeypatch.setattr(api, "workflow", refuse)
    yield
    # a test that failed on the guard's error has said why; one that caught it fails here
    if _GUARD["seen"] and not request.node.stash.get(_CALL_FAILED, False):
        pytest.fail(
            "a fast test started Snakemake (mark it slow): " + "; ".join(_GUARD["seen"]),
            pytrace=False,
        )


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    if report.when == "teardown" and _CPU_START in item.stash:
        # on the report, so that pytest-xdist's controller sees it too
        report.user_properties.append(("cpu_s", _cpu_now() - item.stash[_CPU_START]))
    return report


# ------------------------------------------------------------------ CPU per test
_CPU: dict[str, float] = {}
_CPU_START = pytest.StashKey[float]()


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def pytest_addoption(parser):
    parser.addoption(
        "--cpu-durations",
        type=int,
        default=None,
        metavar="N",
        help="show the N tests that used most CPU seconds (setup + call + teardown, "
        "finished child processes included)",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # the guard covers the test's whole protocol: module-scoped fixtures set up for it too
    fast = item.get_closest_marker("slow") is None
    _GUARD["test"], _GUARD["seen"] = (item.nodeid if fast else None), []
    item.stash[_CPU_START] = _cpu_now()
    try:
        yield
    finally:
        _GUARD["test"] = None


def pytest_runtest_logreport(report):
    for key, value in report.user_properties:
        if key == "cpu_s" and report.when == "teardown":
            _CPU[report.nodeid] = value


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    n = config.getoption("cpu_durations")
    if n is None or not _CPU:
        return
    terminalreporter.write_sep("=", f"most CPU: {n} tests (of {sum(_CPU.values()):.1f} CPU s)")
    for nodeid, cpu in sorted(_CPU.items(), key=lambda kv: -kv[1])[: n or None]:
        terminalreporter.write_line(f"{cpu:8.2f}s cpu  {nodeid}")


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (where the Snakefile lives)."""
    return REPO


@pytest.fixture(scope="session")
def schema_defaults():
    """``schema_defaults(section)``: the config schema's default of every key of a top-level
    section (``train``, ``attribution``, ...), as the workflow fills them in."""
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())

    def defaults(section: str) -> dict:
        props = schema["properties"][section]["properties"]
        return {k: v["default"] for k, v in props.items() if "default" in v}

    return defaults


@pytest.fixture(autouse=True, scope="session")
def _headless():
    os.environ.setdefault("MPLBACKEND", "Agg")
