"""Peak coordinates of a cells x peaks AnnData, from var columns or from the peak names."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scinterp.errors import ScinterpInputError
from scinterp.io._util import _examples

_CHROM_NAMES = ("chrom", "chr", "chromosome", "seqnames", "seqname")
_START_NAMES = ("start", "chromstart")
_END_NAMES = ("end", "chromend")

# chr1:100-600 first (the usual 10x/ArchR form), then chr1-100-600 and chr1_100_600.
# The chromosome part is greedy so names like chrUn_KI270302v1_100_600 split correctly.
_NAME_PATTERNS = (
    re.compile(r"^(?P<chrom>.+):(?P<start>-?\d+)-(?P<end>-?\d+)$"),
    re.compile(r"^(?P<chrom>.+)[-_](?P<start>\d+)[-_](?P<end>\d+)$"),
)


def _find_column(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lower = {str(c).lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def read_peaks(atac, *, dataset: str | None = None, path=None) -> pd.DataFrame:
    """Read peak coordinates from a cells x peaks AnnData.

    Coordinates come from ``atac.var`` columns ``chrom, start, end`` (column names
    are matched case-insensitively; ``chr``, ``chromosome``, ``seqnames`` and
    ``chromStart``/``chromEnd`` are accepted too) or, when those are absent, from
    var names of the form ``chr1:100-600``, ``chr1-100-600`` or ``chr1_100_600``.

    Parameters
    ----------
    atac
        AnnData with peaks as variables.
    dataset, path
        Dataset name and file, for error messages.

    Returns
    -------
    pandas.DataFrame
        Peak table with columns ``peak, var_idx, chrom, start, end`` in AnnData
        order (see :mod:`scinterp.data.peaks`). Not yet validated: see
        :func:`scinterp.data.peaks.validate_peaks`.
    """
    var = atac.var
    names = pd.Index(atac.var_names).astype(str)
    chrom_col = _find_column(var.columns, _CHROM_NAMES)
    start_col = _find_column(var.columns, _START_NAMES)
    end_col = _find_column(var.columns, _END_NAMES)
    if chrom_col is not None and start_col is not None and end_col is not None:
        chrom = var[chrom_col].astype(str).to_numpy()
        start = pd.to_numeric(var[start_col], errors="coerce").to_numpy()
        end = pd.to_numeric(var[end_col], errors="coerce").to_numpy()
        bad = np.isnan(start.astype(float)) | np.isnan(end.astype(float))
        if bad.any():
            raise ScinterpInputError(
                f"{int(bad.sum())} peaks have a non-numeric start or end in var columns "
                f"'{start_col}'/'{end_col}' (e.g. {_examples(names[bad])}).",
                dataset=dataset,
                path=path,
                fix="store integer peak coordinates in atac.var.",
            )
    else:
        as_series = pd.Series(names)
        parsed = as_series.str.extract(_NAME_PATTERNS[0])
        for pattern in _NAME_PATTERNS[1:]:
            missing = parsed["chrom"].isna()
            if not missing.any():
                break
            parsed.loc[missing] = as_series[missing].str.extract(pattern)
        unparsed = parsed["chrom"].isna().to_numpy()
        if unparsed.any():
            raise ScinterpInputError(
                "cannot find peak coordinates: atac.var has no chrom/start/end columns and "
                f"{int(unparsed.sum())} of {len(names)} var names are not of the form "
                f"chr1:100-600 (e.g. {_examples(names[unparsed])}).",
                dataset=dataset,
                path=path,
                fix="add columns chrom, start, end to atac.var or name peaks chrom:start-end.",
            )
        chrom = parsed["chrom"].to_numpy(dtype=object).astype(str)
        start = parsed["start"].astype(np.int64).to_numpy()
        end = parsed["end"].astype(np.int64).to_numpy()
    return pd.DataFrame(
        {
            "peak": names.to_numpy(),
            "var_idx": np.arange(len(names), dtype=np.int64),
            "chrom": chrom,
            "start": np.asarray(start).astype(np.int64),
            "end": np.asarray(end).astype(np.int64),
        }
    )
