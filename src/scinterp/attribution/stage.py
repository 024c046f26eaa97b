"""The workflow's attribution stage: which cells, which outputs, sanity checks, output AnnData.

The stage attributes the models whose :class:`~scinterp.models.registry.ModelSpec` says
``attributed=True``. Targets per model kind (documented choice):

* ``classifier`` (``attention_classifier``, ``mlp_classifier``, ``capsule_classifier``):
  each cell's own class, i.e. the index of its label among the model's classes; cells
  whose label the model does not know fall back to the predicted class.
* ``latent`` (the gene-program VAEs ``program_vae``, ``ldvae``): each cell's most active
  prior unit (largest latent mean among the gene-set units; all units when there are
  none). The attribution then answers "which genes drive the program this cell uses
  most", and the unit per cell is stored in ``obs["attribution_target"]``. The programs
  branch, which needs every unit, calls :func:`scinterp.attribution.attribute` per unit
  itself.
* models not attributed here (``grn_sem``, ``seq_cnn``): their branches call
  :func:`~scinterp.attribution.attribute` with their own targets (a target gene, a cell).
"""

from __future__ import annotations

import copy

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn

from scinterp.attribution.core import METHOD_CLASSES, attribute
from scinterp.data.cells import sample_cells
from scinterp.models.registry import MODELS, model_names

__all__ = [
    "attribution_anndata",
    "gene_set_groups",
    "model_targets",
    "randomization_check",
    "randomize_model",
    "attribute_from_files",
    "delta_summary",
    "plot_sanity",
    "sanity_table",
]


def _is_classifier(name: str) -> bool:
    spec = MODELS.get(name)
    return spec is not None and spec.kind == "classifier"


def model_targets(
    model: nn.Module,
    name: str,
    X,
    labels=None,
    classes=None,
    device: str | torch.device = "cpu",
    batch_size: int = 1024,
) -> np.ndarray:
    """Per-cell output index to attribute for a model of registry name ``name``.

    See the module docstring for the rule per model kind.

    Raises
    ------
    ValueError
        For a model this stage does not attribute (``grn_sem``, ``seq_cnn``, unknown).
    """
    if name not in model_names(attributed=True):
        raise ValueError(
            f"model {name!r} is not attributed by the attribution stage; attributable models: "
            f"{', '.join(model_names(attributed=True))} (grn_sem and seq_cnn are attributed "
            "by their branches)"
        )
    model = model.to(device).eval()
    outs = []
    with torch.no_grad():
        for s in range(0, X.shape[0], batch_size):
            block = X[s : s + batch_size]
            block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
            outs.append(model(torch.as_tensor(block, dtype=torch.float32, device=device)).cpu())
    out = torch.cat(outs).numpy() if outs else np.zeros((0, 1), dtype=np.float32)
    if _is_classifier(name):
        pred = out.argmax(axis=1)
        if labels is None or classes is None:
            return pred
        index = {c: i for i, c in enumerate(classes)}
        own = np.array([index.get(str(lab), -1) for lab in labels])
        return np.where(own >= 0, own, pred)
    n_prior = int(getattr(model, "n_prior", 0)) or out.shape[1]
    return out[:, :n_prior].argmax(axis=1)


def gene_set_groups(features, gene_sets: dict[str, list[str]]) -> tuple[np.ndarray, list[str]]:
    """A partition of features into gene-set groups for feature ablation.

    Captum's ``feature_mask`` needs each feature in exactly one group, but gene sets
    overlap: a gene joins its smallest set (the most specific one), genes in no set
    form one group ``"(no gene set)"``.

    Returns
    -------
    (group id per feature, group names)
    """
    pos = {g: i for i, g in enumerate(features)}
    group = np.full(len(features), -1)
    size = np.full(len(features), np.inf)
    names = list(gene_sets)
    for k, name in enumerate(names):
        genes = [pos[g] for g in gene_sets[name] if g in pos]
        n = len(genes)
        for i in genes:
            if n < size[i]:
                group[i], size[i] = k, n
    if (group < 0).any():
        names = [*names, "(no gene set)"]
        group[group < 0] = len(names) - 1
    used = np.unique(group)
    remap = {old: new for new, old in enumerate(used)}
    return np.array([remap[g] for g in group]), [names[g] for g in used]


