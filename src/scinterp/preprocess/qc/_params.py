"""The config's ``qc`` section: its defaults, the reasons a cell is removed for, and
the check of contradicting thresholds."""

from __future__ import annotations

from scinterp.errors import ScinterpInputError

# Defaults of the schema's `qc` section (workflow/schemas/config.schema.yaml).
QC_DEFAULTS = {
    "mode": "adaptive",
    "n_mads": 3,
    "min_counts": 500,
    "max_counts": None,
    "min_genes": 200,
    "max_pct_mito": 20,
    "mito_prefix": "MT-",
    "ribo_prefixes": ["RPS", "RPL"],
    "doublets": True,
    "doublet_method": "classifier",
    "min_cells_per_gene": 3,
}


REASONS = ("low_counts", "high_counts", "low_genes", "high_genes", "high_mito", "doublet")


ALL_BATCHES = "all"


def check_qc_params(params: dict | None, *, dataset: str | None = None) -> dict:
    """The qc section with its defaults; thresholds that contradict each other raise.

    Called when the workflow is parsed (before any job) and again by `run_qc`.
    """
    p = {**QC_DEFAULTS, **(params or {})}
    if p["max_counts"] is not None and p["min_counts"] >= p["max_counts"]:
        raise ScinterpInputError(
            f"qc.min_counts ({p['min_counts']}) is not below qc.max_counts ({p['max_counts']}): "
            "every cell would be removed.",
            dataset=dataset,
            fix="set qc.max_counts above qc.min_counts, or to null.",
        )
    return p
