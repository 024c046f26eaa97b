"""TF motifs from a trained sequence CNN: attributions -> motifs -> JASPAR names -> TF activity.

The branch's steps, each a function of arrays (no files, no snakemake):

1. :func:`select_peaks` picks, per cell type, the peaks most specifically open in it;
   :func:`hypothetical_contributions` attributes the CNN's *cell-type contrast* (mean
   logit over the type's cells minus the mean over all cells) to every base of those
   peaks, DeepLIFT against dinucleotide-shuffled references, as the projected
   "hypothetical" contributions TF-MoDISco expects (all 4 bases at every position).
   The contrast target removes what every cell shares (GC, openness), so the seqlets
   left are the type-specific motifs.
2. :func:`modisco_motifs` clusters seqlets into motifs (modisco-lite); :func:`filter_motifs`
   reads the first-layer filters as PWMs from their top-activating windows.
3. :func:`load_motif_database` (JASPAR via pyjaspar, offline, or a MEME file) and
   :func:`match_motifs` (Tomtom, memelite) name the learned motifs.
4. :func:`insertion_activity` (scBasset: insert a motif into shuffled background peaks,
   the change of each cell's prediction is that cell's TF activity) and
   :func:`chromvar_deviations` (chromVAR-like motif deviation z-scores, the baseline).

Motif matrices are ``(4, width)`` arrays in A, C, G, T row order, like the one-hot
sequences ``(n, 4, L)`` of :mod:`scinterp.data.sequences` and like memelite.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scinterp.errors import ScinterpInputError

log = logging.getLogger(__name__)

__all__ = [
    "DatabaseMotif",
    "LearnedMotif",
    "aggregate_by_type",
    "chromvar_deviations",
    "consensus",
    "filter_influence",
    "robust_z",
    "filter_motifs",
    "hypothetical_contributions",
    "influential_filter_motifs",
    "information_content",
    "insertion_activity",
    "load_motif_database",
    "match_motifs",
    "modisco_motifs",
    "motif_table",
    "read_meme",
    "scan_max_scores",
    "select_peaks",
    "trim_motif",
    "type_contrast_weights",
    "write_meme",
]

_BASES = np.array(list("ACGT"))
HYPOTHETICAL_METHODS = ("deeplift", "integrated_gradients", "gradient")


def _numba_cache() -> None:
    """Cache memelite's numba kernels between processes (its first compile takes ~40 s)."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        cache = (
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scinterp" / "numba"
        )
        try:
            cache.mkdir(parents=True, exist_ok=True)
            os.environ["NUMBA_CACHE_DIR"] = str(cache)
        except OSError:  # read-only home: numba falls back to __pycache__ beside the package
            pass


# ---------------------------------------------------------------------- motif objects


@dataclass
class LearnedMotif:
    """A motif learned from the model.

    Attributes
    ----------
    motif
        Identifier (``modisco_0``, ``filter_12``, ...).
    method
        ``modisco`` or ``filters``.
    ppm
        ``(4, width)`` position probability matrix (columns sum to 1).
    n_seqlets
        Sites behind it (seqlets, or windows above the activation threshold).
    cell_type
        The cell type most of its seqlets were attributed for (modisco), if known.
    contrib
        ``(4, width)`` mean contribution (CWM) or filter weights, for plots; optional.
    """

    motif: str
    method: str
    ppm: np.ndarray
    n_seqlets: int
    cell_type: str = ""
    contrib: np.ndarray | None = field(default=None, repr=False)

    @property
    def consensus(self) -> str:
        return consensus(self.ppm)


@dataclass
class DatabaseMotif:
    """A reference motif: ``id`` (e.g. MA0080.7), ``name`` (TF), ``family``, ``ppm`` (4, w)."""

    id: str
    name: str
    family: str
    ppm: np.ndarray


def consensus(ppm: np.ndarray) -> str:
    """Most probable base of each column of a ``(4, width)`` matrix."""
    return "".join(_BASES[np.asarray(ppm).argmax(axis=0)])


def information_content(ppm: np.ndarray, background: float = 0.25) -> np.ndarray:
    """Bits per column of a ``(4, width)`` probability matrix against a uniform background."""
    p = np.clip(np.asarray(ppm, dtype=float), 1e-9, 1.0)
    return (p * np.log2(p / background)).sum(axis=0)


def _normalize(counts: np.ndarray, pseudocount: float = 0.0) -> np.ndarray:
    counts = np.asarray(counts, dtype=float) + pseudocount
    return counts / np.maximum(counts.sum(axis=0, keepdims=True), 1e-12)


def trim_motif(
    ppm: np.ndarray, score: np.ndarray | None = None, threshold: float = 0.3, min_width: int = 4
) -> tuple[int, int]:
    """Span ``[start, stop)`` of the informative core of a motif.

    Columns count as informative where ``score`` (per-column importance: summed absolute
    contribution, or information content when ``score`` is None) reaches ``threshold`` x
    its maximum; the span runs from the first to the last of them (modisco-lite's
    report trims the same way), widened symmetrically to ``min_width``.
    """
    s = information_content(ppm) if score is None else np.asarray(score, dtype=float)
    if s.max() <= 0:
        return 0, len(s)
    keep = np.flatnonzero(s >= threshold * s.max())
    start, stop = int(keep[0]), int(keep[-1]) + 1
    while stop - start < min(min_width, len(s)):
        start, stop = max(0, start - 1), min(len(s), stop + 1)
    return start, stop


# ------------------------------------------------------------------- peak selection


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
    accessibility, labels: Sequence, n_per_type: int = 150, min_rate: float = 0.05
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


# --------------------------------------------------------------------- attributions


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


# --------------------------------------------------------------------------- modisco


