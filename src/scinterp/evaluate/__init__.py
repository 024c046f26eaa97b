"""Metrics against ground truth: ranked-list metrics (precision@k, AUROC, AUPRC, EPR),
per branch in its own module (identity, grn, motifs, programs)."""
