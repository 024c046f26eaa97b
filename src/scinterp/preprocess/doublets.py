"""Doublet detection by a classifier trained on simulated heterotypic doublets.

The idea is scDblFinder's (Germain et al. 2021, F1000Research 10:979): cluster the
real cells, sum the counts of random pairs of cells from *different* clusters into
artificial doublets, and train a classifier to tell the artificial doublets from the
real cells on features that a doublet changes: the share of artificial doublets among
a cell's nearest neighbours (at several neighbourhood sizes and weighted by distance),
its library size and number of detected genes, and its principal components. Real
cells are scored out of fold, so a cell never scores itself. Training is repeated a
few times, leaving out of the real class the cells that the previous round called
doublets (they are mislabelled training examples).

Unlike scrublet, which simulates doublets from random pairs (mostly of the same type
where one type dominates, and those look like singlets) and calls a threshold on a
histogram, the simulated doublets here are heterotypic, the classifier sees library
size, and the threshold weighs both kinds of error (see `doublet_threshold`).

Everything runs per batch on raw counts; a batch is trained on at most
``max_train_cells`` real cells (the rest are scored by the trained models), so the
cost is linear in cells.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

# The classifier needs a few artificial doublets per pair of clusters and enough real
# cells per fold; smaller batches are skipped by the caller.
MIN_CELLS = 100


@dataclass
class DoubletScores:
    """Result of `score_doublets` for one batch.

    Attributes
    ----------
    score
        Doublet score of each real cell in [0, 1] (out of fold).
    predicted_doublet
        ``score > threshold``.
    threshold
        The score threshold.
    artificial_score
        Scores of the artificial doublets (out of fold), for diagnostics.
    n_clusters
        Clusters used to simulate heterotypic doublets.
    """

    score: np.ndarray
    predicted_doublet: np.ndarray
    threshold: float
    artificial_score: np.ndarray = field(repr=False)
    n_clusters: int = 0


def expected_doublet_rate(n_cells: int, per_thousand: float = 0.008) -> float:
    """The 10x Genomics rule of thumb: about 0.8% doublets per 1,000 cells loaded."""
    return min(0.5, per_thousand * n_cells / 1000)


def doublet_threshold(
    real: np.ndarray,
    artificial: np.ndarray,
    *,
    expected_rate: float,
    fp_weight: float = 4.0,
    rate_weight: float = 0.0,
) -> float:
    """Score threshold minimising a weighted error of the two kinds.

    The cost at threshold ``t`` is ``fp_weight * P(real > t) + P(artificial <= t) +
    rate_weight * dev(t)``: the share of real cells called (almost all singlets),
    the share of artificial doublets missed, and, with ``rate_weight`` > 0, a bounded
    penalty for calling a share of cells far from the expected doublet rate (``dev``
    is ``2/pi * arctan(|called - expected| / expected)``, in [0, 1)).
    Real doublets are a few percent of the real cells, so the first term hardly
    moves where the real cells' density is low; ``fp_weight`` > 1 puts the cut
    where keeping singlets matters more than catching the last doublets.

    The rate penalty is off by default: its well is as narrow as the expected rate
    (0.4% at 540 cells by the 10x rule), and in the flat cost of a small dataset the cut
    jumped into it for some seeds and not others (one seed of pbmc_4pct_s2, 537 cells
    with 22 doublets, called 2 cells and removed 0.09 of the doublets, the other four 0.50
    to 0.59; benchmarks/LOG.md, doublet seed stability). ``expected_rate`` only matters
    with ``rate_weight`` > 0.
    """
    real = np.sort(np.asarray(real, dtype=float))
    artificial = np.sort(np.asarray(artificial, dtype=float))
    cand = np.unique(np.r_[real, artificial, 0.0, 1.0])
    # Candidate cuts halfway between consecutive distinct scores.
    cuts = np.r_[(cand[:-1] + cand[1:]) / 2, cand[-1]]
    called = 1.0 - np.searchsorted(real, cuts, side="right") / len(real)
    missed = np.searchsorted(artificial, cuts, side="right") / len(artificial)
    e = max(expected_rate, 1e-3)
    dev = 2 / np.pi * np.arctan(np.abs(called - e) / e)
    cost = fp_weight * called + missed + rate_weight * dev
    return float(cuts[int(np.argmin(cost))])


def _log_normalize(X, target_sum: float = 1e4):
    """log1p of counts scaled to ``target_sum`` per row (CSR in, CSR out)."""
    from scipy import sparse

    X = sparse.csr_matrix(X, dtype=np.float32, copy=True)
    tot = np.asarray(X.sum(axis=1)).ravel()
    scale = np.divide(target_sum, tot, out=np.zeros_like(tot), where=tot > 0)
    X.data *= np.repeat(scale, np.diff(X.indptr)).astype(np.float32)
    np.log1p(X.data, out=X.data)
    return X


def _select_genes(X, n_genes: int, how: str = "mean") -> np.ndarray:
    """Indices of the ``n_genes`` genes of highest mean log-normalized expression.

    Expression rather than dispersion: a doublet is told by the genes of its two
    parents' types, which are among the expressed ones, and the mean needs no fit
    (dispersion fits are unstable on panels of a few dozen genes).
    """
    L = _log_normalize(X)
    mean = np.asarray(L.mean(axis=0)).ravel()
    detected = np.asarray((X > 0).sum(axis=0)).ravel()
    ok = np.flatnonzero(detected >= 3)
    if len(ok) <= n_genes:
        return ok
    if how == "mean":
        return ok[np.argsort(-mean[ok], kind="stable")[:n_genes]]
    import anndata as ad
    import scanpy as sc

    a = ad.AnnData(X[:, ok].astype(np.float32))
    if how == "hvg_v3":
        df = sc.pp.highly_variable_genes(a, n_top_genes=n_genes, flavor="seurat_v3", inplace=False)
        return ok[np.flatnonzero(df["highly_variable"].to_numpy())]
    a.X = L[:, ok]
    df = sc.pp.highly_variable_genes(a, n_top_genes=n_genes, flavor="seurat", inplace=False)
    return ok[np.flatnonzero(df["highly_variable"].to_numpy())]


def _artificial_doublets(X, clusters: np.ndarray, n: int, rng: np.random.Generator):
    """Counts of ``n`` artificial doublets summed from cell pairs of different clusters.

    Returns the counts (CSR) and the parent indices (n x 2).
    """
    from scipy import sparse

    m = X.shape[0]
    a = rng.integers(0, m, n)
    b = rng.integers(0, m, n)
    # Redraw partners from the same cluster (a few rounds suffice unless one cluster
    # holds nearly all cells; then some pairs stay homotypic, which is harmless).
    for _ in range(50):
        same = clusters[a] == clusters[b]
        if not same.any():
            break
        b[same] = rng.integers(0, m, int(same.sum()))
    rows = np.repeat(np.arange(n), 2)
    S = sparse.csr_matrix((np.ones(2 * n, dtype=np.float32), (rows, np.c_[a, b].ravel())), (n, m))
    return (S @ X).tocsr(), np.c_[a, b]


def _knn_features(dist: np.ndarray, is_art_nb: np.ndarray, ks: tuple[int, ...]) -> np.ndarray:
    """Share of artificial doublets among the k nearest neighbours, for each k; the
    distance-weighted share over all neighbours; the distance to the nearest
    artificial doublet relative to the nearest neighbour."""
    cols = [is_art_nb[:, :k].mean(axis=1) for k in ks]
    w = 1.0 / (dist + 1e-6 + np.median(dist[:, :1]))
    cols.append((w * is_art_nb).sum(axis=1) / w.sum(axis=1))
    big = np.where(is_art_nb, dist, np.inf)
    first_art = big.min(axis=1)
    first_art[~np.isfinite(first_art)] = dist[:, -1][~np.isfinite(first_art)] * 2
    cols.append(np.log1p(first_art) - np.log1p(dist[:, 0]))
    return np.column_stack(cols)


@dataclass
class _Space:
    """The joint PCA space of real and artificial training cells and its kNN index;
    :meth:`features` makes the classifier's features of cells placed in it."""

    pca: object
    nn: object
    P: np.ndarray
    is_art: np.ndarray
    ks: tuple[int, ...]
    kmax: int
    n_pc_feat: int
    lib_features: bool

    def features(self, d, i, tot, ng, pcs) -> np.ndarray:
        cols = [_knn_features(d, self.is_art[i], self.ks), pcs[:, : self.n_pc_feat]]
        if self.lib_features:
            cols += [np.log1p(tot), np.log1p(ng)]
        return np.column_stack(cols)


