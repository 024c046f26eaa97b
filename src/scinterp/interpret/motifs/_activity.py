"""TF activity per cell: a motif inserted into background sequences (scBasset) and
chromVAR-like deviations, averaged per cell type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from scinterp.interpret.motifs._motif import _normalize, consensus
from scinterp.interpret.motifs._options import DEFAULT_OPTIONS


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


def tf_activity(
    model,
    onehot: np.ndarray,
    accessibility,
    labels: Sequence,
    cells: Sequence[str],
    motifs: Mapping[str, np.ndarray],
    *,
    n_background: int = DEFAULT_OPTIONS.n_background,
    insertion: str = DEFAULT_OPTIONS.insertion,
    batch_size: int = 128,
    device="cpu",
    seed: int = 0,
    chromvar: bool = DEFAULT_OPTIONS.chromvar,
    chromvar_backgrounds: int = DEFAULT_OPTIONS.chromvar_backgrounds,
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