def modisco_motifs(
    onehot: np.ndarray,
    hypothetical: np.ndarray,
    *,
    cell_types: Sequence[str] | None = None,
    max_seqlets: int = 2000,
    window: int = 21,
    n_leiden_runs: int = 8,
    min_metacluster_size: int = 50,
    final_min_cluster_size: int = 20,
    trim_threshold: float = 0.3,
    negative: bool = False,
    seed: int = 0,
) -> list[LearnedMotif]:
    """Seqlets of high contribution clustered into motifs with TF-MoDISco (modisco-lite).

    Parameters
    ----------
    onehot, hypothetical
        ``(n, 4, L)`` sequences and their hypothetical contributions
        (:func:`hypothetical_contributions`).
    cell_types
        Per sequence, the cell type it was attributed for: each motif is labelled with
        the most common type among its seqlets.
    max_seqlets, window, n_leiden_runs, min_metacluster_size, final_min_cluster_size
        modisco-lite settings (``max_seqlets_per_metacluster``, ``sliding_window_size``,
        ...), sized for a few hundred to a few thousand peaks.
    trim_threshold
        Motif columns are kept from the first to the last whose summed absolute
        contribution reaches this fraction of the maximum.
    negative
        Also report motifs of negative contribution (repressors); off by default.
    seed
        Seeds numpy's global RNG, which modisco-lite draws from.

    Returns
    -------
    list of LearnedMotif
        Positive patterns first (``modisco_0``, ...), then negative ones (``modisco_neg_0``).
    """
    from modiscolite.tfmodisco import TFMoDISco

    x = np.ascontiguousarray(np.transpose(onehot, (0, 2, 1)), dtype=np.float32)
    h = np.ascontiguousarray(np.transpose(hypothetical, (0, 2, 1)), dtype=np.float32)
    np.random.seed(seed)  # noqa: NPY002 (modisco draws from the global RNG)
    pos, neg = TFMoDISco(
        one_hot=x,
        hypothetical_contribs=h,
        sliding_window_size=window,
        flank_size=5,
        max_seqlets_per_metacluster=max_seqlets,
        min_metacluster_size=min_metacluster_size,
        final_min_cluster_size=final_min_cluster_size,
        n_leiden_runs=n_leiden_runs,
        trim_to_window_size=20,
        initial_flank_to_add=5,
        verbose=False,
    )
    motifs = []
    for prefix, patterns in (("modisco_", pos), ("modisco_neg_", neg if negative else None)):
        for k, pattern in enumerate(patterns or []):
            ppm = np.asarray(pattern.sequence, dtype=float).T  # (4, w)
            cwm = np.asarray(pattern.contrib_scores, dtype=float).T
            start, stop = trim_motif(ppm, np.abs(cwm).sum(axis=0), trim_threshold)
            ctype = ""
            if cell_types is not None and pattern.seqlets:
                idx = [s.example_idx for s in pattern.seqlets]
                ctype = pd.Series(np.asarray(cell_types, dtype=object)[idx]).mode().iloc[0]
            motifs.append(
                LearnedMotif(
                    motif=f"{prefix}{k}",
                    method="modisco",
                    ppm=_normalize(ppm[:, start:stop]),
                    n_seqlets=len(pattern.seqlets),
                    cell_type=str(ctype),
                    contrib=cwm[:, start:stop],
                )
            )
    log.info("modisco: %d motifs", len(motifs))
    return motifs


# --------------------------------------------------------------------------- filters


def filter_influence(
    model,
    onehot: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    batch_size: int = 128,
    device="cpu",
) -> np.ndarray:
    """How much each first-layer filter changes the model's outputs (Basset's influence).

    Each filter's pooled output is replaced by its mean over all positions and sequences
    (the filter "nullified", Kelley et al. 2016); its influence is the root mean square
    over sequences and outputs of the change of the outputs ``model(x) @ weights`` (e.g. the
    cell-type contrasts of :func:`type_contrast_weights`; None: every cell's logit,
    averaged over cells). A filter that learned no motif the model relies on changes
    little.

    Parameters
    ----------
    model
        A :class:`~scinterp.models.seqcnn.SeqCNN` (``strands``, ``first_block``,
        ``from_first_block``).
    onehot
        ``(n, 4, L)`` sequences the influence is measured on.
    weights
        ``(n_cells, n_targets)`` output weights, or None.

    Returns
    -------
    numpy.ndarray
        ``(n_filters,)`` float64 influence, >= 0.
    """
    import torch

    model = model.to(device).eval()
    x_all = np.asarray(onehot, dtype=np.float32)
    w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)

    def outputs(logits):
        return logits if w is None else logits @ w

    with torch.no_grad():
        batches = [
            model.strands(torch.as_tensor(x_all[s : s + batch_size], device=device))
            for s in range(0, len(x_all), batch_size)
        ]
        # each filter's mean activation over positions and sequences; max-pooling a
        # constant leaves it unchanged, so it replaces the pooled output as it is
        act_sum, n_pos = 0.0, 0
        for xb in batches:
            act = model.first_layer_activations(xb)
            act_sum = act_sum + act.double().sum(dim=(0, 2))
            n_pos += act.shape[0] * act.shape[2]
        mean = (act_sum / n_pos).float()
        blocks = [model.first_block(xb) for xb in batches]
        del batches
        base = [outputs(model.from_first_block(h)) for h in blocks]
        influence = np.zeros(len(mean))
        for f in range(len(mean)):
            total = 0.0
            for h, b in zip(blocks, base, strict=True):
                hf = h.clone()
                hf[:, f, :] = mean[f]
                total += float(((outputs(model.from_first_block(hf)) - b) ** 2).mean(dim=1).sum())
            influence[f] = np.sqrt(total / len(x_all))
    return influence


def robust_z(values: np.ndarray) -> np.ndarray:
    """Modified z-scores (Iglewicz & Hoaglin): ``(x - median) / (1.4826 * MAD)``.

    Where the MAD is 0 (more than half the values equal) the mean absolute deviation
    (x 1.2533) stands in; where every value is equal all scores are 0.
    """
    from scipy.stats import median_abs_deviation

    x = np.asarray(values, dtype=float)
    centred = x - np.median(x)
    scale = median_abs_deviation(x, scale="normal") or 1.2533 * np.abs(centred).mean()
    return centred / scale if scale > 0 else np.zeros_like(x)