def _training_cells(X, max_train_cells: int, rng: np.random.Generator):
    """The real cells trained on: all, or a sorted random subsample (None: all)."""
    n = X.shape[0]
    return np.sort(rng.choice(n, max_train_cells, replace=False)) if n > max_train_cells else None


def _real_clusters(Xts, n_pcs: int, n_clusters: int | None, random_state: int):
    """k-means clusters of the real training cells on their own PCA, and their number."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    m = Xts.shape[0]
    pcs_real = PCA(n_pcs, random_state=random_state).fit_transform(_log_normalize(Xts).toarray())
    k = n_clusters or int(np.clip(round(np.sqrt(m) / 2), 4, 25))
    k = min(k, m // 10)
    return KMeans(k, n_init=3, random_state=random_state).fit_predict(pcs_real), k


def _thinned_doublets(
    Xts, clusters, total_t, n_art: int, thin, thin_frac: float, rng: np.random.Generator
):
    """The artificial doublets' counts and library sizes; with ``thin``, binomial
    thinning of each to a random share of its sum keeps the classifier from calling
    every singlet of a large library."""
    A, parents = _artificial_doublets(Xts, clusters, n_art, rng)
    total_art = total_t[parents].sum(1)
    if thin is not None:
        keep = rng.uniform(thin[0], thin[1], n_art)
        keep[rng.uniform(size=n_art) >= thin_frac] = 1.0
        A.data = rng.binomial(A.data.astype(np.int64), np.repeat(keep, np.diff(A.indptr)))
        A.data = A.data.astype(np.float32)
        total_art = total_art * keep
    return A, total_art


def _joint_space(both, m: int, n_pcs: int, ks, lib_features: bool, random_state: int) -> _Space:
    """PCA of real and artificial cells together (scDblFinder's way: the components then
    also span the directions in which doublets differ) and its kNN index."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    Lb = _log_normalize(both).toarray()
    pca = PCA(n_pcs, random_state=random_state).fit(Lb)
    P = pca.transform(Lb).astype(np.float32)
    kmax = min(max(ks), len(P) - 2)
    return _Space(
        pca=pca,
        nn=NearestNeighbors(n_neighbors=kmax + 1).fit(P),
        P=P,
        is_art=np.r_[np.zeros(m, bool), np.ones(both.shape[0] - m, bool)],
        ks=tuple(sorted({min(k_, kmax) for k_ in ks})),
        kmax=kmax,
        n_pc_feat=min(n_pcs, 10),
        lib_features=lib_features,
    )


