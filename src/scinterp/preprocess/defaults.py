"""Defaults of the normalize section (normalize and integrate read them) and the label
column normalize names."""

# Defaults of the schema's `normalize` section (workflow/schemas/config.schema.yaml).
NORMALIZE_DEFAULTS = {
    "target_sum": 10000,
    "normalize_total": True,
    "n_top_genes": 2000,
    "n_pcs": 30,
    "n_neighbors": 15,
    "leiden_resolution": 1.0,
    "umap_max_cells": 200_000,
    "integration": "scaled_harmony",
    "seed": 0,
}

LABEL_COLUMN = "label"
