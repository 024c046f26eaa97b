"""Gene programs: per-cell activities -> differential scores per cell type, loadings, enrichment.

Methods (the ``method`` column of ``programs/activity.tsv``):

``program_vae`` / ``ldvae``
    Latent units of the gene-program VAE. A unit's activity is its latent mean, oriented so
    that higher activity means higher expression of its genes (the sign of the sum of its
    decoder weights, expiMap's ``latent_directions(method="sum")``). Its ``score`` in a
    cell type is the log-fold change of the program's genes that the unit accounts for:
    the difference of its mean activity (type minus the other cells) times the trimmed
    mean (20% cut at each end) of its decoder weights over the program's genes (the gene
    set; for a de novo unit its ``n_top_denovo`` largest weights). A unit the model does
    not use (weights near 0) scores near 0; so does one that a few genes of its set load
    on (a decoy set that happens to hold a handful of a cell type's markers), because the
    trimmed mean is that of the set's typical gene. The posterior Bayes factor (below) is
    kept in the column ``bayes_factor``.
``score_genes``
    Baseline: scanpy ``score_genes`` per gene set (mean expression of the set minus a
    matched control set).
``capsule``
    Capsule classifier: mean routing coupling of each gene-set capsule to each cell type,
    over the cells of that type (scCapsNet's interpretation).
``classifier_attribution``
    Which programs drive cell identity: a multinomial logistic regression on the
    standardized program activities (of ``program_vae``) is trained to predict the cell
    type and attributed with Captum's integrated gradients (baseline: the mean cell); the
    score is the mean attribution to the true class over the cells of each type. A linear
    model on activities, unlike attributing a gene-level classifier and summing per gene
    set, keeps overlapping gene sets apart and needs no extra trained model.

The differential score of the other methods (``score``; ``bayes_factor`` for the VAEs) is
expiMap's Bayes factor
``log p(a_in > a_out) - log p(a_in <= a_out)``, with ``p`` the probability that a random
cell of the type has a higher activity than a random other cell. For the VAEs activities
are drawn from the posterior (mean + sd * noise), so a unit the model does not use (large
posterior sd) scores near 0 even when its means differ slightly between types. The table
also carries an effect size (Cohen's d on the activities), the Mann-Whitney z and p-value,
and Benjamini-Hochberg adjusted p-values.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats

from scinterp.errors import ScinterpInputError

__all__ = [
    "ACTIVITY_COLUMNS",
    "benjamini_hochberg",
    "capsule_activity",
    "classifier_attribution",
    "denovo_matches",
    "decoder_scores",
    "differential_scores",
    "enrichment",
    "ensemble_rows",
    "latent_directions",
    "model_activity",
    "program_gene_rows",
    "program_loadings",
    "score_gene_sets",
]

log = logging.getLogger(__name__)

ACTIVITY_COLUMNS = [
    "program",
    "cell_type",
    "score",
    "method",
    "effect_size",
    "auc",
    "mean_in",
    "mean_out",
    "z",
    "pvalue",
    "padj",
    "n_cells",
]
_BF_EPS = 1e-8  # expiMap's epsilon: Bayes factors lie in about [-18.4, 18.4]


# ------------------------------------------------------------------ statistics
def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (scipy's ``false_discovery_control``) over
    the p-values that are not NaN; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(np.clip(p[ok], 0.0, 1.0))
    return out


def _as_labels(labels) -> tuple[np.ndarray, list[str]]:
    labels = pd.Series(np.asarray(labels, dtype=object)).astype(str)
    codes, classes = pd.factorize(labels, sort=True)
    return codes.astype(np.int64), [str(c) for c in classes]


def differential_scores(
    activity: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    programs: Sequence[str],
    method: str,
    std: np.ndarray | None = None,
    n_samples: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Per program and cell type: how much higher the activity is in that type than elsewhere.

    Parameters
    ----------
    activity
        Cells x programs activities (oriented: higher = program more on).
    labels
        Cell type of each cell.
    programs
        Program names (columns of ``activity``).
    method
        Written to the ``method`` column.
    std
        Optional cells x programs posterior standard deviations; when given, ``n_samples``
        draws per cell enter the Bayes factor (expiMap), otherwise the activities do.
    n_samples
        Posterior draws per cell.
    seed
        Seed of the draws.

    Returns
    -------
    pandas.DataFrame
        :data:`ACTIVITY_COLUMNS`: ``score`` (log Bayes factor), ``effect_size`` (Cohen's d),
        ``auc`` (P(in > out) on the activities), ``mean_in``, ``mean_out``, Mann-Whitney
        ``z``, ``pvalue`` (two-sided) and ``padj`` (BH over the whole table), ``n_cells``.
    """
    activity = np.asarray(activity, dtype=np.float64)
    if activity.ndim != 2 or activity.shape[1] != len(programs):
        raise ValueError(f"activity must be cells x {len(programs)} programs, got {activity.shape}")
    codes, classes = _as_labels(labels)
    if codes.shape[0] != activity.shape[0]:
        raise ValueError(f"{codes.shape[0]} labels for {activity.shape[0]} cells")
    n = activity.shape[0]
    counts = np.bincount(codes, minlength=len(classes))
    rng = np.random.default_rng(seed)
    rows = []
    for p, name in enumerate(programs):
        a = activity[:, p]
        # Ranks on the activities (for AUC, z) and on posterior draws (for the Bayes factor).
        ranks = stats.rankdata(a)
        tie_term = _tie_correction(a)
        if std is not None and n_samples > 0:
            noise = rng.standard_normal((n, n_samples))
            draws = a[:, None] + np.asarray(std[:, p])[:, None] * noise
            draw_ranks = stats.rankdata(draws.ravel()).reshape(n, n_samples)
        else:
            draw_ranks = None
        for t, cell_type in enumerate(classes):
            inside = codes == t
            n1, n2 = int(counts[t]), n - int(counts[t])
            if n1 == 0 or n2 == 0:
                continue
            u = ranks[inside].sum() - n1 * (n1 + 1) / 2.0
            auc = u / (n1 * n2)
            mu_u = n1 * n2 / 2.0
            sd_u = np.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))))
            z = (u - mu_u) / sd_u if sd_u > 0 else 0.0
            if draw_ranks is not None:
                s = n_samples
                m1, m2 = n1 * s, n2 * s
                u_draw = draw_ranks[inside].sum() - m1 * (m1 + 1) / 2.0
                prob = u_draw / (m1 * m2)
            else:
                prob = auc
            bf = np.log(prob + _BF_EPS) - np.log(1.0 - prob + _BF_EPS)
            a_in, a_out = a[inside], a[~inside]
            pooled = np.sqrt(
                (
                    (n1 - 1) * a_in.var(ddof=1 if n1 > 1 else 0)
                    + (n2 - 1) * a_out.var(ddof=1 if n2 > 1 else 0)
                )
                / max(1, n - 2)
            )
            d = (a_in.mean() - a_out.mean()) / pooled if pooled > 0 else 0.0
            rows.append(
                (
                    name,
                    cell_type,
                    float(bf),
                    method,
                    float(d),
                    float(auc),
                    float(a_in.mean()),
                    float(a_out.mean()),
                    float(z),
                    float(2.0 * stats.norm.sf(abs(z))),
                    np.nan,
                    n1,
                )
            )
    out = pd.DataFrame(rows, columns=ACTIVITY_COLUMNS)
    out["padj"] = benjamini_hochberg(out["pvalue"].to_numpy())
    return out