def _new_classifier(random_state: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )


def _train_rounds(
    F,
    y,
    m: int,
    *,
    n_iter: int,
    n_folds: int,
    expected: float,
    fp_weight: float,
    rate_weight: float,
    random_state: int,
):
    """Out-of-fold scores of every training row after ``n_iter`` rounds, each leaving out
    of the real class the cells the round before called doublets; and the last round's
    fold models."""
    from sklearn.model_selection import StratifiedKFold

    use = np.ones(len(y), bool)  # rows in the training set of this round
    score = np.zeros(len(y))
    models = []
    for it in range(n_iter):
        rows = np.flatnonzero(use)
        oof = np.zeros(len(y))
        models = []
        skf = StratifiedKFold(n_folds, shuffle=True, random_state=random_state + it)
        for tr, te in skf.split(rows, y[rows]):
            clf = _new_classifier(random_state)
            clf.fit(F[rows[tr]], y[rows[tr]])
            models.append(clf)
            oof[rows[te]] = clf.predict_proba(F[rows[te]])[:, 1]
        # Cells left out of training this round are scored by every fold's model.
        left = np.flatnonzero(~use)
        if len(left):
            oof[left] = np.mean([c.predict_proba(F[left])[:, 1] for c in models], axis=0)
        score = oof
        thr = doublet_threshold(
            score[:m],
            score[m:],
            expected_rate=expected,
            fp_weight=fp_weight,
            rate_weight=rate_weight,
        )
        called = np.flatnonzero(score[:m] > thr)
        log.debug("round %d: threshold %.3f, %d of %d called", it, thr, len(called), m)
        use = np.ones(len(y), bool)
        use[called] = False
    return score, models


