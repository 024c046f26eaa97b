"""Integrated gradients of every target with respect to the TFs, in batched passes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scinterp.interpret.grn._edges import GLOBAL
from scinterp.interpret.grn._options import DEFAULT_OPTIONS

_JVP_ELEMENTS = 1 << 23  # cells x genes values per JVP pass (x the model's width in memory)
_GRAD_ELEMENTS = 1 << 26  # TFs x cells x genes gradient values per batch (256 MB)


def _gauss_legendre(n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes in [0, 1] and weights summing to 1 (Captum's ``gausslegendre``)."""
    x, w = np.polynomial.legendre.leggauss(n_steps)
    return 0.5 * (1.0 + x), 0.5 * w


def _forward_mode_path(model, base, delta, eye, alphas, weights):
    """``sum_k w_k d model(base + a_k delta) / d x_t`` for every TF ``t`` (one tangent per
    row of ``eye``), TFs x cells x genes, by forward-mode JVPs: the TFs in chunks, each
    JVP over (chunk x cells) stacked copies of the batch, one tangent per copy (faster
    than vmap, memory bounded)."""
    from torch.func import jvp

    n_tfs, (n_cells, n_genes) = len(eye), delta.shape
    grad = delta.new_zeros(n_tfs, n_cells, n_genes)
    chunk = max(1, min(n_tfs, _JVP_ELEMENTS // (n_cells * n_genes)))
    for a, w in zip(alphas, weights, strict=True):
        point = base + float(a) * delta
        for lo in range(0, n_tfs, chunk):
            tangents = eye[lo : lo + chunk]
            k = len(tangents)
            stacked = point.unsqueeze(0).expand(k, -1, -1).reshape(-1, n_genes)
            tangent = tangents.unsqueeze(1).expand(-1, n_cells, -1).reshape(-1, n_genes)
            _, derivative = jvp(model, (stacked,), (tangent,))
            grad[lo : lo + k] += float(w) * derivative.reshape(k, n_cells, n_genes)
    return grad


def integrated_gradients_grn(
    model,
    X,
    tf_index: Sequence[int],
    *,
    groups: Sequence | np.ndarray | None = None,
    baseline: str | np.ndarray = DEFAULT_OPTIONS.baseline,
    n_steps: int = DEFAULT_OPTIONS.n_steps,
    batch_size: int = DEFAULT_OPTIONS.batch_size,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Mean |integrated gradients| of every output gene with respect to every TF input.

    Parameters
    ----------
    model
        ``torch.nn.Module`` whose ``forward(x)`` maps cells x genes to cells x genes (a
        prediction of each gene, e.g. :class:`scinterp.models.grn.GRNSEM`).
    X
        Cells x genes input (dense or sparse), in the units the model takes.
    tf_index
        Column of each TF among the inputs.
    groups
        Optional label per cell; means are also taken within each label.
    baseline
        ``"mean"`` (mean input of the cells), ``"zeros"``, or a vector of one value per
        gene.
    n_steps
        Gauss-Legendre integration steps.
    batch_size
        Cells per pass; memory grows with ``batch_size * n_tfs * n_genes``, so fewer are
        taken when that product would exceed 2**26.
    device
        Torch device.

    Returns
    -------
    dict
        ``"all"`` and each group label -> n_tfs x n_genes mean |attribution| (float64).
    """
    import torch

    from scinterp.data.cells import take_rows

    tf_index = np.asarray(tf_index, dtype=np.int64)
    n_cells, n_genes = X.shape
    if isinstance(baseline, str):
        if baseline == "mean":
            base = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        elif baseline == "zeros":
            base = np.zeros(n_genes)
        else:
            raise ValueError(f"baseline must be 'mean', 'zeros' or a vector, got {baseline!r}")
    else:
        base = np.asarray(baseline, dtype=np.float64).ravel()
        if base.shape != (n_genes,):
            raise ValueError(f"baseline has {base.size} values for {n_genes} genes")
    labels = None if groups is None else np.asarray(groups).astype(str)
    names = [GLOBAL] + ([] if labels is None else sorted(set(labels.tolist())))
    sums = {name: np.zeros((len(tf_index), n_genes)) for name in names}
    counts = dict.fromkeys(names, 0)

    alphas, weights = _gauss_legendre(n_steps)
    model = model.to(device).eval()
    base_t = torch.as_tensor(base, dtype=torch.float32, device=device)
    tf_t = torch.as_tensor(tf_index, device=device)
    eye = torch.zeros(len(tf_index), n_genes, device=device)
    eye[torch.arange(len(tf_index)), tf_t] = 1.0  # one tangent direction per TF input

    # a model that knows its own Jacobian (GRNSEM) spares the forward-mode passes
    analytic = hasattr(model, "path_tf_jacobian") and np.array_equal(
        np.asarray(getattr(model, "tf_index", torch.empty(0)).cpu()), tf_index
    )
    # the TFs x cells x genes gradients of a batch stay within _GRAD_ELEMENTS values
    batch_size = max(1, min(batch_size, _GRAD_ELEMENTS // (len(tf_index) * n_genes)))
    rows_all = np.arange(n_cells)
    for start in range(0, n_cells, batch_size):
        rows = rows_all[start : start + batch_size]
        x = torch.from_numpy(take_rows(X, rows)).to(device)
        delta = x - base_t
        with torch.no_grad():
            if analytic:  # the whole path at once
                grad = model.path_tf_jacobian(base_t.expand_as(x), x, alphas, weights)
            else:
                grad = _forward_mode_path(model, base_t, delta, eye, alphas, weights)
        # attribution = (x_t - b_t) * integrated gradient; |.|, summed over cells
        attr = (grad * delta[:, tf_t].T.unsqueeze(-1)).abs()
        block = attr.sum(dim=1).double().cpu().numpy()
        sums[GLOBAL] += block
        counts[GLOBAL] += len(rows)
        if labels is not None:
            lab = labels[rows]
            for name in np.unique(lab):
                mask = torch.as_tensor(lab == name, device=device)
                sums[name] += attr[:, mask].sum(dim=1).double().cpu().numpy()
                counts[name] += int(mask.sum())
    return {name: sums[name] / max(counts[name], 1) for name in names}
