"""Metrics against ground truth: one metrics module (:mod:`.metrics`: AUROC, average
precision, precision@k, early precision) and one module per branch (grn, motifs,
programs, identity)."""
