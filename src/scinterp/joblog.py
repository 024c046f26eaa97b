"""The log of a workflow job: one call at the top of every script (scripts/*.py).

`job_log` sends the script's stderr and the logging records to the rule's log file,
line-buffered, and enables `faulthandler` on it: a job killed by a signal (SIGSEGV,
SIGFPE, SIGABRT, SIGBUS, SIGILL) in native code leaves the Python traceback of every
thread in its log, so the log names the step it was in instead of being empty. A job that stops on a
`ScinterpInputError` (bad input found by the job itself) also prints its message
(dataset, file, fix) on snakemake's terminal.
"""

from __future__ import annotations

import faulthandler
import logging
import sys

from scinterp.errors import ScinterpInputError

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def job_log(path, *, mode: str = "w", level: int = logging.INFO):
    """Open ``path`` (the rule's ``log:``) as the job's stderr and logging stream, with
    `faulthandler` writing there on a fatal signal. ``mode="a"`` appends (a training job
    that resumes from its checkpoint keeps the log of its first run).

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
    return stream
