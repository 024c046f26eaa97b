"""The stages before any model: QC (metrics, thresholds, doublets), normalization and
batch integration. Light imports only (no torch): the qc and normalize rules run here."""
