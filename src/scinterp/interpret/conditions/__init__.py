"""What changes between conditions, per cell type, with the sample (donor) as the unit.

Four tables (CONTRACT.md): ``genes`` (pydeseq2 pseudobulk, per-sample expression-shape
features under a moderated t, and their Cauchy ``consensus``), ``programs`` (program
activity per sample x type, moderated t), ``celltypes`` (a condition classifier per cell
type cross-validated by sample, sample-permutation p-value) and ``abundance``
(log-ratio of each type's share to the unchanged types'). Every statistic is across samples; cells are never replicates. Adjusted
p-values are Benjamini-Hochberg within (method, contrast) of each table, over every cell
type. No torch (nor pydeseq2, sklearn) import at package import time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ._celltypes import TYPE_COLUMNS, sample_folds, test_celltypes
from ._common import cauchy_combine
from ._design import check_design, contrasts_of, sample_conditions
from ._genes import GENE_COLUMNS, gene_sums, test_genes
from ._io import LazyCells, open_cells
from ._moderated import fit_f_dist, moderated_t, squeeze_var, trigamma_inverse
from ._options import DEFAULT_OPTIONS, ConditionsOptions
from ._programs import ABUNDANCE_COLUMNS, PROGRAM_COLUMNS, test_abundance, test_programs
from ._pseudobulk import pseudobulk

__all__ = [
    "ABUNDANCE_COLUMNS",
    "GENE_COLUMNS",
    "LazyCells",
    "PROGRAM_COLUMNS",
    "TYPE_COLUMNS",
    "ConditionsOptions",
    "cauchy_combine",
    "check_design",
    "contrasts_of",
    "fit_f_dist",
    "gene_sums",
    "moderated_t",
    "open_cells",
    "pseudobulk",
    "read_activity",
    "run",
    "sample_conditions",
    "sample_folds",
    "squeeze_var",
    "test_abundance",
    "test_celltypes",
    "test_genes",
    "test_programs",
    "trigamma_inverse",
]


def read_activity(source) -> pd.DataFrame | None:
    """Program activity per cell (cells x programs) from a DataFrame, a ``.tsv``/``.csv``
    (first column: cell names) or an ``.h5ad`` (``X``; ``var_names`` are the programs)."""
    if source is None or isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if path.suffix == ".h5ad":
        import anndata as ad

        a = ad.read_h5ad(path)
        x = a.X.toarray() if hasattr(a.X, "toarray") else a.X
        return pd.DataFrame(x, index=a.obs_names.astype(str), columns=a.var_names.astype(str))
    sep = "," if path.suffix == ".csv" else "\t"
    return pd.read_csv(path, sep=sep, index_col=0)


def run(
    inputs: dict,
    options: ConditionsOptions = DEFAULT_OPTIONS,
    *,
    dataset: str | None = None,
    label_key: str | None = None,
    sample_key: str | None = None,
    condition_key: str | None = None,
    reference: str | None = None,
    contrasts=None,
    n_jobs: int = 1,
) -> dict[str, pd.DataFrame]:
    """The four tables of one dataset: ``{"genes", "programs", "celltypes", "abundance"}``.

    ``inputs``: ``normalized`` (path of ``normalized.h5ad`` or an AnnData: obs with the
    label, sample and condition columns, raw counts in ``layers['counts']``; a path is
    read lazily, :class:`LazyCells`: the counts stay on disk and stream in row chunks)
    and optional ``activity`` (or ``programs``: program activity per cell, see
    :func:`read_activity`; without it the programs table is empty). The keys may be given
    as arguments or in ``inputs`` under the same names (``label_key`` defaults to
    ``leiden``, the normalize step's clusters). The design is checked first (:func:`check_design`); skipped cell
    types and contrasts are listed in each table's ``attrs['skipped']``. ``n_jobs``:
    the job's threads (the rule passes its own): pydeseq2's processes, the threads of the
    count sums and the processes of the classifiers' permutations; the same tables at any
    count.
    """
    keys = dict(
        label_key=label_key or inputs.get("label_key") or "leiden",
        sample_key=sample_key or inputs.get("sample_key"),
        condition_key=condition_key or inputs.get("condition_key"),
    )
    reference = reference if reference is not None else inputs.get("reference")
    contrasts = contrasts if contrasts is not None else inputs.get("contrasts")
    src = inputs["normalized"]
    path = None if hasattr(src, "obs") else src
    with open_cells(src) as adata:
        return _run(adata, inputs, options, keys, reference, contrasts, dataset, path, n_jobs)


def _run(adata, inputs, options, keys, reference, contrasts, dataset, path, n_jobs=1):
    from scinterp.errors import ScinterpInputError

    if options.min_samples < 2:
        raise ScinterpInputError(
            f"branches.conditions.min_samples is {options.min_samples}: a test across "
            "samples needs at least 2 samples per condition.",
            dataset=dataset,
            fix="set branches.conditions.min_samples to 2 or more.",
        )
    missing = [k for k in ("label_key",) if keys[k] not in adata.obs.columns]
    if missing:
        raise ScinterpInputError(
            f"the cell-type column '{keys['label_key']}' is not in the cells' metadata "
            f"(columns: {', '.join(map(str, adata.obs.columns))}).",
            dataset=dataset,
            path=path,
            fix="set datasets.<name>.label_key to the obs column of cell types (or leave it "
            "unset: the normalize step's 'leiden' clusters are used).",
        )
    if "counts" not in adata.layers:
        raise ScinterpInputError(
            "layers['counts'] (the raw integer counts the tests sum per sample) is missing "
            f"(layers: {', '.join(adata.layers.keys()) or 'none'}).",
            dataset=dataset,
            path=path,
            fix="run the normalize step, which keeps the raw counts in layers['counts'].",
        )
    skipped = check_design(
        adata.obs,
        keys["sample_key"],
        keys["condition_key"],
        reference,
        contrasts,
        dataset=dataset,
        path=path,
    )
    pairs = contrasts_of(adata.obs, keys["condition_key"], reference, contrasts)
    blocked = {r.split(":")[0] for r in skipped}
    pairs = [p for p in pairs if f"contrast {p[0]} vs {p[1]} skipped" not in blocked]
    activity = read_activity(inputs.get("activity", inputs.get("programs")))
    out = {
        "genes": test_genes(adata, contrasts=pairs, options=options, n_jobs=n_jobs, **keys),
        "celltypes": test_celltypes(adata, contrasts=pairs, options=options, n_jobs=n_jobs, **keys),
        "abundance": test_abundance(adata.obs, contrasts=pairs, options=options, **keys),
    }
    if activity is not None:
        out["programs"] = test_programs(
            activity, adata.obs, contrasts=pairs, options=options, **keys
        )
    else:
        out["programs"] = pd.DataFrame(columns=PROGRAM_COLUMNS)
        out["programs"].attrs["skipped"] = ["no program activity per cell given"]
    for t in out.values():
        t.attrs["skipped"] = list(skipped) + list(t.attrs.get("skipped", []))
    return {k: out[k] for k in ("genes", "programs", "celltypes", "abundance")}