def _tie_correction(a: np.ndarray) -> float:
    _, tie_counts = np.unique(a, return_counts=True)
    return float((tie_counts**3 - tie_counts).sum())


# ------------------------------------------------------------------ model activities
def decoder_scores(
    table: pd.DataFrame,
    weights: np.ndarray,
    programs: Sequence[str],
    program_genes: Sequence[np.ndarray],
    trim: float = 0.2,
) -> pd.DataFrame:
    """VAE scores: a unit's activity difference times the typical decoder weight of its genes.

    Parameters
    ----------
    table
        :func:`differential_scores` of the (oriented) latent means: ``program,
        cell_type, score, mean_in, mean_out, ...``.
    weights
        Genes x units oriented decoder weights (columns in ``programs`` order).
    programs
        Unit names.
    program_genes
        Per unit, the rows of ``weights`` that are its genes.
    trim
        Fraction cut from each end before averaging the weights (``scipy.stats.trim_mean``).

    Returns
    -------
    pandas.DataFrame
        ``table`` with ``score = (mean_in - mean_out) * trim_mean(weights of the unit's
        genes)`` (the log-fold change of a typical gene of the program that the unit
        accounts for, in natural-log units of the expression rate), the former ``score``
        moved to ``bayes_factor``, and ``program_weight`` (that trimmed mean).
    """
    w = np.asarray(weights, dtype=np.float64)
    typical = np.asarray(
        [
            float(stats.trim_mean(w[np.asarray(idx, dtype=np.int64), k], trim)) if len(idx) else 0.0
            for k, idx in enumerate(program_genes)
        ]
    )
    pos = {name: k for k, name in enumerate(programs)}
    col = np.asarray([pos[p] for p in table["program"]], dtype=np.int64)
    out = table.copy()
    out["bayes_factor"] = out["score"]
    out["program_weight"] = typical[col]
    out["score"] = (out["mean_in"] - out["mean_out"]).to_numpy() * typical[col]
    return out