def filter_motifs(
    model,
    onehot: np.ndarray,
    *,
    activation_threshold: float = 0.5,
    min_sites: int = 20,
    min_ic: float = 4.0,
    ic_trim: float = 0.3,
    max_motifs: int = 20,
    influence: np.ndarray | None = None,
    min_influence: float = 0.0,
    influence_z: float | None = None,
    batch_size: int = 128,
    device="cpu",
) -> list[LearnedMotif]:
    """First-layer filters as PWMs from the sequence windows that activate them.

    For each filter, every window whose activation exceeds ``activation_threshold`` x
    the filter's maximum over all sequences is added to a count matrix, weighted by its
    activation (Basset/scBasset's reading of filters). Flanks below ``ic_trim`` x the
    most informative column are trimmed; filters with fewer than ``min_sites`` windows
    or less than ``min_ic`` bits in all are dropped (they learned no clear motif); of
    the rest the ``max_motifs`` most informative are kept. A filter whose PWM has no
    :func:`informative_core` (4 columns of 1 bit) is dropped too: it cannot be named.

    With ``influence`` (:func:`filter_influence`, one value per filter) filters whose
    influence is below ``min_influence`` x the largest are dropped first, and the rest
    are ordered by influence: a CNN has more filters than the motifs it needs, and the
    spare ones fit noise (sharp, informative-looking PWMs of a few training peaks' k-mers)
    that the predictions hardly depend on. With ``influence_z`` only filters whose
    influence stands out from the bulk of filters are kept: a robust z-score
    (:func:`robust_z`, median and MAD over all filters) of at least ``influence_z``
    (None or 0: no such rule). The spare filters form a continuum of small influences
    and the filters that carry motifs are outliers above it, whatever the scale of the
    outputs.

    Returns
    -------
    list of LearnedMotif
        ``filter_<index>`` motifs, most influential (or most informative) first;
        ``contrib`` holds the trimmed filter weights.
    """
    import torch
    import torch.nn.functional as F

    model = model.to(device).eval()
    weights = model.first_layer_filters().numpy()  # (F, 4, W)
    n_filters, _, width = weights.shape
    pad_left = width // 2
    x_all = np.asarray(onehot, dtype=np.float32)

    def activations(x):
        with torch.no_grad():
            return model.first_layer_activations(torch.as_tensor(x, device=device))

    # pass 1: each filter's maximum activation
    fmax = torch.full((n_filters,), -np.inf, device=device)
    for s in range(0, len(x_all), batch_size):
        fmax = torch.maximum(fmax, activations(x_all[s : s + batch_size]).amax(dim=(0, 2)))
    thr = activation_threshold * fmax.clamp(min=1e-6)
    # pass 2: activation-weighted counts of the windows above the threshold
    counts = torch.zeros((n_filters, 4, width), device=device, dtype=torch.float64)
    n_sites = torch.zeros(n_filters, device=device, dtype=torch.float64)
    for s in range(0, len(x_all), batch_size):
        xb = torch.as_tensor(x_all[s : s + batch_size], device=device)
        act = activations(xb)
        length = act.shape[2]
        w = torch.where(act > thr[None, :, None], act, torch.zeros((), device=device))
        xp = F.pad(xb, (pad_left, width - 1 - pad_left))  # window p covers x[p - pad_left ...]
        windows = xp.unfold(2, width, 1)[:, :, :length, :]  # (B, 4, length, W)
        counts += torch.einsum("bfp,bcpw->fcw", w.double(), windows.double())
        n_sites += (w > 0).sum(dim=(0, 2)).double()
    counts = counts.cpu().numpy()
    n_sites = n_sites.cpu().numpy()
    motifs = []
    influential = np.ones(n_filters, dtype=bool)
    if influence is not None:
        influence = np.asarray(influence, dtype=float)
        if influence.shape != (n_filters,):
            raise ValueError(f"influence must have one value per filter ({n_filters})")
        influential = influence >= min_influence * max(float(influence.max()), 1e-300)
        if influence_z:  # None or 0: off
            influential &= robust_z(influence) >= influence_z
    for f in range(n_filters):
        if not influential[f] or n_sites[f] < min_sites or counts[f].sum() <= 0:
            continue
        ppm = _normalize(counts[f], pseudocount=1e-3 * counts[f].sum() / width)
        start, stop = trim_motif(ppm, None, ic_trim)
        ppm = ppm[:, start:stop]
        total_ic = float(information_content(ppm).sum())
        if total_ic < min_ic or informative_core(ppm) is None:
            continue  # no motif: too little information, or no well-defined position
        motifs.append(
            (
                total_ic if influence is None else float(influence[f]),
                LearnedMotif(
                    motif=f"filter_{f}",
                    method="filters",
                    ppm=ppm,
                    n_seqlets=int(n_sites[f]),
                    contrib=weights[f][:, start:stop],
                ),
            )
        )
    motifs.sort(key=lambda t: -t[0])
    log.info(
        "filters: %d of %d filters kept as motifs (%d influential)",
        min(len(motifs), max_motifs),
        n_filters,
        int(influential.sum()),
    )
    return [m for _, m in motifs[:max_motifs]]


# -------------------------------------------------------------------- motif database


def read_meme(path, with_nsites: bool = False) -> list[tuple]:
    """Read a MEME motif file: ``[(id, name, ppm (4, w)), ...]`` in file order.

    The MOTIF line's first word is the id, the rest (possibly empty) the name. With
    ``with_nsites`` each tuple also has the matrix's ``nsites`` (0 when absent).
    """
    motifs, current, rows, width, nsites = [], None, [], None, 0
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("MOTIF"):
                parts = line.split()
                current = (
                    parts[1] if len(parts) > 1 else f"motif_{len(motifs)}",
                    " ".join(parts[2:]),
                )
                rows, width = [], None
            elif current is not None and line.startswith("letter-probability"):
                fields = dict(
                    kv.split("=")
                    for kv in line.split(":", 1)[1].replace("= ", "=").split()
                    if "=" in kv
                )
                width = int(fields.get("w", 0))
                nsites = int(float(fields.get("nsites", 0)))
                rows = []
            elif current is not None and width is not None and line and len(rows) < width:
                rows.append([float(v) for v in line.split()[:4]])
                if len(rows) == width:
                    entry = (current[0], current[1], _normalize(np.asarray(rows).T))
                    motifs.append(entry + (nsites,) if with_nsites else entry)
                    current, width = None, None
    return motifs


