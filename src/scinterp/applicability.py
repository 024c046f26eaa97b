"""Which models can run on a dataset, decided when the workflow is parsed.

A model that cannot run on a dataset (its gene sets share no genes with the data, too few
TFs are genes of the data, one cell type only) is left out of that dataset's run with a
clear reason, and the rest of the run goes on; the reasons go to the log and to
``results/{dataset}/run/skipped.tsv`` (in the report). Only names stored in the h5ad are
read (var index, one obs column), never a matrix, so this is cheap on an atlas.

Inputs that are not yet on disk (made by a rule, such as the demo) or not h5ad files
(10x .h5, Matrix Market) are not checked here; the models then meet their data at
``train_model`` as before.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scinterp.errors import ScinterpInputError

log = logging.getLogger(__name__)

# The needs of a model's spec (scinterp.models.registry) checked here (ATAC is decided
# elsewhere): "gene_sets": at least one set with min_genes_per_set genes of the data;
# "tfs": at least MIN_TFS TFs among the genes; "labels": at least 2 labelled cell types.
CHECKED_NEEDS = ("gene_sets", "tfs", "labels")
MIN_TFS = 2


def model_needs(model: str) -> tuple[str, ...]:
    """What of :data:`CHECKED_NEEDS` model ``model`` needs (its spec's ``needs``)."""
    from scinterp.models.registry import MODELS

    spec = MODELS.get(model)
    return () if spec is None else tuple(n for n in spec.needs if n in CHECKED_NEEDS)


def _label_counts(path, key: str, modality: str | None = None) -> dict[str, int]:
    """Cells per non-empty label of obs[key] (labels as strings)."""
    import h5py

    from scinterp.io._h5ad import read_obs_column  # current and legacy (< 0.7) layouts

    with h5py.File(path, "r") as f:
        values = read_obs_column(f[f"mod/{modality}/obs" if modality else "obs"], key)
    labels = values.dropna().astype(str).str.strip()
    labels = labels[labels != ""]
    return labels.value_counts().to_dict()


def skipped_models(
    ds: dict,
    models,
    *,
    gene_sets: str | Path,
    tfs: str | Path,
    min_genes_per_set: int = 5,
    dataset: str | None = None,
) -> dict[str, str]:
    """Models of ``models`` that cannot run on dataset ``ds``, with the reason.

    Parameters
    ----------
    ds
        The dataset's config (``rna``, ``label_key``...).
    models
        Model names configured in ``train.models``.
    gene_sets, tfs
        The GMT and TF list the dataset uses.
    min_genes_per_set
        ``train.min_genes_per_set``.

    Returns
    -------
    dict
        model (or ``"branch <name>"``) -> one-line reason; empty when every model can run (or the input cannot be
        checked before it exists).
    """
    from scinterp.config import gene_names, is_rna_h5ad, rna_modality
    from scinterp.priors import read_gmt, read_tfs

    rna = ds.get("rna")
    if not rna or not is_rna_h5ad(rna) or not Path(rna).exists():
        return {}
    needs = {need for m in models for need in model_needs(m)}
    if not needs:
        return {}
    # the names the workflow will use: the symbols of symbol_key where one is set
    modality = rna_modality(ds)
    genes = gene_names(rna, ds.get("symbol_key"), modality)
    reasons: dict[str, str] = {}
    problem: dict[str, str] = {}
    if "gene_sets" in needs:
        try:
            read_gmt(gene_sets, genes=genes, min_size=min_genes_per_set, dataset=dataset)
        except ScinterpInputError as err:
            problem["gene_sets"] = (
                f"no gene set of {Path(gene_sets).name} keeps {min_genes_per_set} genes of "
                f"the data ({err.args[0] if err.args else err}); give gene_sets that match "
                "the data's var_names"
            )
    if "tfs" in needs:
        try:
            found = read_tfs(tfs, genes=genes, dataset=dataset)
        except ScinterpInputError:
            found = []
        if len(found) < MIN_TFS:
            problem["tfs"] = (
                f"{len(found)} TF(s) of {Path(tfs).name} are genes of the data, fewer than "
                f"the {MIN_TFS} a network needs; give a tfs list that matches the data's "
                "var_names"
            )
    key = ds.get("label_key")
    if "labels" in needs and key is not None:
        counts = _label_counts(rna, key, modality)
        if len(counts) < 2:
            problem["labels"] = (
                f"label_key '{key}' has {len(counts)} cell type(s); a classifier needs 2 or more"
            )
    for m in models:
        for need in model_needs(m):
            if need in problem:
                reasons[m] = problem[need]
                break
    # branches that read the prior themselves (score_genes needs the sets too)
    if "gene_sets" in problem:
        reasons["branch programs"] = problem["gene_sets"]
    if "tfs" in problem:
        reasons["branch grn"] = problem["tfs"]
    for m, why in reasons.items():
        log.warning("dataset '%s': %s is skipped: %s.", dataset, m, why)
    return reasons


def pick_identity_model(configured: str, available) -> str | None:
    """The classifier the identity branch reads: the configured one when it runs, else the
    first registered classifier that does, those that need no prior first (the MLP), else
    None."""
    from scinterp.models.registry import model_names, model_spec

    available = list(available)
    if configured in available:
        return configured
    classifiers = model_names(kind="classifier")
    for m in sorted(classifiers, key=lambda m: "gene_sets" in model_spec(m).needs):
        if m in available:
            return m
    return None


def write_skipped(path, skipped: dict[str, str]) -> None:
    """``run/skipped.tsv``: one row per part left out of the run (``part, reason``)."""
    import pandas as pd

    from scinterp.io import write_tsv_atomic

    rows = pd.DataFrame(
        {"part": list(skipped), "reason": [skipped[k] for k in skipped]},
        columns=["part", "reason"],
    )
    write_tsv_atomic(rows, path)


__all__ = ["CHECKED_NEEDS", "model_needs", "pick_identity_model", "skipped_models", "write_skipped"]
