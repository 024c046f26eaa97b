"""The one harness every benchmark measures and records with (issue 29 item 5).

* :class:`Stopwatch` measures a block in this process: wall time, CPU seconds (this
  process and the children it waited for) and the peak resident memory so far.
* :func:`run` runs a command, its output to a log, and measures that child alone
  (``os.wait4``: its own CPU and peak RSS, whatever else this process does).
* :func:`run_workflow` is :func:`run` on ``snakemake`` with the repository's Snakefile in
  a working directory of its own: the one place benchmarks launch the workflow.
* :func:`row` and :func:`write_results` write ``results.json``: a list of rows, one
  schema for every benchmark (``ROW_KEYS``), which ``python -m benchmarks.headline``
  reads to make the headline table of benchmarks/README.md.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"  # the checked-in results the headline reads
ROW_KEYS = (
    "benchmark",
    "case",
    "dataset",
    "method",
    "metric",
    "value",
    "wall_s",
    "cpu_s",
    "peak_rss_mb",
    "commit",
    "date",
    "load",
)


@dataclass
class Measure:
    """What one measured block or command cost."""

    wall_s: float | None  # None: not measured
    cpu_s: float | None
    peak_rss_mb: float | None

    def as_dict(self, digits: int = 2) -> dict:
        return {k: None if v is None else round(v, digits) for k, v in asdict(self).items()}


def _cpu_now() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> float:
    """The peak resident memory so far of this process or its largest waited-for child, MB."""
    # ru_maxrss is KiB on Linux; the children's is the largest waited-for child's
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(me, kids) / 1024


class Stopwatch:
    """Started when made; ``wall()`` and ``cpu()`` read it, ``stop()`` gives a :class:`Measure`.

    The peak RSS is the process's peak so far (the kernel keeps no per-block peak): measure
    a memory-bound step in a child (:func:`run`) when its own peak matters.

    Examples
    --------
    >>> sw = Stopwatch()
    >>> m = sw.stop()
    >>> m.wall_s >= 0 and m.cpu_s >= 0
    True
    """

    def __init__(self) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = _cpu_now()

    def wall(self) -> float:
        return time.perf_counter() - self._wall0

    def cpu(self) -> float:
        return _cpu_now() - self._cpu0

    def stop(self) -> Measure:
        return Measure(self.wall(), self.cpu(), peak_rss_mb())


def timed(fn):
    """``fn()``, its wall and CPU seconds: ``(out, wall_s, cpu_s)``."""
    sw = Stopwatch()
    out = fn()
    return out, sw.wall(), sw.cpu()


@dataclass
class RunResult:
    """A finished command: exit code (``"timeout"`` when killed at the limit) and cost."""

    rc: int | str
    measure: Measure
    command: list[str]
    stdout: str = ""

    def as_dict(self) -> dict:
        return {"rc": self.rc, **self.measure.as_dict(), "command": " ".join(self.command)}


def run(
    cmd: list[str],
    *,
    log: Path | None = None,
    timeout: float | None = None,
    env: dict | None = None,
    capture: bool = False,
    cwd: Path | None = None,
) -> RunResult:
    """Run ``cmd``, stdout and stderr to ``log`` (or captured, or inherited), and measure it.

    CPU seconds and peak RSS are those of the child and the descendants it waited for
    (``os.wait4``); at ``timeout`` seconds its process group is killed and ``rc`` is
    ``"timeout"``.
    """
    cmd = [str(c) for c in cmd]
    fh = open(log, "w") if log is not None else None  # noqa: SIM115 - closed below
    out = subprocess.PIPE if capture else fh
    err = subprocess.STDOUT if (fh is not None or capture) else None
    sw = Stopwatch()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd,
                            start_new_session=True, text=capture)  # fmt: skip
    killed = threading.Event()

    def _kill() -> None:
        killed.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout, _kill) if timeout else None
    if timer:
        timer.start()
    stdout = proc.stdout.read() if capture else ""
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
    if timer:
        timer.cancel()
    if fh is not None:
        fh.close()
    wall = sw.wall()
    measure = Measure(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)
    rc = "timeout" if killed.is_set() else proc.returncode
    return RunResult(rc, measure, cmd, stdout)


def snakemake_command(
    workdir: Path, configfile: Path, cores: int, targets=(), extra=()
) -> list[str]:
    """The workflow on ``configfile`` in ``workdir`` (results/, logs/, .snakemake/ there)."""
    return [
        sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
        "--configfile", str(configfile), "--cores", str(cores), *extra, *targets,
    ]  # fmt: skip


def run_workflow(
    workdir: Path,
    configfile: Path,
    *,
    cores: int = 2,
    targets=(),
    extra=(),
    timeout: float | None = None,
    log: Path | None = None,
    capture: bool = False,
) -> RunResult:
    """Run Snakemake (:func:`snakemake_command`) through :func:`run`; log ``workdir/snakemake.log``.

    Jobs get one BLAS/OpenMP thread unless ``OMP_NUM_THREADS`` is set (the benchmarks
    share 2 cores).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    cmd = snakemake_command(workdir, configfile, cores, targets, extra)
    if log is None and not capture:
        log = workdir / "snakemake.log"
    return run(cmd, log=log, timeout=timeout, env=env, capture=capture)