def write_meme(path, motifs: Sequence[tuple[str, str, np.ndarray, int]]) -> None:
    """Write ``[(id, name, ppm (4, w), nsites), ...]`` as a MEME (version 4) motif file."""
    lines = [
        "MEME version 4",
        "",
        "ALPHABET= ACGT",
        "",
        "strands: + -",
        "",
        "Background letter frequencies",
        "A 0.25 C 0.25 G 0.25 T 0.25",
        "",
    ]
    for motif_id, name, ppm, nsites in motifs:
        ppm = _normalize(ppm)
        lines.append(f"MOTIF {motif_id} {name}".rstrip())
        lines.append(
            f"letter-probability matrix: alength= 4 w= {ppm.shape[1]} nsites= {int(nsites)} E= 0"
        )
        lines += [" ".join(f"{v:.6f}" for v in col) for col in ppm.T]
        lines.append("")
    Path(path).write_text("\n".join(lines) + "\n")


def load_motif_database(
    spec: str,
    *,
    collection: str = "CORE",
    tax_group: str = "vertebrates",
    dataset: str | None = None,
) -> list[DatabaseMotif]:
    """Reference motifs: a JASPAR release shipped with pyjaspar (offline) or a MEME file.

    Parameters
    ----------
    spec
        ``JASPAR2024`` (or another release pyjaspar ships), or the path of a MEME file.
    collection, tax_group
        JASPAR collection and taxonomic group (latest version of each matrix).

    Returns
    -------
    list of DatabaseMotif
        Names keep the database's spelling (JASPAR: ``SPI1``, ``NFE2::MAFK``);
        ``family`` is JASPAR's TF family ("" for MEME files).
    """
    spec = str(spec)
    if Path(spec).is_file():
        motifs = read_meme(spec)
        if not motifs:
            raise ScinterpInputError(
                "the motif database file has no motifs in MEME format.",
                dataset=dataset,
                path=spec,
                fix="give a MEME-format file (MOTIF lines with letter-probability matrices) "
                "or a JASPAR release name such as JASPAR2024.",
            )
        return [DatabaseMotif(i, n or i, "", p) for i, n, p in motifs]
    from pyjaspar import jaspardb

    releases = []
    try:
        releases = list(jaspardb().get_releases())
    except Exception:  # noqa: BLE001 - only used to word the error below
        pass
    if not spec.upper().startswith("JASPAR") or (releases and spec not in releases):
        raise ScinterpInputError(
            f"unknown motif database '{spec}': neither an existing MEME file nor a JASPAR "
            "release shipped with pyjaspar.",
            dataset=dataset,
            fix=f"set motif_database to one of {', '.join(releases) or 'JASPAR2024'} or to the "
            "path of a MEME-format motif file.",
        )
    jdb = jaspardb(release=spec)
    fetched = jdb.fetch_motifs(collection=collection, tax_group=[tax_group], all_versions=False)
    out = []
    for m in fetched:
        counts = np.array([m.counts[b] for b in "ACGT"], dtype=float)
        family = m.tf_family[0] if getattr(m, "tf_family", None) else ""
        out.append(DatabaseMotif(m.matrix_id, str(m.name), str(family), _normalize(counts, 0.01)))
    if not out:
        raise ScinterpInputError(
            f"JASPAR release {spec} has no {collection} {tax_group} motifs.",
            dataset=dataset,
            fix="choose another release, or give a MEME file.",
        )
    return out


def informative_core(
    ppm: np.ndarray, min_columns: int = 4, strong_ic: float = 1.0, trim_ic: float = 0.5
) -> tuple[int, int] | None:
    """Span ``[start, stop)`` of a motif worth naming, or None when it is too flat.

    A motif is nameable when at least ``min_columns`` columns carry ``strong_ic`` bits
    (a base at ~60% or more); its core then runs from the first to the last column with
    ``trim_ic`` bits. Why: Tomtom's null for a query column is its score against all
    target columns, most of them informative, so the near-uniform columns of a noisy
    motif look similar to the near-uniform columns of long targets (CTCF, zinc fingers)
    and the motif gets a 'significant' match to them. JASPAR cores have 4 or more such
    columns; the averaged windows of a filter that learned nothing have none.
    """
    ic = information_content(ppm)
    if int((ic >= strong_ic).sum()) < min_columns:
        return None
    keep = np.flatnonzero(ic >= min(trim_ic, strong_ic))
    return int(keep[0]), int(keep[-1]) + 1


# Bits a column needs to count towards a motif's informative core, per discovery method.
# A TF-MoDISco motif is backed by its seqlets (final_min_cluster_size or more sites of
# high contribution), so it is no flat noise, but its matrix averages sites aligned with
# some jitter and is flatter than the TF's own: SPI1 from 50 seqlets had fewer than 4
# columns of 1 bit on the demo and went unnamed although Tomtom's best match was SPI1
# (p ~ 1e-11). A filter's PWM has no such backing and keeps the strict bar.
STRONG_IC = {"filters": 1.0, "modisco": 0.5}


