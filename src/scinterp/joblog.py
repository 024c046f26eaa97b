"""The log of a workflow job: one call at the top of every script (scripts/*.py).

`job_log` sends the script's stderr and the logging records to the rule's log file,
line-buffered, and enables `faulthandler` on it: a job killed by a signal (SIGSEGV,
SIGFPE, SIGABRT, SIGBUS, SIGILL) in native code leaves the Python traceback of every
thread in its log, so the log names the step it was in instead of being empty. A job that stops on a
`ScinterpInputError` (bad input found by the job itself) also prints its message
(dataset, file, fix) on snakemake's terminal. At exit the job writes its own CPU seconds
and wall time to the log (``job resources: ...``): Snakemake's benchmark files sample a
job's CPU time every 0.5 s for its first 15 s, then every 30 s, and keep the last sample,
so a 40-s job's ``cpu_time`` misses its last 25 s of work. Numba's parallel kernels
(UMAP, pynndescent, TF-MoDISco's forked workers, memelite) get the job's threads: Snakemake
sets ``OMP_NUM_THREADS`` and the BLAS variables to them, not ``NUMBA_NUM_THREADS``.
"""

from __future__ import annotations

import atexit
import faulthandler
import logging
import os
import resource
import sys
import time
from pathlib import Path

from scinterp.errors import ScinterpInputError

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def job_log(path, *, mode: str = "w", level: int = logging.INFO, torch_inputs=None):
    """Open ``path`` (the rule's ``log:``) as the job's stderr and logging stream, with
    `faulthandler` writing there on a fatal signal. ``mode="a"`` appends (a training job
    that resumes from its checkpoint keeps the log of its first run). ``torch_inputs``: a
    torch job's input files (``snakemake.input``); below ``REUSE_MEMORY_BELOW_GIB`` in
    all, freed memory stays in the process for the next allocation
    (`reuse_freed_memory`): every step allocates and frees the same large tensors.

    Returns
    -------
    file
        The open log (also ``sys.stderr``); it stays open for the job's life.
    """
    stream = open(path, mode, buffering=1)  # noqa: SIM115 - the job's stderr until it exits
    terminal = sys.__stderr__  # snakemake's own stderr: the user's terminal
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=level, force=True, format=LOG_FORMAT)
    faulthandler.enable(file=stream, all_threads=True)

    def excepthook(kind, err, tb):
        sys.__excepthook__(kind, err, tb)  # the traceback, into the log
        if isinstance(err, ScinterpInputError) and terminal is not None:
            # the message names dataset, file and fix: the terminal shows it beside
            # snakemake's "CalledProcessError", not only the log
            print(f"scinterp: {err}", file=terminal, flush=True)

    sys.excepthook = excepthook
    atexit.register(_log_resources, stream)
    _numba_threads()
    if torch_inputs is not None and input_gib(torch_inputs) < REUSE_MEMORY_BELOW_GIB:
        reuse_freed_memory()
    return stream


#: Inputs above this size keep glibc's default (large blocks returned to the kernel when
#: freed): a freed block in the middle of the heap stays resident, so an atlas-sized job
#: that frees a large matrix and then allocates a larger one would hold both; the peak
#: memory the rules request was measured without reuse (not measured with it at atlas
#: scale).
REUSE_MEMORY_BELOW_GIB = 2.0


def input_gib(files) -> float:
    """The size of a job's input files in GiB (a folder counts the files in it): the rules'
    resources scale with it (workflow/rules/common.smk), the torch jobs' memory reuse
    stops above ``REUSE_MEMORY_BELOW_GIB``. A file not made yet raises OSError."""
    total = 0
    for f in files:
        if os.path.isdir(f):
            total += sum(p.stat().st_size for p in Path(f).rglob("*") if p.is_file())
        else:
            total += os.stat(f).st_size
    return total / 2**30


def reuse_freed_memory() -> bool:
    """glibc's malloc from here on keeps what the process frees for its next allocations
    (no ``mmap`` per large block, no trimming below 2 GB) instead of returning it to the
    kernel, which zeroes every page again when the next block of the same size asks for
    it. A torch step allocates and frees the same activations and gradients each time:
    demo, one thread, alone: motif_contributions (DeepLIFT on sequences) 43 -> 24 CPU-s
    (system time 19.4 -> 3.3 s, 9.3M -> 0.9M page faults; peak RSS 2.6 -> 3.5 GB), a
    grn_sem member's training 58 -> 50 CPU-s (system 11.1 -> 0.7 s, the same peak).
    Returns False where the C library has no ``mallopt`` (not glibc): nothing changes."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 2**31 - 1))


def _numba_threads() -> None:
    """Numba's thread count = the job's (``OMP_NUM_THREADS``, which Snakemake sets to the
    rule's threads) unless ``NUMBA_NUM_THREADS`` is set. Numba's default is every core:
    a 1-thread job ran its parallel kernels on two (demo, discover_motifs: TF-MoDISco forked
    its Leiden runs into a child per core, 114 CPU-s beside the other core's job against
    55 on one thread, the same motifs)."""
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if not threads.isdigit() or int(threads) < 1 or "NUMBA_NUM_THREADS" in os.environ:
        return
    if "numba" in sys.modules:  # read its config at import: set the running count
        import numba

        numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
    else:
        os.environ["NUMBA_NUM_THREADS"] = threads


# Libraries that cost a job a second or more of CPU to import (scanpy ~3, torch ~1.3 and
# its compiler stack ~1.2 more, which torch.optim loads); the exit line names those the
# job loaded, so a job that imports one it does not use shows in its log.
HEAVY_MODULES = (
    "torch",
    "torch._dynamo",
    "captum",
    "scanpy",
    "anndata",
    "matplotlib.pyplot",
    "numba",
    "jax",
    "sklearn",
)


def _process_wall() -> float | None:
    """Seconds since this process started (Linux /proc), None elsewhere."""
    try:
        start_ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def job_resources() -> dict[str, float]:
    """The process's CPU seconds (its own and its waited-for children's, user + system),
    wall seconds since it started and peak RSS in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = _process_wall()
    return {
        "wall_s": round(wall, 2) if wall is not None else float("nan"),
        "cpu_s": round(own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime, 2),
        "user_s": round(own.ru_utime + kids.ru_utime, 2),
        "sys_s": round(own.ru_stime + kids.ru_stime, 2),
        "max_rss_mb": round(max(own.ru_maxrss, kids.ru_maxrss) / 1024, 1),
    }


def _log_resources(stream) -> None:
    if stream.closed:
        return
    r = job_resources()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} job resources: wall {r['wall_s']} s, "
        f"cpu {r['cpu_s']} s (user {r['user_s']}, sys {r['sys_s']}), "
        f"max_rss {r['max_rss_mb']} MB; loaded: "
        + (" ".join(m for m in HEAVY_MODULES if m in sys.modules) or "none"),
        file=stream,
        flush=True,
    )