def program_gene_rows(
    weights: np.ndarray,
    features: Sequence[str],
    programs: Sequence[str],
    n_prior: int,
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    n_top_denovo: int = 50,
) -> list[np.ndarray]:
    """Per unit, the rows of ``weights`` that are its genes.

    Prior units: the genes of its gene set (``gene_sets``, else its non-zero weights);
    de novo units: the ``n_top_denovo`` largest oriented weights.
    """
    w = np.asarray(weights)
    pos = {str(g): i for i, g in enumerate(features)}
    rows = []
    for k, name in enumerate(programs):
        if k < n_prior:
            if gene_sets is not None and name in gene_sets:
                idx = np.asarray([pos[g] for g in gene_sets[name] if g in pos], dtype=np.int64)
            else:
                idx = np.flatnonzero(w[:, k] != 0)
        else:
            idx = np.argsort(-w[:, k], kind="stable")[:n_top_denovo]
        rows.append(idx)
    return rows


def latent_directions(decoder_weights: np.ndarray) -> np.ndarray:
    """Sign per latent unit that makes higher activity mean higher expression of its genes.

    The sign of the sum of the unit's decoder weights (expiMap ``method="sum"``); +1 when
    the sum is 0.
    """
    w = np.asarray(decoder_weights, dtype=np.float64)
    return np.where(w.sum(axis=0) < 0, -1.0, 1.0)


def _dense_rows(X, start: int, stop: int) -> np.ndarray:
    block = X[start:stop]
    if sparse.issparse(block):
        block = block.toarray()
    return np.ascontiguousarray(block, dtype=np.float32)