def git_commit() -> str:
    """The short commit of the checkout, ``+ uncommitted changes`` when tracked files differ
    (``"unknown"`` outside git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return (head + (" + uncommitted changes" if dirty else "")) or "unknown"
    except OSError:
        return "unknown"


def load_now() -> float:
    """The machine's 1-minute load average: timings are noisy under load, so rows say it."""
    return round(os.getloadavg()[0], 2)


def row(
    benchmark: str,
    case: str,
    dataset: str,
    method: str,
    metric: str,
    value,
    measure: Measure | None = None,
    *,
    commit: str | None = None,
    date: str | None = None,
    load: float | str | None = None,
    **extra,
) -> dict:
    """One row of ``results.json`` (``ROW_KEYS``, then any ``extra`` keys, e.g. ``role``:
    ``ours`` or ``peer``, which ``benchmarks.headline`` compares). ``commit``, ``date`` and
    ``load`` default to the checkout's, today and the machine's load now."""
    value = None if value is None else (value if isinstance(value, str) else float(value))
    m = measure.as_dict() if measure is not None else {}
    return {
        "benchmark": benchmark,
        "case": case,
        "dataset": dataset,
        "method": method,
        "metric": metric,
        "value": value,
        "wall_s": m.get("wall_s"),
        "cpu_s": m.get("cpu_s"),
        "peak_rss_mb": m.get("peak_rss_mb"),
        "commit": commit or git_commit(),
        "date": date or time.strftime("%Y-%m-%d"),
        "load": load_now() if load is None else load,
        **extra,
    }


def validate_rows(rows: list[dict]) -> list[dict]:
    """Every row has every key of ``ROW_KEYS``; a clear error names the first that does not."""
    if not isinstance(rows, list):
        raise ValueError(f"results.json must hold a list of rows, not {type(rows).__name__}")
    for i, r in enumerate(rows):
        missing = [k for k in ROW_KEYS if k not in r]
        if missing:
            raise ValueError(f"results row {i} ({r.get('benchmark')}) lacks {missing}")
    return rows


def write_results(rows: list[dict], out: Path) -> Path:
    """``out/results.json`` (or ``out`` itself when it ends in .json), rows validated."""
    out = Path(out)
    path = out if out.suffix == ".json" else out / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(validate_rows(rows), indent=1, default=float) + "\n")
    tmp.replace(path)
    return path


def read_results(path: Path) -> list[dict]:
    """The rows of one ``results.json``, validated."""
    return validate_rows(json.loads(Path(path).read_text()))
