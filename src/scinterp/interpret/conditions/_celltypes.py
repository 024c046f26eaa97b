"""Which cell types respond (``conditions/celltypes.tsv``): a condition classifier per cell
type, trained and scored across held-out samples, with a sample-permutation p-value."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import sparse

from ._common import adjust, design_of, eligible
from ._options import DEFAULT_OPTIONS, ConditionsOptions
from ._pseudobulk import _matrix, groups_of

TYPE_COLUMNS = [
    "cell_type",
    "contrast",
    "score",
    "p_value",
    "adj_p_value",
    "n_cells",
    "n_samples_test",
    "n_samples_ref",
    "method",
]
N_GENES = 2000  # most variable genes of a type that its classifier's PCA reads


def sample_folds(in_test: np.ndarray, n_folds: int, rng) -> list[np.ndarray]:
    """Held-out sample indices per fold: test and reference samples dealt separately in a
    random order, so every fold holds out at least one sample of each condition (with
    ``n_folds`` <= the smaller condition's sample count) and no sample is in two folds."""
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    for side in (True, False):
        idx = rng.permutation(np.flatnonzero(in_test == side))
        for i, s in enumerate(idx):
            folds[i % n_folds].append(int(s))
    return [np.array(sorted(f)) for f in folds]


def equal_take(n_cells: np.ndarray, total: int) -> np.ndarray:
    """Cells to take per sample: ``total`` spread as evenly as the samples allow."""
    take = np.zeros(len(n_cells), dtype=int)
    left = min(int(total), int(n_cells.sum()))
    while left > 0:
        room = np.flatnonzero(take < n_cells)
        share = max(left // room.size, 1)
        for i in room:
            add = min(share, n_cells[i] - take[i], left)
            take[i] += add
            left -= add
            if left == 0:
                break
    return take


_CONTROLLER = None


def _blas():
    """threadpoolctl's controller of this process's BLAS / OpenMP pools (made once: a
    ``threadpool_limits`` call looks them up again, 3 ms, longer than a fit)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _cv_auroc(z, cell_sample, labels_by_sample, folds, c):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    y = labels_by_sample[cell_sample]
    prob = np.empty(len(y))
    # one BLAS thread: the fits are tiny (cells x n_components), and a second thread only
    # spins (3.5x the CPU per fit); the same fit at any job thread count
    with _blas().limit(limits=1):
        for held in folds:
            test = np.isin(cell_sample, held)
            model = LogisticRegression(C=c, max_iter=1000)
            model.fit(z[~test], y[~test])
            prob[test] = model.predict_proba(z[test])[:, 1]
    return float(roc_auc_score(y, prob))


def _null_batch(z, cell_sample, perms, c):
    return [_cv_auroc(z, cell_sample, lab, folds, c) for lab, folds in perms]


def _null_scores(z, cell_sample, perms, c, n_jobs: int = 1) -> np.ndarray:
    """The cross-validated AUROC of each permuted labeling (``perms``: labeling and its
    folds), in ``n_jobs`` processes (each fit is the same at any count: one BLAS thread
    per process)."""
    n_jobs = max(1, min(int(n_jobs), len(perms)))
    if n_jobs == 1:
        return np.array(_null_batch(z, cell_sample, perms, c), dtype=float)
    from joblib import Parallel, delayed

    parts = [perms[i::n_jobs] for i in range(n_jobs)]
    res = Parallel(n_jobs=n_jobs, backend="loky", inner_max_num_threads=1)(
        delayed(_null_batch)(z, cell_sample, p, c) for p in parts
    )
    out = np.empty(len(perms))
    for i, r in enumerate(res):
        out[i::n_jobs] = r
    return out


def _labelings(in_test: np.ndarray, n: int, rng) -> tuple[list[np.ndarray], bool]:
    """Permuted sample labelings (group sizes kept): every distinct one but the observed
    when there are at most ``n + 1`` (exact test), else ``n`` random ones."""
    s, k = len(in_test), int(in_test.sum())
    if math.comb(s, k) <= n + 1:
        out = []
        for chosen in itertools.combinations(range(s), k):
            lab = np.zeros(s, dtype=bool)
            lab[list(chosen)] = True
            if not np.array_equal(lab, in_test):
                out.append(lab)
        return out, True
    return [rng.permutation(in_test) for _ in range(n)], False


def test_celltypes(
    adata,
    label_key: str,
    sample_key: str,
    condition_key: str,
    contrasts,
    options: ConditionsOptions = DEFAULT_OPTIONS,
    *,
    layer: str = "counts",
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Per cell type and contrast: ``score`` = AUROC of held-out cells' predicted test
    probability, from an L2 logistic regression on ``n_components`` principal components
    of the type's log-normalized counts (the 2,000 most variable genes; PCA fitted without
    labels), cross-validated by sample (no sample in both training and testing; folds in
    ``attrs['splits']``). Every type gets the same number of cells (``max_cells_per_type``
    or the smallest eligible type's count), spread evenly over its samples, so every
    sample weighs alike and abundance does not set the score. ``p_value``: the share of
    sample labelings (condition labels permuted between samples; all of them when there
    are at most ``n_permutations``) scoring at least as high. Method ``classifier``; BH
    within (method, contrast). ``n_jobs``: processes of the permutations' fits (the same
    p-values at any count)."""
    from sklearn.decomposition import PCA

    per_sample = design_of(adata.obs, sample_key, condition_key)
    codes, meta = groups_of(adata.obs, label_key, sample_key)
    matrix = _matrix(adata, layer)
    rows, skipped, splits = [], [], {}
    for test, ref in contrasts:
        name = f"{test}_vs_{ref}"
        ok = {}
        for cell_type in sorted(meta["cell_type"].unique()):
            m, reason = eligible(meta, per_sample, cell_type, (test, ref), options)
            if reason:
                skipped.append(reason)
            else:
                ok[cell_type] = m
        if not ok:
            continue
        n_eq = min(options.max_cells_per_type, *(int(m["n_cells"].sum()) for m in ok.values()))
        for cell_type, m in ok.items():
            rng = np.random.default_rng([options.seed, sorted(ok).index(cell_type)])
            take = equal_take(m["n_cells"].to_numpy(), n_eq)
            group_pos = meta.index.get_indexer(m.index)
            cells, cell_sample = [], []
            for j, (g, k) in enumerate(zip(group_pos, take, strict=True)):
                idx = np.flatnonzero(codes == g)
                cells.append(np.sort(rng.choice(idx, k, replace=False)))
                cell_sample.append(np.full(k, j))
            cells = np.concatenate(cells)
            cell_sample = np.concatenate(cell_sample)
            order = np.argsort(cells)
            cells, cell_sample = cells[order], cell_sample[order]
            x = matrix[cells]
            x = sparse.csr_matrix(x, dtype=np.float64)
            lib = np.asarray(x.sum(1)).ravel()
            x = (sparse.diags(1e4 / np.maximum(lib, 1.0)) @ x).tocsr()
            x.data = np.log1p(x.data)
            x = x.toarray()
            var = x.var(0)
            top = np.argsort(-var, kind="stable")[: min(N_GENES, int((var > 0).sum()))]
            x = x[:, top]
            x -= x.mean(0)
            nc = max(1, min(options.n_components, x.shape[0] - 1, x.shape[1]))
            z = PCA(n_components=nc, random_state=options.seed).fit_transform(x)
            in_test = m["in_test"].to_numpy()
            k = max(2, min(options.n_folds, int(in_test.sum()), int((~in_test).sum())))
            folds = sample_folds(in_test, k, rng)
            samples = m["sample"].to_numpy()
            splits[(cell_type, name)] = [
                (sorted(set(samples) - set(samples[f])), sorted(samples[f])) for f in folds
            ]
            score = _cv_auroc(z, cell_sample, in_test, folds, options.classifier_c)
            labelings, _ = _labelings(in_test, options.n_permutations, rng)
            # every labeling's folds drawn first, in the order the loop drew them: the
            # fits are then independent, and split over the job's processes
            perms = [(lab, sample_folds(lab, k, rng)) for lab in labelings]
            null = _null_scores(z, cell_sample, perms, options.classifier_c, n_jobs)
            # the observed labeling counts once: (1 + k) / (1 + n), exact or sampled
            p = float((1 + np.sum(null >= score - 1e-12)) / (1 + len(null)))
            rows.append(
                dict(
                    cell_type=cell_type,
                    contrast=name,
                    score=score,
                    p_value=p,
                    n_cells=int(len(cells)),
                    n_samples_test=int(in_test.sum()),
                    n_samples_ref=int((~in_test).sum()),
                    method="classifier",
                )
            )
    out = pd.DataFrame(rows, columns=[c for c in TYPE_COLUMNS if c != "adj_p_value"])
    out["adj_p_value"] = adjust(out)
    out = out[TYPE_COLUMNS]
    out.attrs["skipped"] = skipped
    out.attrs["splits"] = splits
    return out