def randomize_model(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every parameter re-initialized (Adebayo et al. 2018).

    Modules with ``reset_parameters`` use their own initializer; any other parameter is
    redrawn from a normal with the trained tensor's mean and standard deviation. Buffers
    (e.g. gene-set masks) are kept: they are structure, not learned weights.
    """
    rand = copy.deepcopy(model)
    torch.manual_seed(seed)
    done = set()
    for mod in rand.modules():
        if mod is not rand and hasattr(mod, "reset_parameters"):
            mod.reset_parameters()
            done.update(id(p) for p in mod.parameters())
    with torch.no_grad():
        for p in rand.parameters():
            if id(p) not in done:
                std = float(p.std()) if p.numel() > 1 else 1.0
                p.copy_(torch.randn_like(p) * (std or 1.0) + float(p.mean()))
    return rand.eval()


def randomization_check(
    model: nn.Module,
    X,
    method: str,
    targets: np.ndarray,
    trained: np.ndarray | None = None,
    seed: int = 0,
    **kwargs,
) -> dict[str, float]:
    """Model-parameter randomization test: do attributions depend on the learned weights?

    Parameters
    ----------
    model, X, method, targets
        As for :func:`scinterp.attribution.attribute`.
    trained
        Attributions of the trained model on ``X`` (recomputed when None).
    kwargs
        Passed to :func:`~scinterp.attribution.attribute`.

    Returns
    -------
    dict
        ``spearman_mean_abs``: Spearman correlation between the trained and randomized
        models' mean |attribution| per feature (the profile Adebayo et al. compare);
        ``spearman_target_mean``: the same for signed mean attributions per target,
        averaged over targets (what the cell-identity ranking uses). A method that
        explains the model gives low values; one that mostly reflects the input
        (e.g. edge-detector-like methods) gives high values.
    """
    if trained is None:
        trained = attribute(model, X, method, targets, seed=seed, **kwargs)
    rand = attribute(randomize_model(model, seed=seed + 1), X, method, targets, seed=seed, **kwargs)

    def rho(a, b):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            return float("nan")
        return float(spearmanr(a, b).statistic)

    per_target = [
        rho(trained[targets == t].mean(0), rand[targets == t].mean(0)) for t in np.unique(targets)
    ]
    return {
        "spearman_mean_abs": rho(np.abs(trained).mean(0), np.abs(rand).mean(0)),
        "spearman_target_mean": float(np.nanmean(per_target)) if per_target else float("nan"),
    }


def delta_summary(delta: np.ndarray | None, gap: np.ndarray | None) -> dict[str, float]:
    """Convergence-delta statistics: mean and max |delta|, and |delta| relative to
    |f(x) - f(baseline)| (median). NaN for methods without completeness."""
    if delta is None or len(delta) == 0:
        return {"delta_mean_abs": np.nan, "delta_max_abs": np.nan, "delta_median_rel": np.nan}
    rel = np.abs(delta) / np.maximum(np.abs(gap), 1e-8)
    return {
        "delta_mean_abs": float(np.mean(np.abs(delta))),
        "delta_max_abs": float(np.max(np.abs(delta))),
        "delta_median_rel": float(np.median(rel)),
    }


def attribution_anndata(
    values: np.ndarray,
    obs: pd.DataFrame,
    var: pd.DataFrame,
    *,
    method: str,
    model: str,
    targets: np.ndarray,
    target_names=None,
    baseline: str,
    stats: dict | None = None,
    delta: np.ndarray | None = None,
) -> ad.AnnData:
    """The stage's output: cells x features attributions with the cells' obs and the
    features' var carried over, and ``uns["attribution"]`` describing the run."""
    if method not in METHOD_CLASSES:
        raise ValueError(
            f"unknown attribution method {method!r}; valid methods: {', '.join(METHOD_CLASSES)}"
        )
    obs = obs.copy()
    obs["attribution_target"] = (
        [str(target_names[t]) for t in targets] if target_names is not None else targets
    )
    if delta is not None:
        obs["convergence_delta"] = delta.astype(np.float32)
    out = ad.AnnData(X=np.asarray(values, dtype=np.float32), obs=obs, var=var.copy())
    out.uns["attribution"] = {
        "method": method,
        "model": model,
        "target": "own class (predicted when unlabeled)"
        if _is_classifier(model)
        else "most active prior unit",
        "baseline": baseline,
        **{k: v for k, v in (stats or {}).items()},
    }
    return out


def attribute_from_files(
    model_dir,
    normalized,
    method: str,
    params: dict,
    *,
    gene_sets=None,
    seed: int = 0,
    device: str = "auto",
) -> ad.AnnData:
    """The ``attribute`` rule: one model, one method, on a stratified sample of cells.

    Parameters
    ----------
    model_dir
        ``results/{dataset}/models/{model}`` (``model.pt`` + ``model.json``).
    normalized
        ``normalized.h5ad``; labels from the column named in ``uns["scinterp"]["label_key"]``.
    method
        A registered attribution method (``METHOD_CLASSES``). Classifiers are explained in
        class probabilities by methods with ``classifier_probabilities`` (ablation), in
        logits by the others.
    params
        The config's ``attribution`` section (``baseline``, ``n_steps``, ``n_samples``,
        ``n_reference``, ``max_cells``, ``batch_size``, ``ablation_groups``, ``sanity_cells``).
    gene_sets
        GMT: methods with feature groups (``takes_feature_mask``: ablation) attribute
        gene-set groups (:func:`gene_set_groups`) when ``ablation_groups`` is
        ``gene_sets``.
    seed
        The training seed: the cell sample and reference draws are deterministic given it.
    device
        ``train.device``.

    Returns
    -------
    anndata.AnnData
        cells x features attributions; ``uns["attribution"]`` holds method, target,
        baseline, convergence-delta statistics and the randomization check.

    Raises
    ------
    ValueError
        Unknown method.
    """
    import logging

    from scinterp.device import resolve_device
    from scinterp.models.registry import load_model

    log = logging.getLogger(__name__)
    spec = METHOD_CLASSES.get(method)
    if spec is None:
        raise ValueError(
            f"unknown attribution method {method!r}; valid methods: {', '.join(METHOD_CLASSES)}"
        )
    dev = resolve_device(device)
    model, meta = load_model(model_dir, dev)
    name = meta["name"]
    features = list(meta["features"])
    X, obs, var, lab, label_key = _sampled_cells(
        normalized, features, name, params.get("max_cells"), seed
    )
    classes = meta.get("classes") or None
    targets = model_targets(model, name, X, lab, classes, dev)
    target_names = classes if _is_classifier(name) else meta.get("programs")
    mask, groups = None, None
    if (
        spec.takes_feature_mask
        and params.get("ablation_groups", "gene_sets") == "gene_sets"
        and gene_sets
    ):
        mask, groups = _gene_set_mask(method, features, gene_sets, log)
    kw = {
        "baseline": params.get("baseline", "mean"),
        "n_steps": params.get("n_steps", 32),
        "n_samples": params.get("n_samples", 32),
        "n_reference": params.get("n_reference", 16),
        "batch_size": params.get("batch_size", 256),
        "feature_mask": mask,
        "probabilities": spec.classifier_probabilities and _is_classifier(name),
        "device": dev,
        "seed": seed,
    }
    res = attribute(model, X, method, targets, return_delta=True, **kw)
    stats = delta_summary(res.delta, res.output_gap)
    log.info("%s/%s: %d cells x %d features; %s", name, method, *X.shape, stats)
    # Sanity check on a subsample: attributions of a randomized model must differ.
    n_sanity = min(len(X), int(params.get("sanity_cells", 200)))
    if n_sanity > 0:
        sel = sample_cells(lab if lab is not None else np.zeros(len(X)), n_sanity, seed)
        rest = {k: v for k, v in kw.items() if k != "seed"}
        stats.update(
            randomization_check(
                model, X[sel], method, targets[sel], res.values[sel], seed=seed, **rest
            )
        )
        log.info("randomization check: %s", stats)
    out = attribution_anndata(
        res.values,
        obs,
        var,
        method=method,
        model=name,
        targets=targets,
        target_names=target_names,
        baseline=str(kw["baseline"]),
        stats=stats,
        delta=res.delta,
    )
    if mask is not None:
        out.var["ablation_group"] = [groups[g] for g in mask]
    out.uns["attribution"]["n_steps"] = kw["n_steps"]
    out.uns["attribution"]["label_key"] = label_key or ""
    return out


def _sampled_cells(normalized, features: list, name: str, max_cells, seed: int):
    """The cells attributed (a sample of ``max_cells`` stratified by the label column)
    and the model's features, read from ``normalized.h5ad`` (only the sampled rows of X,
    whatever the size of the atlas). Returns (X float32, obs, var, the cells' labels or
    None, the label key)."""
    from scinterp.io import read_meta, read_rows

    meta_h5 = read_meta(normalized)
    obs_all, var_all = meta_h5["obs"], meta_h5["var"]
    label_key = meta_h5["uns"].get("scinterp", {}).get("label_key")
    labels = obs_all[label_key].astype(str).to_numpy() if label_key in obs_all else None
    cells = sample_cells(labels if labels is not None else np.zeros(len(obs_all)), max_cells, seed)
    cols = var_all.index.get_indexer(features)
    if (cols < 0).any():
        missing = [f for f, c in zip(features, cols, strict=True) if c < 0][:5]
        raise ValueError(f"{normalized}: genes of model {name} are not in the data: {missing}")
    X = read_rows(normalized, cells)[:, cols]
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    X = X.astype(np.float32)
    lab = labels[cells] if labels is not None else None
    return X, obs_all.iloc[cells], var_all.iloc[cols], lab, label_key


def _gene_set_mask(method: str, features: list, gene_sets, log):
    """The gene-set groups of ``features`` (:func:`gene_set_groups`), or ``(None,
    None)`` when the gene sets do not fit the data (other species, Ensembl IDs): the
    method then ablates gene by gene."""
    from scinterp.errors import ScinterpInputError
    from scinterp.priors import read_gmt

    try:
        sets = read_gmt(gene_sets, genes=features)
    except ScinterpInputError as err:
        log.warning("%s per gene, not per gene set: %s", method, err)
        return None, None
    mask, groups = gene_set_groups(features, sets)
    log.info("%s over %d gene-set groups", method, len(groups))
    return mask, groups


def sanity_table(paths) -> pd.DataFrame:
    """One row per attribution file: model, method, baseline, cells, convergence-delta
    statistics and the randomization correlations (from ``uns["attribution"]``)."""
    rows = []
    for p in paths:
        a = ad.read_h5ad(p, backed="r")
        u = dict(a.uns["attribution"])
        rows.append(
            {
                "model": u.get("model"),
                "method": u.get("method"),
                "baseline": u.get("baseline"),
                "n_cells": a.n_obs,
                "n_features": a.n_vars,
                **{
                    k: float(u.get(k, np.nan))
                    for k in (
                        "delta_mean_abs",
                        "delta_max_abs",
                        "delta_median_rel",
                        "spearman_mean_abs",
                        "spearman_target_mean",
                    )
                },
            }
        )
        a.file.close()
    return pd.DataFrame(rows)


def plot_sanity(table: pd.DataFrame, path) -> None:
    """Two panels: randomization correlations and relative convergence delta per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scinterp.io import write_figure_atomic

    labels = [f"{m}\n{k}" for m, k in zip(table["model"], table["method"], strict=True)]
    y = np.arange(len(table))
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.35 * len(table) + 1.8), sharey=True)
    axes[0].barh(y - 0.2, table["spearman_mean_abs"], 0.4, label="mean |attr| profile")
    axes[0].barh(y + 0.2, table["spearman_target_mean"], 0.4, label="per-class signed mean")
    axes[0].axvline(0, color="k", lw=0.5)
    axes[0].set_xlabel("Spearman, trained vs randomized model")
    axes[0].set_title("Model-parameter randomization (low = explains the model)")
    axes[0].legend(fontsize=7)
    axes[1].barh(y, table["delta_median_rel"].fillna(0))
    axes[1].set_xlabel("median |delta| / |f(x) - f(baseline)|")
    axes[1].set_title("Convergence delta (completeness)")
    axes[0].set_yticks(y, labels, fontsize=7)
    write_figure_atomic(fig, path)
    plt.close(fig)
