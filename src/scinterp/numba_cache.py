"""Where numba keeps its compiled kernels between processes (memelite's Tomtom, the
conditions branch's count sums): one place for the cache folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["numba_cache"]


def numba_cache() -> None:
    """Set ``NUMBA_CACHE_DIR`` to ``$XDG_CACHE_HOME/scinterp/numba`` (``~/.cache`` without
    it) unless it is set, so that ``cache=True`` kernels compile once (memelite's first
    compile takes ~40 s); a read-only home leaves numba its default (``__pycache__``)."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        cache = (
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scinterp" / "numba"
        )
        try:
            cache.mkdir(parents=True, exist_ok=True)
            os.environ["NUMBA_CACHE_DIR"] = str(cache)
        except OSError:  # read-only home: numba falls back to __pycache__ beside the package
            pass
