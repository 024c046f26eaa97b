"""Reading count matrices and writing outputs atomically.

`read_counts` accepts an ``.h5ad`` file, a 10x ``.h5`` file (Cell Ranger, including
the multiome ARC matrix), a MuData ``.h5mu`` file or a Matrix Market directory
(detected by path) and returns an AnnData whose ``.X`` holds the raw integer counts as
float32 CSR. Where the counts are not in ``.X`` and the config names no source, they
are looked for in ``.raw.X`` and in layers named like ``counts``. With ``symbol_key``
the gene symbols of a var column become the var names (atlas files keep Ensembl IDs
there). `read_atac` takes the peaks of the same multiome file; `read_peaks` their
coordinates (var columns or names like ``chr1:100-600``). Bad input raises
`ScinterpInputError` naming the dataset, the file and the fix.

The subpackage, one module per job (this module re-exports their public names):
``_read`` `read_counts` and `read_atac`; ``_peaks`` `read_peaks`; ``_formats`` format detection, 10x ``.h5``,
Matrix Market and ``.h5mu`` modalities; ``_counts`` where the raw counts are and their
checks (and `validate_obs_keys`); ``_symbols`` gene symbols and the species check;
``_h5ad`` partial readers of the workflow's ``.h5ad`` files (`iter_row_chunks` streams
a matrix in row chunks); ``_atomic`` atomic writers; ``_util`` helpers of the readers.
"""

from scinterp.io._atomic import (
    atomic_path,
    write_figure_atomic,
    write_h5ad_atomic,
    write_tsv_atomic,
)
from scinterp.io._counts import (
    COUNT_LAYER_NAMES,
    RAW,
    check_counts,
    count_layer_candidates,
    counts_problem,
    validate_obs_keys,
)
from scinterp.io._formats import (
    detect_format,
    h5_feature_types,
    h5mu_modalities,
    require_h5mu_modality,
)
from scinterp.io._h5ad import (
    iter_row_chunks,
    read_annotations,
    read_meta,
    read_normalized,
    read_rows,
    read_var,
)
from scinterp.io._peaks import read_peaks
from scinterp.io._read import read_atac, read_counts
from scinterp.io._symbols import (
    MIN_SYMBOLS_FOR_SPECIES,
    MIXED_FRACTION,
    SPECIES,
    SYMBOL_COLUMNS,
    check_species,
    symbol_styles,
    use_symbols,
)

__all__ = [
    "COUNT_LAYER_NAMES",
    "MIN_SYMBOLS_FOR_SPECIES",
    "MIXED_FRACTION",
    "RAW",
    "SPECIES",
    "SYMBOL_COLUMNS",
    "atomic_path",
    "check_counts",
    "check_species",
    "count_layer_candidates",
    "counts_problem",
    "detect_format",
    "h5_feature_types",
    "h5mu_modalities",
    "iter_row_chunks",
    "read_annotations",
    "read_atac",
    "read_counts",
    "read_meta",
    "read_normalized",
    "read_peaks",
    "read_rows",
    "read_var",
    "require_h5mu_modality",
    "symbol_styles",
    "use_symbols",
    "validate_obs_keys",
    "write_figure_atomic",
    "write_h5ad_atomic",
    "write_tsv_atomic",
]