def match_motifs(
    motifs: Sequence[LearnedMotif],
    database: Sequence[DatabaseMotif],
    n_jobs: int = 1,
    min_columns: int = 4,
    strong_ic: float | Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Best Tomtom match (memelite) of each learned motif in the database.

    Each motif is matched by its :func:`informative_core` (``strong_ic`` bits per
    column: one number, or per method; default :data:`STRONG_IC`, 1 bit for other
    methods); motifs without one are not matched (``informative`` False, match fields
    empty). q-values are
    Benjamini-Hochberg over the query's p-values against all targets.

    Returns
    -------
    pandas.DataFrame
        One row per learned motif: ``motif, method, consensus, n_seqlets, cell_type,
        match_id, match_name, match_family, pvalue, evalue, qvalue, match_strand,
        match_offset`` (match fields empty / NaN when there are no motifs).
    """
    rows = [
        {
            "motif": m.motif,
            "method": m.method,
            "consensus": m.consensus,
            "n_seqlets": int(m.n_seqlets),
            "cell_type": m.cell_type,
        }
        for m in motifs
    ]
    table = pd.DataFrame(rows, columns=["motif", "method", "consensus", "n_seqlets", "cell_type"])
    for col in ("match_id", "match_name", "match_family"):
        table[col] = ""
    for col in ("pvalue", "evalue", "qvalue"):
        table[col] = np.nan
    table["match_strand"] = ""
    table["match_offset"] = 0
    bars = dict(STRONG_IC) if strong_ic is None else strong_ic
    cores = [
        informative_core(
            m.ppm,
            min_columns,
            bars.get(m.method, 1.0) if isinstance(bars, Mapping) else float(bars),
        )
        for m in motifs
    ]
    table["informative"] = [c is not None for c in cores]
    use = [i for i, c in enumerate(cores) if c is not None]
    if not use:
        return table
    _numba_cache()
    from memelite import tomtom

    queries = [
        np.ascontiguousarray(motifs[i].ppm[:, slice(*cores[i])], dtype=np.float64) for i in use
    ]
    targets = [np.ascontiguousarray(d.ppm, dtype=np.float64) for d in database]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # few targets: user MEME files
        p, _scores, offsets, _overlaps, strands = tomtom(queries, targets, n_jobs=n_jobs)
    p = np.clip(np.nan_to_num(np.asarray(p, dtype=float), nan=1.0), 0.0, 1.0)
    n_t = p.shape[1]
    best = p.argmin(axis=1)
    for k, j in enumerate(best):
        i = use[k]  # row of the table; k: row of the Tomtom results
        order = np.sort(p[k])
        q = order * n_t / np.arange(1, n_t + 1)
        q = np.minimum.accumulate(q[::-1])[::-1]
        rank = int(np.searchsorted(order, p[k, j]))
        table.loc[i, ["match_id", "match_name", "match_family"]] = [
            database[j].id,
            database[j].name,
            database[j].family,
        ]
        table.loc[i, "pvalue"] = p[k, j]
        table.loc[i, "evalue"] = p[k, j] * n_t
        table.loc[i, "qvalue"] = min(1.0, q[rank])
        table.loc[i, "match_strand"] = "-" if int(strands[k, j]) == 1 else "+"
        table.loc[i, "match_offset"] = int(offsets[k, j]) + cores[i][0]
    return table


def motif_table(matches: pd.DataFrame, max_qvalue: float = 0.05) -> pd.DataFrame:
    """The contract's ``motifs.tsv``: matches whose q-value exceeds ``max_qvalue`` lose their name.

    Keeps the best-match fields in ``best_id``/``best_name``/``best_qvalue`` for the
    record; ``match_id``/``match_name`` are empty for unmatched motifs.
    """
    out = matches.copy()
    out["best_id"], out["best_name"], out["best_family"] = (
        out["match_id"],
        out["match_name"],
        out["match_family"],
    )
    unmatched = ~(out["qvalue"] < max_qvalue)
    out.loc[unmatched, ["match_id", "match_name", "match_family"]] = ""
    out["matched"] = ~unmatched
    first = ["motif", "consensus", "n_seqlets", "match_id", "match_name", "qvalue", "method"]
    return out[first + [c for c in out.columns if c not in first]]


# ----------------------------------------------------------------------- TF activity


def _sample_sites(ppm: np.ndarray, n: int, rng) -> np.ndarray:
    """``(n, 4, w)`` one-hot sites drawn column by column from a probability matrix."""
    p = _normalize(ppm)
    cum = np.cumsum(p, axis=0)  # (4, w)
    u = rng.random((n, p.shape[1]))
    tokens = (u[:, None, :] > cum[None, :, :]).sum(axis=1).clip(0, 3)
    return (tokens[:, None, :] == np.arange(4)[None, :, None]).astype(np.float32)


def insertion_activity(
    model,
    background: np.ndarray,
    motifs: Mapping[str, np.ndarray],
    *,
    mode: str = "consensus",
    batch_size: int = 128,
    device="cpu",
    seed: int = 0,
    zscore: bool = True,
) -> pd.DataFrame:
    """scBasset-style TF activity: the change of each cell's predicted accessibility when a
    motif is inserted into the centre of background sequences.

    Parameters
    ----------
    model
        Sequence model ``(batch, 4, L) -> (batch, n_cells)`` logits.
    background
        ``(n, 4, L)`` background sequences (e.g. dinucleotide-shuffled peaks: GC-matched
        to the peaks, motif-free).
    motifs
        ``{name: ppm (4, w)}``.
    mode
        ``"consensus"``: insert the consensus; ``"sample"``: a site drawn from the matrix
        for each background sequence.
    zscore
        Standardize each motif's per-cell scores across cells (scBasset).

    Returns
    -------
    pandas.DataFrame
        cells x motifs: mean logit difference (with minus without the motif), z-scored
        across cells when ``zscore``.
    """
    import torch

    from scinterp.data.sequences import one_hot

    rng = np.random.default_rng(seed)
    bg = np.asarray(background, dtype=np.float32)
    length = bg.shape[2]
    model = model.to(device).eval()

    def predict(x):
        outs = []
        with torch.no_grad():
            for s in range(0, len(x), batch_size):
                outs.append(
                    model(torch.as_tensor(x[s : s + batch_size], device=device)).float().cpu()
                )
        return torch.cat(outs).numpy().astype(np.float64)

    base = predict(bg).mean(axis=0)
    scores = {}
    for name, ppm in motifs.items():
        w = ppm.shape[1]
        if w > length:
            raise ValueError(f"motif {name} ({w} bp) is longer than the sequences ({length} bp)")
        sites = (
            np.repeat(one_hot(consensus(ppm))[None], len(bg), axis=0)
            if mode == "consensus"
            else _sample_sites(ppm, len(bg), rng)
        )
        x = bg.copy()
        start = (length - w) // 2
        x[:, :, start : start + w] = sites
        scores[name] = predict(x).mean(axis=0) - base
    out = pd.DataFrame(scores)
    if zscore and len(out):
        out = (out - out.mean()) / out.std(ddof=0).replace(0, 1)
    return out


def scan_max_scores(onehot: np.ndarray, ppm: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Per sequence and position, the best log-odds score of a motif on either strand.

    Returns
    -------
    numpy.ndarray
        ``(n, L - w + 1)`` float32 (log2 odds against a uniform background).
    """
    import torch
    import torch.nn.functional as F

    pwm = np.log2(_normalize(ppm, 0.01) / 0.25).astype(np.float32)
    kernel = torch.as_tensor(np.stack([pwm, pwm[::-1, ::-1].copy()]))  # (2, 4, w)
    outs = []
    with torch.no_grad():
        for s in range(0, len(onehot), batch_size):
            x = torch.as_tensor(np.asarray(onehot[s : s + batch_size], dtype=np.float32))
            outs.append(F.conv1d(x, kernel).amax(dim=1).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def _quantile_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-count bins 0..n_bins-1 by rank (ties share a bin; constant input: one bin)."""
    ranks = pd.Series(np.asarray(values, dtype=float)).rank(method="min").to_numpy()
    return np.minimum(((ranks - 1) * n_bins // max(len(ranks), 1)).astype(np.int64), n_bins - 1)


def chromvar_deviations(
    accessibility,
    onehot: np.ndarray,
    motifs: Mapping[str, np.ndarray],
    *,
    gc: np.ndarray | None = None,
    p_threshold: float = 5e-5,
    n_backgrounds: int = 50,
    n_bins: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """chromVAR-like bias-corrected motif deviation z-scores per cell.

    Peaks with a motif hit (best log-odds score above the ``1 - p_threshold`` quantile of
    scores on dinucleotide-shuffled copies of the peaks) form the motif's annotation.
    A cell's deviation is (observed - expected) / expected reads in those peaks, expected
    from the cell's depth and the peaks' overall accessibility; ``n_backgrounds`` sets of
    background peaks matched on GC content and mean accessibility give its null
    distribution, and the z-score is the deviation against that null (Schep et al. 2017).

    Parameters
    ----------
    accessibility
        cells x peaks counts (sparse or dense), columns aligned with ``onehot``.
    onehot
        ``(n_peaks, 4, L)`` peak sequences.
    motifs
        ``{name: ppm (4, w)}``.
    gc
        GC fraction per peak (computed from ``onehot`` when None).

    Returns
    -------
    pandas.DataFrame
        cells x motifs z-scores (NaN columns for motifs without hits).
    """
    from scinterp.data.sequences import dinucleotide_shuffle

    rng = np.random.default_rng(seed)
    X = accessibility if sp.issparse(accessibility) else sp.csr_matrix(np.asarray(accessibility))
    X = sp.csr_matrix(X, dtype=np.float64)
    n_cells, n_peaks = X.shape
    onehot = np.asarray(onehot)
    if gc is None:
        gc = onehot[:, 1:3].sum(axis=(1, 2)) / onehot.shape[2]
    shuffled = dinucleotide_shuffle(onehot, rng)
    peak_total = np.asarray(X.sum(axis=0)).ravel()
    cell_total = np.asarray(X.sum(axis=1)).ravel()
    frac = peak_total / max(peak_total.sum(), 1e-12)
    # bins of GC x accessibility: background peaks are drawn from the same bin
    bins = _quantile_bins(gc, n_bins) * n_bins + _quantile_bins(peak_total, n_bins)
    members = {b: np.flatnonzero(bins == b) for b in np.unique(bins)}

    names, cols = [], []
    for name, ppm in motifs.items():
        null = scan_max_scores(shuffled, ppm).ravel()
        thr = np.quantile(null, 1.0 - p_threshold) if null.size else np.inf
        hit = scan_max_scores(onehot, ppm).max(axis=1) > thr
        names.append(name)
        cols.append(hit.astype(np.float64))
    if not names:
        return pd.DataFrame(index=range(n_cells))
    hits = np.stack(cols, axis=1)  # peaks x motifs
    # background annotations: each hit peak replaced by a random peak of its bin
    bg = np.zeros((n_peaks, len(names) * n_backgrounds))
    for k in range(len(names)):
        peaks_k = np.flatnonzero(hits[:, k])
        for b in range(n_backgrounds):
            draws = np.array([rng.choice(members[bins[p]]) for p in peaks_k], dtype=np.int64)
            np.add.at(bg[:, k * n_backgrounds + b], draws, 1.0)
    annot = sp.csr_matrix(np.hstack([hits, bg]))
    observed = np.asarray((X @ annot).todense())  # cells x (motifs + backgrounds)
    expected = cell_total[:, None] * (frac @ annot.toarray())[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = (observed - expected) / expected
    m = len(names)
    real = dev[:, :m]
    null = dev[:, m:].reshape(n_cells, m, n_backgrounds)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (real - null.mean(axis=2)) / null.std(axis=2)
    z[:, hits.sum(axis=0) == 0] = np.nan
    return pd.DataFrame(z, columns=names)


def aggregate_by_type(cell_scores: pd.DataFrame, labels: Sequence, method: str) -> pd.DataFrame:
    """Mean of per-cell scores per cell type -> long ``cell_type, motif, score, method``."""
    df = cell_scores.copy()
    df["cell_type"] = np.asarray(labels, dtype=object)
    df = df.dropna(subset=["cell_type"])
    mean = df.groupby("cell_type", sort=True).mean()
    long = mean.reset_index().melt(id_vars="cell_type", var_name="motif", value_name="score")
    long["method"] = method
    return long


# ----------------------------------------------------------------- the branch's steps
# What the rules call: each takes arrays/paths and returns tables, the scripts only
# read inputs and write outputs.


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


def influential_filter_motifs(
    model,
    onehot: np.ndarray,
    peak_idx: np.ndarray,
    labels: Sequence,
    *,
    min_influence: float = 0.1,
    influence_z: float | None = 3.5,
    device="cpu",
    **options,
) -> list[LearnedMotif]:
    """:func:`filter_motifs` of the filters the cell-type contrasts depend on.

    Influence (:func:`filter_influence`) is measured on the attributed peaks
    (``peak_idx``, rows of ``onehot``) for the contrast of every labelled cell type
    (:func:`type_contrast_weights`), the outputs the TF-MoDISco motifs explain too; the
    PWMs are read from all peaks. ``options`` go to :func:`filter_motifs`.
    """
    lab = pd.Series(np.asarray(labels, dtype=object))
    types = sorted(lab.dropna().astype(str).unique())
    rows = np.unique(np.asarray(peak_idx, dtype=np.int64))
    influence = filter_influence(
        model, np.asarray(onehot)[rows], type_contrast_weights(labels, types), device=device
    )
    return filter_motifs(
        model,
        onehot,
        influence=influence,
        min_influence=min_influence,
        influence_z=influence_z,
        device=device,
        **options,
    )


def learned_from_meme(path, method: str) -> list[LearnedMotif]:
    """Motifs of a MEME file written by :func:`write_learned_meme` (``nsites`` kept)."""
    return [
        LearnedMotif(motif=i, method=method, ppm=p, n_seqlets=n)
        for i, _name, p, n in read_meme(path, with_nsites=True)
    ]


def write_learned_meme(
    path, motifs: Sequence[LearnedMotif], names: Mapping[str, str] | None = None
):
    """Learned motifs as MEME, each named by its match (``names``: motif -> TF) when given."""
    names = dict(names or {})
    write_meme(path, [(m.motif, names.get(m.motif, ""), m.ppm, m.n_seqlets) for m in motifs])


def discover_and_match(
    onehot: np.ndarray,
    hypothetical: np.ndarray,
    cell_types: Sequence[str],
    filters: Sequence[LearnedMotif],
    database: Sequence[DatabaseMotif],
    *,
    max_qvalue: float = 0.05,
    modisco: Mapping | None = None,
    seed: int = 0,
    n_jobs: int = 1,
) -> tuple[pd.DataFrame, list[LearnedMotif]]:
    """TF-MoDISco motifs plus the filter motifs, each matched to the database by Tomtom.

    Returns
    -------
    table
        :func:`motif_table` of all learned motifs (``method`` modisco / filters).
    motifs
        The learned motifs, in the table's order.
    """
    motifs = modisco_motifs(
        onehot, hypothetical, cell_types=cell_types, seed=seed, **dict(modisco or {})
    )
    # filters read from an older run may predate the informative-core check
    kept = [f for f in filters if informative_core(f.ppm) is not None]
    if len(kept) < len(filters):
        log.info("dropping %d flat filter motifs (no informative core)", len(filters) - len(kept))
    motifs = motifs + kept
    table = motif_table(match_motifs(motifs, database, n_jobs=n_jobs), max_qvalue=max_qvalue)
    return table, motifs


def matched_motifs(table: pd.DataFrame, meme_path) -> dict[str, np.ndarray]:
    """``{motif: ppm}`` of the learned motifs with a significant match (``matched``)."""
    ppms = {i: p for i, _n, p in read_meme(meme_path)}
    keep = table.loc[table["matched"].astype(str).str.lower() == "true", "motif"]
    return {m: ppms[m] for m in keep if m in ppms}


def tf_activity(
    model,
    onehot: np.ndarray,
    accessibility,
    labels: Sequence,
    cells: Sequence[str],
    motifs: Mapping[str, np.ndarray],
    *,
    n_background: int = 200,
    insertion: str = "sample",
    batch_size: int = 128,
    device="cpu",
    seed: int = 0,
    chromvar: bool = True,
    chromvar_backgrounds: int = 50,
    gc: np.ndarray | None = None,
):
    """Per-cell and per-cell-type TF activity of ``motifs`` (insertion, chromVAR-like).

    Background sequences are dinucleotide shuffles of ``n_background`` random peaks
    (GC-matched to the peaks by construction, with motif sites broken up).

    Returns
    -------
    per_type
        Long ``cell_type, motif, score, method`` (mean over the type's cells).
    per_cell
        ``{method: cells x motifs DataFrame}`` indexed by ``cells``.
    """
    from scinterp.data.sequences import dinucleotide_shuffle

    rng = np.random.default_rng(seed)
    onehot = np.asarray(onehot)
    pick = rng.choice(len(onehot), size=min(n_background, len(onehot)), replace=False)
    background = dinucleotide_shuffle(onehot[np.sort(pick)], rng).astype(np.float32)
    index = pd.Index(list(map(str, cells)), name="cell")
    per_cell = {
        "insertion": insertion_activity(
            model,
            background,
            motifs,
            mode=insertion,
            batch_size=batch_size,
            device=device,
            seed=seed,
        ).set_axis(index, axis=0)
        if motifs
        else pd.DataFrame(index=index)
    }
    if chromvar:
        per_cell["chromvar"] = (
            chromvar_deviations(
                accessibility,
                onehot,
                motifs,
                gc=gc,
                n_backgrounds=chromvar_backgrounds,
                seed=seed,
            ).set_axis(index, axis=0)
            if motifs
            else pd.DataFrame(index=index)
        )
    per_type = [aggregate_by_type(df, labels, name) for name, df in per_cell.items() if df.shape[1]]
    cols = ["cell_type", "motif", "score", "method"]
    per_type = pd.concat(per_type, ignore_index=True) if per_type else pd.DataFrame(columns=cols)
    return per_type[cols], per_cell


def load_sequence_model(model_dir, atac, *, device="cpu", dataset: str | None = None):
    """The trained seq_cnn and its cells' labels, checked against the ATAC data.

    Returns
    -------
    model, labels
        The model in eval mode on ``device``; one label per ATAC cell (None where the
        cell has no label), from the model's metadata (the RNA labels by cell name, see
        :mod:`scinterp.train.run`).
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
    labels = meta.get("cell_labels")
    if not labels or all(v is None for v in labels):
        raise ScinterpInputError(
            "the ATAC cells have no cell-type labels: motif discovery contrasts cell types.",
            dataset=dataset,
            fix="give the dataset a label_key (or let Leiden clusters label the RNA cells) "
            "with cell names shared between the rna and atac files, or a label column in atac.obs.",
        )
    return model, np.asarray([None if v is None else str(v) for v in labels], dtype=object)


def modisco_options(options: Mapping) -> dict:
    """:func:`modisco_motifs` keyword arguments from the config's ``branches.motifs``."""
    return {
        "max_seqlets": options["modisco_max_seqlets"],
        "window": options["modisco_window"],
        "n_leiden_runs": options["modisco_leiden_runs"],
        "min_metacluster_size": options["modisco_min_metacluster_size"],
        "final_min_cluster_size": options["modisco_min_cluster_size"],
    }


def annotate_activity(per_type: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``tf_activity.tsv``: add each motif's match (``tf``, ``match_id``); insertion rows first."""
    match = table.set_index("motif")[["match_name", "match_id"]].rename(
        columns={"match_name": "tf"}
    )
    out = per_type.join(match, on="motif")
    order = {"insertion": 0, "chromvar": 1}
    out = out.sort_values(
        ["method", "motif", "score"],
        key=lambda s: s.map(order).fillna(9) if s.name == "method" else s,
        ascending=[True, True, False],
        kind="stable",
    )
    return out[["cell_type", "motif", "score", "method", "tf", "match_id"]].reset_index(drop=True)


def activity_anndata(per_cell: Mapping[str, pd.DataFrame], labels: Sequence, table: pd.DataFrame):
    """Cells x motifs AnnData: ``X`` the first method's scores, one layer per method."""
    import anndata as ad

    methods = list(per_cell)
    first = per_cell[methods[0]]
    var = table.set_index("motif").reindex(first.columns)[["match_name", "match_id", "method"]]
    var = var.rename(columns={"match_name": "tf", "method": "discovery"}).astype(str)
    obs = pd.DataFrame(
        {"cell_type": pd.Categorical(np.asarray(labels, dtype=object))}, index=first.index
    )
    layers = {m: per_cell[m].reindex(columns=first.columns).to_numpy(np.float32) for m in methods}
    adata = ad.AnnData(X=layers[methods[0]].copy(), obs=obs, var=var, layers=layers)
    adata.uns["methods"] = methods
    return adata


# --------------------------------------------------------------------------- figures


def _ic_matrix(ppm: np.ndarray) -> pd.DataFrame:
    """(w x 4) letter heights in bits, for logomaker."""
    p = _normalize(ppm)
    return pd.DataFrame((p * information_content(p)[None, :]).T, columns=list("ACGT"))


def _oriented(ppm_db: np.ndarray, strand: str) -> np.ndarray:
    """The database motif on the learned motif's strand (Tomtom's ``-``: reverse complement)."""
    return ppm_db[::-1, ::-1] if strand == "-" else ppm_db


def plot_logos(table: pd.DataFrame, learned: Mapping[str, np.ndarray], database, n: int = 12):
    """Sequence logos of learned motifs (left) beside their best JASPAR match (right).

    ``table`` is ``motifs.tsv``; the matched motifs come first, then by seqlets.
    Returns the matplotlib figure.
    """
    import logomaker
    import matplotlib.pyplot as plt

    db = {d.id: d for d in database}
    t = table.copy()
    t["_m"] = t["matched"].astype(str).str.lower() == "true"
    t = t.sort_values(["_m", "n_seqlets"], ascending=[False, False]).head(n)
    rows = max(len(t), 1)
    fig, axes = plt.subplots(rows, 2, figsize=(9, 1.3 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for r, (_, row) in enumerate(t.iterrows()):
        ppm = learned.get(row["motif"])
        if ppm is None:
            continue
        ax = axes[r, 0]
        ax.set_axis_on()
        logomaker.Logo(_ic_matrix(ppm), ax=ax, color_scheme="classic")
        ax.set_ylim(0, 2)
        ax.set_title(f"{row['motif']} ({row['method']}, n={row['n_seqlets']})", fontsize=8)
        best = db.get(str(row.get("best_id", "")))
        if best is not None:
            ax = axes[r, 1]
            ax.set_axis_on()
            oriented = _oriented(best.ppm, str(row["match_strand"]))
            logomaker.Logo(_ic_matrix(oriented), ax=ax, color_scheme="classic")
            ax.set_ylim(0, 2)
            verdict = "" if row["_m"] else " (not significant)"
            ax.set_title(
                f"{best.name} {best.id}, q={float(row['qvalue']):.2g}{verdict}", fontsize=8
            )
    if len(t) == 0:
        axes[0, 0].text(0.5, 0.5, "no motifs learned", ha="center", va="center")
    fig.tight_layout()
    return fig


def plot_activity_heatmap(activity: pd.DataFrame, method: str = "insertion"):
    """Heatmap of TF activity (cell types x matched motifs) of one method."""
    import matplotlib.pyplot as plt

    a = activity[activity["method"] == method].copy()
    fig, ax = plt.subplots(
        figsize=(
            2 + 0.45 * max(a["motif"].nunique(), 1),
            1.5 + 0.35 * max(a["cell_type"].nunique(), 1),
        )
    )
    if a.empty:
        ax.text(0.5, 0.5, "no matched motifs", ha="center", va="center")
        ax.set_axis_off()
        return fig
    a["label"] = a["motif"] + np.where(
        a["tf"].fillna("") != "", " (" + a["tf"].fillna("") + ")", ""
    )
    mat = a.pivot_table(index="cell_type", columns="label", values="score", aggfunc="mean")
    lim = float(np.nanmax(np.abs(mat.to_numpy()))) or 1.0
    im = ax.imshow(mat.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(mat.shape[0]), mat.index, fontsize=8)
    fig.colorbar(im, ax=ax, label=f"{method} activity")
    ax.set_title(f"TF activity per cell type ({method})", fontsize=9)
    fig.tight_layout()
    return fig