def model_activity(
    model, X, batch_size: int = 512, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Latent means (and posterior sds, if the model has ``encode``) of every cell.

    Parameters
    ----------
    model
        A trained gene-program VAE (``forward(x)`` = latent means; ``encode(x)`` =
        (means, log-variances) when available).
    X
        Cells x model features (dense or sparse), the model's input.
    batch_size, device
        Cells per forward pass and torch device.

    Returns
    -------
    (means, sds)
        Cells x units arrays; ``sds`` is None when the model has no ``encode``.
    """
    import torch

    model = model.to(device).eval()
    means, sds = [], []
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            xb = torch.from_numpy(_dense_rows(X, start, start + batch_size)).to(device)
            if hasattr(model, "encode"):
                mu, logvar = model.encode(xb)
                means.append(mu.float().cpu().numpy())
                sds.append((0.5 * logvar.float()).exp().cpu().numpy())
            else:
                means.append(model(xb).float().cpu().numpy())
    mu = np.concatenate(means) if means else np.zeros((0, 0))
    return mu, (np.concatenate(sds) if sds else None)


def score_gene_sets(
    adata, gene_sets: Mapping[str, Sequence[str]], ctrl_size: int = 50, seed: int = 0
) -> pd.DataFrame:
    """scanpy ``score_genes`` for every gene set: cells x sets (log-normalized ``X``)."""
    import scanpy as sc

    scores = {}
    tmp = sc.AnnData(
        X=adata.X, obs=pd.DataFrame(index=adata.obs_names), var=pd.DataFrame(index=adata.var_names)
    )
    for name, genes in gene_sets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.tl.score_genes(
                tmp,
                list(genes),
                ctrl_size=ctrl_size,
                random_state=seed,
                score_name="_s",
                use_raw=False,
            )
        scores[name] = tmp.obs["_s"].to_numpy(dtype=np.float64)
    return pd.DataFrame(scores, index=adata.obs_names)


# ------------------------------------------------------------------ capsule
def capsule_activity(
    model,
    X,
    labels: Sequence[str] | np.ndarray,
    classes: Sequence[str],
    capsule_names: Sequence[str],
    batch_size: int = 512,
    device: str = "cpu",
) -> pd.DataFrame:
    """The capsule classifier's capsule-to-cell-type table, long format.

    ``score`` is the mean routing coupling of each capsule to each cell type over the cells
    of that type; ``contribution`` the mean length of the coupled vote
    (:meth:`~scinterp.models.capsule.CapsuleClassifier.contribution`). Cells whose label is
    not among the model's ``classes`` are ignored.
    """
    import torch

    classes = [str(c) for c in classes]
    pos = {c: i for i, c in enumerate(classes)}
    labels = np.asarray(labels, dtype=object).astype(str)
    keep = np.flatnonzero([lab in pos for lab in labels])
    if keep.size == 0:
        raise ValueError("no cell carries one of the capsule classifier's classes")
    y = torch.as_tensor([pos[lab] for lab in labels[keep]], dtype=torch.long)
    Xk = X[keep]
    x = torch.from_numpy(_dense_rows(Xk, 0, Xk.shape[0]))
    model = model.to(device).eval()
    coupling = model.capsule_class_table(x, y, kind="coupling", batch_size=batch_size).numpy()
    contrib = model.capsule_class_table(x, y, kind="contribution", batch_size=batch_size).numpy()
    n_cells = np.bincount(y.numpy(), minlength=len(classes))
    if coupling.shape[0] != len(capsule_names):
        raise ValueError(f"{coupling.shape[0]} capsules but {len(capsule_names)} capsule names")
    rows = [
        (
            capsule_names[k],
            classes[j],
            float(coupling[k, j]),
            "capsule",
            float(contrib[k, j]),
            int(n_cells[j]),
        )
        for k in range(coupling.shape[0])
        for j in range(len(classes))
        if n_cells[j] > 0
    ]
    return pd.DataFrame(
        rows, columns=["program", "cell_type", "score", "method", "contribution", "n_cells"]
    )


# ------------------------------------------------------------------ classifier attribution
def classifier_attribution(
    activity: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    programs: Sequence[str],
    epochs: int = 300,
    weight_decay: float = 1e-3,
    n_steps: int = 16,
    seed: int = 0,
) -> pd.DataFrame:
    """Which programs drive cell identity: logistic regression on activities + Captum IG.

    Parameters
    ----------
    activity
        Cells x programs (oriented) activities.
    labels
        Cell type per cell.
    programs
        Program names.
    epochs, weight_decay
        Full-batch Adam steps and L2 penalty of the logistic regression.
    n_steps
        Integrated-gradients steps (the model is linear, so few suffice).
    seed
        Torch seed.

    Returns
    -------
    pandas.DataFrame
        ``program, cell_type, score, method, effect_size, n_cells`` where ``score`` is the
        mean attribution of the program to the true class over the cells of the type, and
        ``effect_size`` the logistic weight on the standardized activity.
    """
    import torch

    codes, classes = _as_labels(labels)
    a = np.asarray(activity, dtype=np.float64)
    mean, sd = a.mean(0), a.std(0)
    z = (a - mean) / np.where(sd > 0, sd, 1.0)
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(z, dtype=torch.float32)
    y = torch.as_tensor(codes)
    lin = torch.nn.Linear(x.shape[1], len(classes))
    with torch.no_grad():
        lin.weight.copy_(0.01 * torch.randn(lin.weight.shape, generator=gen))
        lin.bias.zero_()
    opt = torch.optim.Adam(lin.parameters(), lr=0.05, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(x), y)
        loss.backward()
        opt.step()
    lin.eval()
    with torch.no_grad():
        acc = float((lin(x).argmax(1) == y).float().mean())
    log.info("classifier on program activities: training accuracy %.3f", acc)
    attr = _integrated_gradients(lin, x, y, n_steps)
    rows = []
    w = lin.weight.detach().numpy()
    for t, cell_type in enumerate(classes):
        inside = codes == t
        if not inside.any():
            continue
        mean_attr = attr[inside].mean(0)
        for p, name in enumerate(programs):
            rows.append(
                (
                    name,
                    cell_type,
                    float(mean_attr[p]),
                    "classifier_attribution",
                    float(w[t, p]),
                    int(inside.sum()),
                )
            )
    return pd.DataFrame(
        rows, columns=["program", "cell_type", "score", "method", "effect_size", "n_cells"]
    )


def _integrated_gradients(model, x, y, n_steps: int) -> np.ndarray:
    """IG attributions to each cell's own class (baseline zeros = the mean cell), via
    ``scinterp.attribution.attribute`` when present, else Captum directly."""
    try:
        from scinterp.attribution import attribute
    except ImportError:
        attribute = None
    if attribute is not None:
        out = attribute(model, x, "integrated_gradients", target=y, n_steps=n_steps)
        return np.asarray(out, dtype=np.float64)
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(model)
    return ig.attribute(x, target=y, n_steps=n_steps).detach().numpy().astype(np.float64)


# ------------------------------------------------------------------ loadings and enrichment
def program_loadings(
    weights: np.ndarray,
    genes: Sequence[str],
    programs: Sequence[str],
    n_prior: int,
    method: str,
    gene_sets: Mapping[str, Sequence[str]] | None = None,
    directions: np.ndarray | None = None,
    used_threshold: float = 0.1,
    n_top_denovo: int = 50,
) -> pd.DataFrame:
    """Genes of each program with their (oriented) decoder weights.

    Parameters
    ----------
    weights
        Genes x units decoder weights.
    genes, programs
        Row and column names of ``weights``.
    n_prior
        The first ``n_prior`` units are prior programs (gene sets), the rest de novo.
    method
        Model name, written to the ``method`` column.
    gene_sets
        Prior program -> its genes (rows listed for prior programs); default: the genes
        with non-zero weight.
    directions
        Per-unit sign (see :func:`latent_directions`); weights are multiplied by it so a
        positive weight means the gene goes up with the program's activity.
    used_threshold
        A gene is ``used`` when ``|weight| >= used_threshold * max |weight|`` of its program.
    n_top_denovo
        De novo programs: genes listed (largest ``|weight|`` first).

    Returns
    -------
    pandas.DataFrame
        ``program, gene, weight, kind, used, rank, method`` (rank 1 = largest |weight|
        within the program).
    """
    w = np.asarray(weights, dtype=np.float64)
    if directions is not None:
        w = w * np.asarray(directions, dtype=np.float64)[None, :]
    genes = np.asarray([str(g) for g in genes], dtype=object)
    gene_pos = {g: i for i, g in enumerate(genes)}
    frames = []
    for k, name in enumerate(programs):
        col = w[:, k]
        top = np.max(np.abs(col)) if col.size else 0.0
        if k < n_prior:
            kind = "prior"
            if gene_sets is not None and name in gene_sets:
                idx = np.asarray(
                    [gene_pos[g] for g in gene_sets[name] if g in gene_pos], dtype=np.int64
                )
            else:
                idx = np.flatnonzero(col != 0)
        else:
            kind = "denovo"
            idx = np.argsort(-np.abs(col), kind="stable")[:n_top_denovo]
        if idx.size == 0:
            continue
        vals = col[idx]
        order = np.argsort(-np.abs(vals), kind="stable")
        idx, vals = idx[order], vals[order]
        used = np.abs(vals) >= used_threshold * top if top > 0 else np.zeros(idx.size, dtype=bool)
        frames.append(
            pd.DataFrame(
                {
                    "program": name,
                    "gene": genes[idx],
                    "weight": vals,
                    "kind": kind,
                    "used": used,
                    "rank": np.arange(1, idx.size + 1),
                    "method": method,
                }
            )
        )
    cols = ["program", "gene", "weight", "kind", "used", "rank", "method"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def enrichment(
    genes: Sequence[str],
    gene_sets: Mapping[str, Sequence[str]],
    universe: Sequence[str],
) -> pd.DataFrame:
    """Hypergeometric over-representation of ``genes`` in each gene set, BH-adjusted.

    Sets and genes are restricted to ``universe`` (the genes the model saw).

    Returns
    -------
    pandas.DataFrame
        ``gene_set, overlap, set_size, n_genes, universe, fold_enrichment, pvalue, padj,
        overlap_genes``, best first. Empty when no set overlaps the universe.
    """
    uni = {str(g) for g in universe}
    query = [g for g in dict.fromkeys(str(g) for g in genes) if g in uni]
    qset = set(query)
    M, N = len(uni), len(query)
    rows = []
    for name, members in gene_sets.items():
        members = {str(g) for g in members} & uni
        n = len(members)
        if n == 0:
            continue
        hits = sorted(qset & members)
        k = len(hits)
        p = float(stats.hypergeom.sf(k - 1, M, n, N)) if k > 0 else 1.0
        fold = (k / N) / (n / M) if N > 0 else 0.0
        rows.append((name, k, n, N, M, fold, p, ",".join(hits)))
    cols = ["gene_set", "overlap", "set_size", "n_genes", "universe", "fold_enrichment", "pvalue"]
    out = pd.DataFrame(rows, columns=[*cols, "overlap_genes"])
    out.insert(7, "padj", benjamini_hochberg(out["pvalue"].to_numpy()))
    return out.sort_values(
        ["pvalue", "overlap"], ascending=[True, False], kind="stable"
    ).reset_index(drop=True)


def denovo_enrichment(
    loadings: pd.DataFrame, gene_sets: Mapping[str, Sequence[str]], universe: Sequence[str]
) -> pd.DataFrame:
    """Enrichment of each de novo program's used genes against the prior gene sets.

    Returns ``method, program`` followed by the columns of :func:`enrichment`.
    """
    frames = []
    denovo = loadings[(loadings["kind"] == "denovo") & loadings["used"].astype(bool)]
    for (method, program), grp in denovo.groupby(["method", "program"], sort=False):
        res = enrichment(grp["gene"].tolist(), gene_sets, universe)
        res.insert(0, "program", program)
        res.insert(0, "method", method)
        frames.append(res)
    cols = ["method", "program", "gene_set", "overlap", "set_size", "n_genes", "universe"]
    cols += ["fold_enrichment", "pvalue", "padj", "overlap_genes"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def denovo_matches(
    enrich: pd.DataFrame, loadings: pd.DataFrame, n_genes_shown: int = 10
) -> pd.DataFrame:
    """One row per de novo program: its top genes and best-matching prior set."""
    rows = []
    denovo = loadings[loadings["kind"] == "denovo"]
    for (method, program), grp in denovo.groupby(["method", "program"], sort=False):
        top = grp.sort_values("rank").head(n_genes_shown)["gene"].tolist()
        hit = enrich[(enrich["method"] == method) & (enrich["program"] == program)]
        best = hit.iloc[0] if len(hit) else None
        rows.append(
            {
                "method": method,
                "program": program,
                "n_used_genes": int(grp["used"].astype(bool).sum()),
                "top_genes": ",".join(top),
                "best_gene_set": best["gene_set"] if best is not None else "",
                "overlap": int(best["overlap"]) if best is not None else 0,
                "padj": float(best["padj"]) if best is not None else np.nan,
            }
        )
    cols = ["method", "program", "n_used_genes", "top_genes", "best_gene_set", "overlap", "padj"]
    return pd.DataFrame(rows, columns=cols)


def check_features(adata, features: Sequence[str], model_dir, dataset: str | None) -> np.ndarray:
    """Column positions of a model's features in ``adata`` (clear error when missing)."""
    pos = {str(g): i for i, g in enumerate(adata.var_names)}
    missing = [g for g in features if g not in pos]
    if missing:
        raise ScinterpInputError(
            f"{len(missing)} of the model's {len(features)} genes are not in normalized.h5ad "
            f"(e.g. {', '.join(missing[:5])}).",
            dataset=dataset,
            path=model_dir,
            fix="retrain the model on the current normalized.h5ad (delete the model folder).",
        )
    return np.asarray([pos[g] for g in features], dtype=np.int64)


# ------------------------------------------------------------------ the branch, end to end
VAE_MODELS = ("program_vae", "ldvae")


def label_column(adata) -> str:
    """The obs column holding the cell labels (``uns["scinterp"]["label_key"]``)."""
    key = adata.uns.get("scinterp", {}).get("label_key") if hasattr(adata, "uns") else None
    for candidate in (key, "label"):
        if candidate is not None and candidate in adata.obs:
            return candidate
    raise ScinterpInputError(
        "normalized.h5ad names no label column (uns['scinterp']['label_key']) present in obs.",
        fix="re-run the normalize step, which records the label column.",
    )


def ensemble_rows(
    tables: Sequence[pd.DataFrame], aligned: Sequence[str], top: int = 5
) -> pd.DataFrame:
    """One method's activity table from an ensemble of the same model at several seeds.

    Parameters
    ----------
    tables
        One activity table per member (``program, cell_type, score, ...``), the first one
        the main model.
    aligned
        Programs that mean the same in every member (the gene-set units); others (de
        novo units) keep the first table's score and get no confidence.
    top
        A member "finds" a program for a cell type when the program is among the type's
        ``top`` highest scores of that member.

    Returns
    -------
    pandas.DataFrame
        The first table with ``score`` the members' mean (aligned programs) and
        ``confidence``: the share of members that find the program for the type (NaN for
        programs not aligned, and for every row with a single member).
    """
    out = tables[0].copy()
    out["confidence"] = np.nan
    if len(tables) < 2:
        return out
    aligned = set(aligned)
    key = ["program", "cell_type"]
    found = []
    scores = []
    for t in tables:
        t = t[t["program"].isin(aligned)]
        s = t.set_index(key)["score"]
        scores.append(s)
        ranks = t.groupby("cell_type")["score"].rank(ascending=False, method="first")
        found.append(pd.Series((ranks <= top).to_numpy(float), index=s.index))
    mean = pd.concat(scores, axis=1).mean(axis=1)
    conf = pd.concat(found, axis=1).fillna(0.0).mean(axis=1)
    idx = pd.MultiIndex.from_frame(out[key])
    hit = idx.isin(mean.index)
    out.loc[hit, "score"] = mean.reindex(idx[hit]).to_numpy()
    out.loc[hit, "confidence"] = conf.reindex(idx[hit]).to_numpy()
    return out


def compute_programs(
    adata,
    gene_sets_path,
    model_dirs: Mapping[str, str] | None = None,
    *,
    min_set_size: int = 5,
    used_threshold: float = 0.1,
    n_top_denovo: int = 50,
    n_posterior_samples: int = 10,
    ctrl_size: int = 50,
    seed: int = 0,
    device: str = "cpu",
    dataset: str | None = None,
    score_trim: float = 0.2,
    member_dirs: Mapping[str, Sequence[str]] | None = None,
    confidence_top: int = 5,
) -> dict:
    """Every table of the programs branch from a normalized AnnData and trained models.

    Parameters
    ----------
    adata
        ``normalized.h5ad`` (log-normalized ``X``, label column, ``obsm["X_umap"]``).
    gene_sets_path
        GMT file of prior gene sets (genes absent from the data are dropped and counted in
        the log; sets with fewer than ``min_set_size`` genes are skipped with a warning;
        malformed lines or no overlap raise :class:`ScinterpInputError`).
    model_dirs
        Model name -> model folder, among ``program_vae``, ``ldvae``, ``capsule_classifier``.
    min_set_size, used_threshold, n_top_denovo, n_posterior_samples, ctrl_size, seed
        See :func:`program_loadings`, :func:`differential_scores`, :func:`score_gene_sets`.
    score_trim
        Trim fraction of the VAEs' scores (:func:`decoder_scores`).
    device
        Torch device for the models.
    dataset
        Dataset name, for messages.
    member_dirs
        VAE name -> folders of further ensemble members (the same VAE trained at other
        seeds). A gene-set program's ``score`` is then the mean over the members, and its
        ``confidence`` the share of members whose own scores put it among the cell type's
        top ``confidence_top`` programs of that VAE (:func:`ensemble_rows`); de novo
        units, which do not correspond across seeds, keep the first model's score and an
        empty confidence, as do the methods without members. The other columns, the
        loadings and the per-cell activities are the first model's.
    confidence_top
        See ``member_dirs``.

    Returns
    -------
    dict
        ``activity``, ``loadings``, ``denovo_enrichment``, ``denovo_matches`` (DataFrames)
        and ``cell_activity`` (AnnData: cells x programs of the main method, labels in obs,
        ``X_umap`` carried, ``uns["method"]``).
    """
    import anndata as ad

    from scinterp.priors import read_gmt

    model_dirs = dict(model_dirs or {})
    member_dirs = {k: list(v) for k, v in (member_dirs or {}).items()}
    label_key = label_column(adata)
    labels = adata.obs[label_key].astype(str).to_numpy()
    sets = read_gmt(gene_sets_path, genes=adata.var_names, min_size=min_set_size, dataset=dataset)
    log.info("%d gene sets with >= %d genes in the data", len(sets), min_set_size)

    activities = []
    loadings = []
    cell_act, cell_method = None, None

    sg = score_gene_sets(adata, sets, ctrl_size=ctrl_size, seed=seed)
    activities.append(differential_scores(sg.to_numpy(), labels, list(sg.columns), "score_genes"))

    main_activity = None
    for name in VAE_MODELS:
        if name not in model_dirs:
            continue
        member_tables = []
        for i, d in enumerate([model_dirs[name], *member_dirs.get(name, [])]):
            module_i, meta_i, X_i = _load(d, adata, device, dataset)
            mu_i, sd_i = model_activity(module_i, X_i, device=device)
            weights_i = module_i.decoder_weights().cpu().numpy()
            directions_i = latent_directions(weights_i)
            mu_i = mu_i * directions_i[None, :]
            programs_i = list(meta_i["programs"])
            table = differential_scores(
                mu_i, labels, programs_i, name, std=sd_i, n_samples=n_posterior_samples, seed=seed
            )
            oriented = weights_i * directions_i[None, :]
            genes_of = program_gene_rows(
                oriented,
                meta_i["features"],
                programs_i,
                int(meta_i.get("n_prior", 0)),
                meta_i.get("gene_sets"),
                n_top_denovo,
            )
            member_tables.append(
                decoder_scores(table, oriented, programs_i, genes_of, trim=score_trim)
            )
            if i == 0:  # the first model carries loadings and per-cell activities
                meta, mu, weights, directions = meta_i, mu_i, weights_i, directions_i
                programs, n_prior = programs_i, int(meta_i.get("n_prior", 0))
        activities.append(ensemble_rows(member_tables, programs[:n_prior], confidence_top))
        loadings.append(
            program_loadings(
                weights,
                meta["features"],
                programs,
                int(meta.get("n_prior", 0)),
                name,
                gene_sets=meta.get("gene_sets"),
                directions=directions,
                used_threshold=used_threshold,
                n_top_denovo=n_top_denovo,
            )
        )
        if main_activity is None:
            main_activity = (mu, programs, name)

    if main_activity is None:  # no VAE trained: the baseline carries the figures
        main_activity = (sg.to_numpy(), list(sg.columns), "score_genes")
    mu, programs, cell_method = main_activity
    activities.append(classifier_attribution(mu, labels, programs, seed=seed))

    if "capsule_classifier" in model_dirs:
        module, meta, X = _load(model_dirs["capsule_classifier"], adata, device, dataset)
        names = list(meta.get("capsule_names") or meta.get("gene_sets", {}))
        if len(names) < module.n_primary:
            names += ["remaining_genes"] * (module.n_primary - len(names))
        activities.append(
            capsule_activity(module, X, labels, meta["classes"], names, device=device)
        )

    activity = pd.concat(activities, ignore_index=True)
    if "confidence" not in activity:
        activity["confidence"] = np.nan
    activity = activity[[c for c in ACTIVITY_COLUMNS if c in activity] + _extra(activity)]
    loading = (
        pd.concat(loadings, ignore_index=True)
        if loadings
        else pd.DataFrame(columns=["program", "gene", "weight", "kind", "used", "rank", "method"])
    )
    universe = loading["gene"].unique() if len(loading) else adata.var_names
    universe = sorted(set(universe) | {g for m in model_dirs.values() for g in _features(m)})
    enrich = denovo_enrichment(loading, sets, universe or list(adata.var_names))
    matches = denovo_matches(enrich, loading)

    cell_act = ad.AnnData(
        X=np.asarray(mu, dtype=np.float32),
        obs=pd.DataFrame(
            {label_key: adata.obs[label_key].astype(str).to_numpy()}, index=adata.obs_names
        ),
        var=pd.DataFrame(index=pd.Index(programs, dtype=str)),
    )
    if "X_umap" in adata.obsm:
        cell_act.obsm["X_umap"] = np.asarray(adata.obsm["X_umap"])
    cell_act.uns["method"] = cell_method
    cell_act.uns["label_key"] = label_key
    return {
        "activity": activity,
        "loadings": loading,
        "denovo_enrichment": enrich,
        "denovo_matches": matches,
        "cell_activity": cell_act,
    }


def _extra(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in ACTIVITY_COLUMNS]


def _features(model_dir) -> list[str]:
    import json
    from pathlib import Path

    meta = json.loads((Path(model_dir) / "model.json").read_text()).get("meta", {})
    return [str(g) for g in meta.get("features", [])]


def _load(model_dir, adata, device, dataset):
    from scinterp.models.registry import load_model

    module, meta = load_model(model_dir, device)
    cols = check_features(adata, [str(g) for g in meta["features"]], model_dir, dataset)
    X = adata.X[:, cols]
    if sparse.issparse(X):
        X = sparse.csr_matrix(X)
    return module, meta, X


# ------------------------------------------------------------------ figures
def plot_activity_heatmap(activity: pd.DataFrame, methods: Sequence[str] | None = None):
    """Program x cell type heatmaps of ``score``, one panel per method.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    methods = [
        m for m in (methods or activity["method"].unique()) if (activity["method"] == m).any()
    ]
    if not methods:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no program activity", ha="center", va="center")
        ax.axis("off")
        return fig
    tables = [
        activity[activity["method"] == m].pivot_table(
            index="program", columns="cell_type", values="score"
        )
        for m in methods
    ]
    height = max(3.0, 0.22 * max(t.shape[0] for t in tables) + 1.5)
    fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables) + 1, height), squeeze=False)
    for ax, m, tab in zip(axes[0], methods, tables, strict=True):
        lim = np.nanmax(np.abs(tab.to_numpy())) if tab.size else 1.0
        lim = lim if lim > 0 else 1.0
        cmap, vmin = ("RdBu_r", -lim) if (tab.to_numpy() < 0).any() else ("Reds", 0.0)
        im = ax.imshow(tab.to_numpy(), aspect="auto", cmap=cmap, vmin=vmin, vmax=lim)
        ax.set_xticks(range(tab.shape[1]), tab.columns, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(tab.shape[0]), tab.index, fontsize=6)
        ax.set_title(m, fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.6)
    fig.tight_layout()
    return fig


def top_programs(activity: pd.DataFrame, method: str, n: int = 6) -> list[str]:
    """The programs of ``method`` with the highest score in any cell type, best first."""
    sub = activity[activity["method"] == method]
    best = sub.groupby("program")["score"].max().sort_values(ascending=False, kind="stable")
    return best.index[:n].tolist()


def plot_program_umap(cell_activity, programs: Sequence[str]):
    """UMAP of the cells coloured by the activity of each given program.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    programs = [p for p in programs if p in cell_activity.var_names]
    if "X_umap" not in cell_activity.obsm or not programs:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no UMAP or no program to show", ha="center", va="center")
        ax.axis("off")
        return fig
    xy = np.asarray(cell_activity.obsm["X_umap"])
    ncol = min(3, len(programs))
    nrow = int(np.ceil(len(programs) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 3.0 * nrow), squeeze=False)
    order = np.random.default_rng(0).permutation(xy.shape[0])  # no type drawn on top of all
    for ax, prog in zip(axes.ravel(), programs, strict=False):
        val = np.asarray(cell_activity[:, prog].X).ravel()
        lo, hi = np.percentile(val, [1, 99])
        sc_ = ax.scatter(
            xy[order, 0], xy[order, 1], c=val[order], s=2, cmap="viridis", vmin=lo, vmax=hi
        )
        ax.set_title(prog, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(sc_, ax=ax, shrink=0.7)
    for ax in axes.ravel()[len(programs) :]:
        ax.axis("off")
    fig.suptitle(f"program activity ({cell_activity.uns.get('method', '')})", fontsize=9)
    fig.tight_layout()
    return fig
