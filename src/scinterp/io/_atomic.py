"""Atomic writers: outputs appear complete or not at all."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed onto ``path`` when the block ends and
    removed when it raises: an output appears complete or not at all (a job killed while
    writing leaves the previous file, or none).

    Parameters
    ----------
    path
        The file to write; its folder is created.
    suffix
        Extension of the temporary file, for writers that take the format from it
        (default: the extension of ``path``).

    Examples
    --------
    >>> with atomic_path("results/table.tsv") as tmp:  # doctest: +SKIP
    ...     df.to_csv(tmp, sep="\\t", index=False)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp{suffix}")
    # created as open() creates files (mode 0666 less the umask), unlike mkstemp's 0600
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_h5ad_atomic(adata, path: str | os.PathLike) -> None:
    """Write an AnnData to a temporary file next to ``path``, then rename it into place."""
    with atomic_path(path, ".h5ad") as tmp:
        adata.write_h5ad(tmp)


def write_tsv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table tab-separated with a header and no index, atomically."""
    with atomic_path(path, ".tsv") as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def write_figure_atomic(fig, path: str | os.PathLike, **kwargs) -> None:
    """Save a matplotlib figure atomically (format from the extension of ``path``)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    kwargs.setdefault("dpi", 120)
    kwargs.setdefault("bbox_inches", "tight")
    with atomic_path(path, "." + fmt) as tmp:
        fig.savefig(tmp, format=fmt, **kwargs)
