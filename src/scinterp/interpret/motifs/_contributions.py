"""Hypothetical contributions of every base of the type-specific peaks to their type's
contrast: DeepLIFT or integrated gradients against dinucleotide-shuffled references,
projected to all four bases as TF-MoDISco expects. The attributions are
:func:`scinterp.attribution.attribute`'s (per-sequence references, a custom attribution
function)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from scinterp.interpret.motifs._options import DEFAULT_OPTIONS
from scinterp.interpret.motifs._peaks import select_peaks, type_contrast_weights

log = logging.getLogger(__package__)

HYPOTHETICAL_METHODS = ("deeplift", "integrated_gradients", "gradient")
#: The :mod:`scinterp.attribution` method behind each of :data:`HYPOTHETICAL_METHODS`.
ATTRIBUTION_METHOD = {
    "deeplift": "deeplift",
    "integrated_gradients": "integrated_gradients",
    "gradient": "saliency",
}
#: Shuffled references are drawn for this many batches of sequences at a time.
_BATCHES_PER_DRAW = 16


def _hypothetical_func(multipliers, inputs, baselines):
    """Captum custom attribution: the contribution each base *would* have at each position.

    For DNA one-hot input x, reference r and DeepLIFT multipliers m, base b at position
    i would contribute sum_c (e_b - r)_c m_c = m_b - sum_c r_c m_c.
    """
    m, r = multipliers[0], baselines[0]
    return (m - (r * m).sum(dim=1, keepdim=True),)


def hypothetical_contributions(
    model,
    onehot: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray,
    *,
    method: str = DEFAULT_OPTIONS.attribution,
    n_refs: int = DEFAULT_OPTIONS.n_refs,
    n_steps: int = DEFAULT_OPTIONS.n_steps,
    batch_size: int = 64,
    device="cpu",
    seed: int = 0,
) -> np.ndarray:
    """Hypothetical contributions of every base to a weighted sum of the model's outputs.

    Parameters
    ----------
    model
        Sequence model: ``(batch, 4, L)`` one-hot -> ``(batch, n_cells)``.
    onehot
        ``(n, 4, L)`` sequences.
    target
        ``(n,)`` column of ``weights`` attributed for each sequence.
    weights
        ``(n_cells, n_targets)``: output ``k`` is ``model(x) @ weights[:, k]`` (e.g.
        :func:`type_contrast_weights`).
    method
        ``"deeplift"``: DeepLIFT (rescale rule) averaged over ``n_refs``
        dinucleotide-shuffled references per sequence, projected to all four bases;
        ``"integrated_gradients"``: the path-averaged gradients from each shuffled
        reference (``n_steps`` steps), projected the same way;
        ``"gradient"``: input gradients (``saliency``) minus their mean over the bases
        (fast, cruder). All three run through :func:`scinterp.attribution.attribute`
        (:data:`ATTRIBUTION_METHOD`).
    n_refs, n_steps, batch_size, device, seed
        References per sequence; integration steps; sequences per forward/backward pass
        (with their references: at most ``batch_size x n_refs`` rows); torch device;
        shuffle seed.

    Returns
    -------
    numpy.ndarray
        ``(n, 4, L)`` float32. ``onehot * result`` are the actual contributions.
    """
    import warnings

    import torch
    from torch import nn

    from scinterp.attribution import attribute
    from scinterp.data.sequences import dinucleotide_shuffle

    if method not in HYPOTHETICAL_METHODS:
        raise ValueError(f"method must be one of {', '.join(HYPOTHETICAL_METHODS)}, got {method!r}")

    class _Weighted(nn.Module):
        def __init__(self, inner, w):
            super().__init__()
            self.inner = inner
            self.register_buffer("w", torch.as_tensor(w, dtype=torch.float32))

        def forward(self, x):
            return self.inner(x) @ self.w

    wrapped = _Weighted(model, weights)
    rng = np.random.default_rng(seed)
    onehot = np.asarray(onehot, dtype=np.float32)
    target = np.asarray(target, dtype=np.int64)
    out = np.zeros(onehot.shape, dtype=np.float32)
    gradient = method == "gradient"
    kw = {
        "n_steps": n_steps,
        "batch_size": batch_size,
        "max_rows": batch_size * (1 if gradient else n_refs),
        "custom_attribution_func": None if gradient else _hypothetical_func,
        "device": device,
        "seed": seed,
    }
    chunk = batch_size * _BATCHES_PER_DRAW
    for start in range(0, len(onehot), chunk):
        x = onehot[start : start + chunk]
        refs = (
            "zeros"  # unused by saliency
            if gradient
            else np.stack([dinucleotide_shuffle(row, rng, n_shuffles=n_refs) for row in x])
        )
        with warnings.catch_warnings():
            # GELU has no DeepLIFT rule in Captum: gradients pass through it (warned per call)
            warnings.simplefilter("ignore", UserWarning)
            out[start : start + len(x)] = attribute(
                wrapped,
                x,
                ATTRIBUTION_METHOD[method],
                target[start : start + chunk],
                baseline=refs,
                **kw,
            )
    if gradient:
        out -= out.mean(axis=1, keepdims=True)
    return out


def attribute_type_peaks(
    model,
    onehot: np.ndarray,
    accessibility,
    labels: Sequence,
    *,
    n_per_type: int = DEFAULT_OPTIONS.n_per_type,
    min_rate: float = DEFAULT_OPTIONS.min_rate,
    method: str = DEFAULT_OPTIONS.attribution,
    n_refs: int = DEFAULT_OPTIONS.n_refs,
    n_steps: int = DEFAULT_OPTIONS.n_steps,
    batch_size: int = 64,
    device="cpu",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Hypothetical contributions of the type-specific peaks to their type's contrast.

    :func:`select_peaks` picks each type's most specific peaks;
    :func:`hypothetical_contributions` attributes, for each, the model's mean logit over
    the type's cells minus the mean over all cells (:func:`type_contrast_weights`).

    Returns
    -------
    dict
        ``peak_idx`` (rows of ``onehot``), ``cell_type`` (str), ``onehot`` (uint8
        ``(n, 4, L)``) and ``hypothetical`` (float32 ``(n, 4, L)``), ready for
        :func:`modisco_motifs` and for ``numpy.savez``.
    """
    chosen = select_peaks(accessibility, labels, n_per_type=n_per_type, min_rate=min_rate)
    types = sorted(chosen["cell_type"].unique())
    weights = type_contrast_weights(labels, types)
    target = chosen["cell_type"].map({t: i for i, t in enumerate(types)}).to_numpy()
    x = np.asarray(onehot)[chosen["peak_idx"].to_numpy()]
    log.info(
        "attributing %d peaks (%d types) with %s, %d shuffled references each",
        len(x),
        len(types),
        method,
        n_refs,
    )
    hyp = hypothetical_contributions(
        model,
        x,
        target,
        weights,
        method=method,
        n_refs=n_refs,
        n_steps=n_steps,
        batch_size=batch_size,
        device=device,
        seed=seed,
    )
    return {
        "peak_idx": chosen["peak_idx"].to_numpy(),
        "cell_type": chosen["cell_type"].to_numpy(dtype=str),
        "onehot": x.astype(np.uint8),
        "hypothetical": hyp,
    }
