"""The branch's inputs: the trained sequence model with its cells' labels, the peaks most
specific to each cell type, and the per-type contrast of the model's outputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scinterp.errors import ScinterpInputError
from scinterp.interpret.motifs._options import DEFAULT_OPTIONS


def _group_matrix(labels: Sequence, groups: Sequence[str] | None = None):
    """(cells x groups) indicator of ``labels``; NaN labels belong to no group."""
    lab = pd.Series(np.asarray(labels, dtype=object))
    valid = lab.notna().to_numpy()
    names = list(groups) if groups is not None else sorted(lab[valid].astype(str).unique())
    pos = {g: i for i, g in enumerate(names)}
    rows = np.flatnonzero(valid)
    cols = np.array([pos.get(str(v), -1) for v in lab[valid]], dtype=np.int64)
    ok = cols >= 0
    mat = sp.csr_matrix((np.ones(ok.sum()), (rows[ok], cols[ok])), shape=(len(lab), len(names)))
    return mat, names


def select_peaks(
    accessibility,
    labels: Sequence,
    n_per_type: int = DEFAULT_OPTIONS.n_per_type,
    min_rate: float = DEFAULT_OPTIONS.min_rate,
) -> pd.DataFrame:
    """Peaks most specifically open in each cell type: the training set for motif discovery.

    Specificity is the type's accessibility rate minus the mean rate of the other
    types; per type the ``n_per_type`` most specific peaks whose rate in the type is at
    least ``min_rate`` are kept (a peak may be chosen for several types).

    Parameters
    ----------
    accessibility
        cells x peaks matrix (sparse or dense), columns aligned with the sequences.
    labels
        Cell type of each cell (NaN: unlabelled, ignored).
    n_per_type, min_rate
        See above.

    Returns
    -------
    pandas.DataFrame
        ``peak_idx`` (column of ``accessibility``), ``cell_type``, ``specificity``, ``rate``.
    """
    groups, names = _group_matrix(labels)
    if len(names) == 0:
        raise ValueError("no labelled cells: cannot pick cell-type-specific peaks")
    acc = accessibility if sp.issparse(accessibility) else sp.csr_matrix(np.asarray(accessibility))
    acc = acc.astype(np.float32).tocsr()
    acc.data = (acc.data > 0).astype(np.float32)
    sizes = np.asarray(groups.sum(axis=0)).ravel()
    rate = np.asarray((groups.T @ acc).todense()) / np.maximum(sizes, 1)[:, None]  # types x peaks
    rows = []
    for t, name in enumerate(names):
        others = np.delete(rate, t, axis=0)
        spec = rate[t] - (others.mean(axis=0) if len(others) else 0.0)
        cand = np.flatnonzero(rate[t] >= min_rate)
        top = cand[np.argsort(-spec[cand], kind="stable")[:n_per_type]]
        rows.append(
            pd.DataFrame(
                {"peak_idx": top, "cell_type": name, "specificity": spec[top], "rate": rate[t, top]}
            )
        )
    return pd.concat(rows, ignore_index=True)


def type_contrast_weights(
    labels: Sequence, types: Sequence[str], contrast: bool = True
) -> np.ndarray:
    """(cells x types) weights: the model's logits @ weights = per-type mean logit.

    With ``contrast`` the mean over all labelled cells is subtracted, so an output is how
    much more open the type is predicted than the average cell.
    """
    groups, _ = _group_matrix(labels, types)
    g = np.asarray(groups.todense(), dtype=np.float64)
    w = g / np.maximum(g.sum(axis=0, keepdims=True), 1)
    if contrast:
        labelled = g.sum(axis=1) > 0
        w[labelled] -= 1.0 / labelled.sum()
    return w.astype(np.float32)


def atac_cell_labels(atac, normalized) -> list[str] | None:
    """Labels of the ATAC cells: the RNA labels (``uns["scinterp"]["label_key"]`` of
    ``normalized.h5ad``: the given labels or Leiden clusters) of the same cell names, else
    that column of ``atac.obs``; None without ``normalized`` or a label column."""
    from pathlib import Path

    from scinterp.io import read_meta

    if normalized is None or not Path(normalized).exists():
        return None
    rna = read_meta(normalized, ("obs", "uns"))  # not the matrices (backed mode reads layers)
    obs = rna["obs"]
    key = rna["uns"].get("scinterp", {}).get("label_key")
    if key is None or key not in obs:
        return None
    mapped = obs[key].astype(str).reindex(atac.obs_names.astype(str))
    if key in atac.obs:
        mapped = mapped.fillna(atac.obs[key].astype(str))
    return [None if pd.isna(v) else str(v) for v in mapped]


def load_sequence_model(
    model_dir, atac, *, normalized=None, device="cpu", dataset: str | None = None
):
    """The trained seq_cnn and its cells' labels, checked against the ATAC data.

    Returns
    -------
    model, labels
        The model in eval mode on ``device``; one label per ATAC cell (None where the
        cell has no label): :func:`atac_cell_labels` of ``normalized`` (the model trains
        on the ATAC file alone, before QC and normalization end).
    """
    from scinterp.models.registry import load_model

    model, meta = load_model(model_dir, device=device)
    cells = [str(c) for c in meta.get("cells") or []]
    if cells != [str(c) for c in atac.obs_names]:
        raise ScinterpInputError(
            f"the sequence model in {model_dir} was trained on {len(cells)} cells that are "
            f"not the {atac.n_obs} cells of the ATAC data in this order.",
            dataset=dataset,
            fix="the atac file changed after training: delete the seq_cnn model folder so "
            "that rule train_model retrains it.",
        )
    labels = atac_cell_labels(atac, normalized)
    if not labels or all(v is None for v in labels):
        raise ScinterpInputError(
            "the ATAC cells have no cell-type labels: motif discovery contrasts cell types.",
            dataset=dataset,
            fix="give the dataset a label_key (or let Leiden clusters label the RNA cells) "
            "with cell names shared between the rna and atac files, or a label column in atac.obs.",
        )
    return model, np.asarray([None if v is None else str(v) for v in labels], dtype=object)
