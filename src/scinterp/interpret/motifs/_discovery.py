"""Motif discovery: TF-MoDISco (modisco-lite) on the contributions, and the first-layer
filters read as PWMs (kept when the model's outputs depend on them)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from scinterp.interpret.motifs._matching import match_motifs, motif_table
from scinterp.interpret.motifs._motif import (
    DatabaseMotif,
    LearnedMotif,
    _normalize,
    information_content,
    informative_core,
    trim_motif,
)
from scinterp.interpret.motifs._options import DEFAULT_OPTIONS
from scinterp.interpret.motifs._peaks import type_contrast_weights

log = logging.getLogger(__package__)


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


def _filter_site_counts(model, onehot, n_filters, width, activation_threshold, batch_size, device):
    """Per filter, the activation-weighted base counts ``(F, 4, W)`` of the windows whose
    activation exceeds ``activation_threshold`` x the filter's maximum, and the number of
    such windows ``(F,)``: two passes over the sequences (the maxima, then the counts)."""
    import torch
    import torch.nn.functional as F

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
    return counts.cpu().numpy(), n_sites.cpu().numpy()


def _influential(influence, n_filters, min_influence, influence_z) -> np.ndarray:
    """Filters whose influence reaches ``min_influence`` x the largest and, with
    ``influence_z``, a robust z-score of at least that (see :func:`filter_motifs`)."""
    if influence.shape != (n_filters,):
        raise ValueError(f"influence must have one value per filter ({n_filters})")
    influential = influence >= min_influence * max(float(influence.max()), 1e-300)
    if influence_z:  # None or 0: off
        influential &= robust_z(influence) >= influence_z
    return influential


def filter_motifs(
    model,
    onehot: np.ndarray,
    *,
    activation_threshold: float = DEFAULT_OPTIONS.filter_activation,
    min_sites: int = DEFAULT_OPTIONS.filter_min_sites,
    min_ic: float = DEFAULT_OPTIONS.filter_min_ic,
    ic_trim: float = 0.3,
    max_motifs: int = DEFAULT_OPTIONS.filter_max_motifs,
    influence: np.ndarray | None = None,
    min_influence: float = DEFAULT_OPTIONS.filter_min_influence,
    influence_z: float | None = DEFAULT_OPTIONS.filter_influence_z,
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
    model = model.to(device).eval()
    weights = model.first_layer_filters().numpy()  # (F, 4, W)
    n_filters, _, width = weights.shape
    counts, n_sites = _filter_site_counts(
        model, onehot, n_filters, width, activation_threshold, batch_size, device
    )
    motifs = []
    influential = np.ones(n_filters, dtype=bool)
    if influence is not None:
        influence = np.asarray(influence, dtype=float)
        influential = _influential(influence, n_filters, min_influence, influence_z)
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


def influential_filter_motifs(
    model,
    onehot: np.ndarray,
    peak_idx: np.ndarray,
    labels: Sequence,
    *,
    min_influence: float = DEFAULT_OPTIONS.filter_min_influence,
    influence_z: float | None = DEFAULT_OPTIONS.filter_influence_z,
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


def discover_and_match(
    onehot: np.ndarray,
    hypothetical: np.ndarray,
    cell_types: Sequence[str],
    filters: Sequence[LearnedMotif],
    database: Sequence[DatabaseMotif],
    *,
    max_qvalue: float = DEFAULT_OPTIONS.max_qvalue,
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