def _score_others(Xs, rest: np.ndarray, total, space: _Space, models) -> np.ndarray:
    """Scores of the cells not trained on, in chunks: projected into the joint space,
    their neighbours found among the training cells (real and artificial), the last
    round's fold models averaged."""
    out = np.empty(len(rest))
    for s in range(0, len(rest), 50_000):
        r = rest[s : s + 50_000]
        Pr = space.pca.transform(_log_normalize(Xs[r]).toarray()).astype(np.float32)
        d, i = space.nn.kneighbors(Pr, n_neighbors=space.kmax)
        Fr = space.features(d, i, total[r], np.diff(Xs[r].indptr), Pr)
        out[s : s + len(r)] = np.mean([c.predict_proba(Fr)[:, 1] for c in models], axis=0)
    return out


def _score_once(
    X,
    *,
    n_genes: int = 1000,
    gene_selection: str = "mean",
    n_pcs: int = 20,
    n_clusters: int | None = None,
    artificial_ratio: float = 1.0,
    ks: tuple[int, ...] = (5, 10, 20, 40),
    n_iter: int = 3,
    n_folds: int = 5,
    max_train_cells: int = 20_000,
    expected_rate: float | None = None,
    fp_weight: float = 4.0,
    round_rate_weight: float = 0.25,
    thin: tuple | None = None,
    thin_frac: float = 1.0,
    lib_features: bool = True,
    random_state: int = 0,
) -> DoubletScores:
    """Doublet scores and calls for the cells of one batch.

    Parameters
    ----------
    X
        Cells x genes raw counts (sparse or dense) of one batch.
    n_genes
        Genes used (highest mean log-normalized expression).
    n_pcs
        Principal components of the real and artificial cells together.
    n_clusters
        k-means clusters of the real cells whose cross pairs make the artificial
        doublets; None: ``clip(sqrt(cells) / 2, 4, 25)`` (over-clustering is harmless:
        a pair inside one cell type split in two only adds near-homotypic doublets).
    artificial_ratio
        Artificial doublets per real training cell.
    ks
        Neighbourhood sizes of the kNN features.
    n_iter
        Training rounds; each leaves out of the real class the cells called doublets
        by the previous one.
    n_folds
        Cross-validation folds; every training cell is scored by the model that did not
        see it.
    max_train_cells
        Real cells trained on (a random subsample above it); the others are scored by
        the models of the last round.
    expected_rate
        Expected doublet share for the threshold's penalty; None: `expected_doublet_rate`.
    fp_weight
        Weight of real cells called against artificial doublets missed in
        `doublet_threshold`.
    round_rate_weight
        Weight of the expected-rate penalty in the cut of each training round, which
        only decides the cells the next round leaves out of the real class (the calls
        are cut by `score_doublets`, without it).
    random_state
        Seed of the subsample, clustering, pairs, PCA and classifier.

    Returns
    -------
    DoubletScores
    """
    from scipy import sparse

    rng = np.random.default_rng(random_state)
    X = sparse.csr_matrix(X)
    n = X.shape[0]
    total = np.asarray(X.sum(axis=1), dtype=np.float64).ravel()

    train = _training_cells(X, max_train_cells, rng)
    Xt = X if train is None else X[train]
    genes = _select_genes(Xt, n_genes, gene_selection)
    Xs = X[:, genes].tocsr()
    Xts = Xs if train is None else Xs[train]
    total_t = total if train is None else total[train]
    m = Xts.shape[0]
    n_pcs = max(2, min(n_pcs, len(genes) - 1, m // 5))

    clusters, k = _real_clusters(Xts, n_pcs, n_clusters, random_state)
    n_art = max(int(round(artificial_ratio * m)), 100)
    A, total_art = _thinned_doublets(Xts, clusters, total_t, n_art, thin, thin_frac, rng)
    both = sparse.vstack([Xts, A]).tocsr()
    space = _joint_space(both, m, n_pcs, ks, lib_features, random_state)
    dist, idx = space.nn.kneighbors(space.P)
    dist, idx = dist[:, 1:], idx[:, 1:]  # without the cell itself
    F = space.features(dist, idx, np.r_[total_t, total_art], np.diff(both.indptr), space.P)

    expected = expected_doublet_rate(n) if expected_rate is None else expected_rate
    score, models = _train_rounds(
        F,
        space.is_art.astype(int),
        m,
        n_iter=n_iter,
        n_folds=n_folds,
        expected=expected,
        fp_weight=fp_weight,
        rate_weight=round_rate_weight,
        random_state=random_state,
    )
    real_score = np.empty(n)
    if train is None:
        real_score[:] = score[:m]
    else:
        real_score[train] = score[:m]
        rest = np.setdiff1d(np.arange(n), train)
        real_score[rest] = _score_others(Xs, rest, total, space, models)
    return real_score, score[m:], k, expected


def score_doublets(
    X,
    *,
    n_runs: int = 3,
    fp_weight: float = 4.0,
    rate_weight: float = 0.0,
    random_state: int = 0,
    **kw,
):
    """Average of `_score_once` over ``n_runs`` seeds (``random_state + 1000 * r``), the
    threshold (`doublet_threshold`) on the averaged scores of the real cells against the
    artificial doublets of every run.

    Three runs by default: a single run's calls depend on its seed (the clusters, the
    artificial doublets, the folds). On the 17 datasets of benchmarks/doublets.py with
    known doublets, five seeds each, the called cells of two seeds overlapped (Jaccard) by
    a median 0.65 with one run and 0.74 with three (worst dataset 0.21 and 0.42); with
    the threshold's rate penalty off, the largest seed sd of the share of doublets
    removed is 0.075 (0.20 with one run and the penalty, the default before;
    benchmarks/LOG.md, doublet seed stability). Each run adds the cost of one.

    On one BLAS and OpenMP thread whatever the job has: the PCA, k-means and the
    gradient-boosted classifier sum in another order on more threads, and the calls moved
    with the thread count (2,900 cells: 136 doublets at 1 thread, 132 at 2; the scores
    by up to 0.56); one thread gives the same calls at any ``--cores``."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        outs = [
            _score_once(X, fp_weight=fp_weight, random_state=random_state + 1000 * r, **kw)
            for r in range(n_runs)
        ]
    real = np.mean([o[0] for o in outs], axis=0)
    art = np.concatenate([o[1] for o in outs])
    thr = doublet_threshold(
        real, art, expected_rate=outs[0][3], fp_weight=fp_weight, rate_weight=rate_weight
    )
    return DoubletScores(
        score=real,
        predicted_doublet=real > thr,
        threshold=thr,
        artificial_score=art,
        n_clusters=outs[0][2],
    )
