"""Hypothetical contributions of every base of the type-specific peaks to their type's
contrast: DeepLIFT or integrated gradients (Captum) against dinucleotide-shuffled
references, projected to all four bases as TF-MoDISco expects."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from scinterp.interpret.motifs._peaks import select_peaks, type_contrast_weights

log = logging.getLogger(__package__)

HYPOTHETICAL_METHODS = ("deeplift", "integrated_gradients", "gradient")


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
    method: str = "deeplift",
    n_refs: int = 10,
    n_steps: int = 16,
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
        ``"deeplift"``: DeepLIFT (Captum, rescale rule) averaged over ``n_refs``
        dinucleotide-shuffled references per sequence, projected to all four bases;
        ``"integrated_gradients"``: the path-averaged gradients from each shuffled
        reference (Captum, ``multiply_by_inputs=False``, ``n_steps`` steps), projected
        the same way;
        ``"gradient"``: input gradients minus their mean over the bases (fast, cruder).
    n_refs, n_steps, batch_size, device, seed
        References per sequence; integration steps; sequences per Captum call; torch
        device; shuffle seed.

    Returns
    -------
    numpy.ndarray
        ``(n, 4, L)`` float32. ``onehot * result`` are the actual contributions.
    """
    import torch
    from torch import nn

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

    wrapped = _Weighted(model, weights).to(device).eval()
    rng = np.random.default_rng(seed)
    onehot = np.asarray(onehot, dtype=np.float32)
    target = np.asarray(target, dtype=np.int64)
    out = np.zeros(onehot.shape, dtype=np.float32)
    import warnings

    if method == "deeplift":
        from captum.attr import DeepLift

        dl = DeepLift(wrapped)
    elif method == "integrated_gradients":
        from captum.attr import IntegratedGradients

        ig = IntegratedGradients(wrapped, multiply_by_inputs=False)
    for start in range(0, len(onehot), batch_size):
        x = onehot[start : start + batch_size]
        tgt = target[start : start + batch_size]
        if method == "gradient":
            xt = torch.as_tensor(x, device=device).requires_grad_(True)
            out_sel = wrapped(xt).gather(1, torch.as_tensor(tgt, device=device)[:, None]).sum()
            (grad,) = torch.autograd.grad(out_sel, xt)
            grad = grad.detach().cpu().numpy()
            out[start : start + len(x)] = grad - grad.mean(axis=1, keepdims=True)
            continue
        refs = np.stack([dinucleotide_shuffle(row, rng, n_shuffles=n_refs) for row in x])
        xr = torch.as_tensor(np.repeat(x, n_refs, axis=0), device=device)
        rr = torch.as_tensor(refs.reshape(-1, *x.shape[1:]), device=device)
        tr = torch.as_tensor(np.repeat(tgt, n_refs), device=device)
        with warnings.catch_warnings():
            # GELU has no DeepLIFT rule in Captum: gradients pass through it (warned per call)
            warnings.simplefilter("ignore", UserWarning)
            if method == "deeplift":
                hyp = dl.attribute(
                    xr, baselines=rr, target=tr, custom_attribution_func=_hypothetical_func
                )
            else:
                grads = ig.attribute(
                    xr, baselines=rr, target=tr, n_steps=n_steps, internal_batch_size=len(xr)
                )
                (hyp,) = _hypothetical_func((grads,), (xr,), (rr,))
        hyp = hyp.detach().cpu().numpy().reshape(len(x), n_refs, *x.shape[1:]).mean(axis=1)
        out[start : start + len(x)] = hyp
    return out


def attribute_type_peaks(
    model,
    onehot: np.ndarray,
    accessibility,
    labels: Sequence,
    *,
    n_per_type: int = 100,
    min_rate: float = 0.05,
    method: str = "deeplift",
    n_refs: int = 5,
    n_steps: int = 16,
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
