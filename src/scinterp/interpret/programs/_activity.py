"""Per-cell program activities: VAE latent units, the score_genes baseline, capsules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats


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


class ModelActivity:
    """:func:`model_activity` over row chunks (a consumer of
    :func:`~scinterp.interpret.gene_scores.feed_chunks`): ``add(rows, block)`` with
    ``block`` the cells ``rows`` x the model's ``genes``, then :meth:`result`. Chunks of a
    multiple of ``batch_size`` cells give the batches, and so the numbers, of one call."""

    def __init__(
        self, model, genes: Sequence[str], n_cells: int, batch_size: int = 512, device: str = "cpu"
    ):
        self.model, self.genes, self.n_cells = model, list(genes), int(n_cells)
        self.batch_size, self.device = batch_size, device
        self.mu = self.sd = None

    def add(self, rows, block) -> None:
        mu, sd = model_activity(self.model, block, batch_size=self.batch_size, device=self.device)
        if self.mu is None:
            self.mu = np.empty((self.n_cells, mu.shape[1]), dtype=mu.dtype)
            if sd is not None:
                self.sd = np.empty((self.n_cells, sd.shape[1]), dtype=sd.dtype)
        self.mu[rows] = mu
        if sd is not None:
            self.sd[rows] = sd

    def result(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(means, sds) of every cell, as :func:`model_activity` returns them."""
        return (np.zeros((0, 0)) if self.mu is None else self.mu), self.sd


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
    not among the model's ``classes`` are ignored. :class:`CapsuleTables` computes the same
    chunk by chunk.
    """
    tables = CapsuleTables(model, None, labels, classes, batch_size=batch_size, device=device)
    tables.add(slice(0, X.shape[0]), X)
    return tables.table(capsule_names)


class CapsuleTables:
    """:func:`capsule_activity` over row chunks (a consumer of
    :func:`~scinterp.interpret.gene_scores.feed_chunks`): ``add(rows, block)`` with
    ``block`` the cells ``rows`` x the model's ``genes``, then :meth:`table`. Several
    chunks give the means of one call to float32 rounding (each chunk's means are float32)."""

    def __init__(
        self,
        model,
        genes: Sequence[str] | None,
        labels: Sequence[str] | np.ndarray,
        classes: Sequence[str],
        batch_size: int = 512,
        device: str = "cpu",
    ):
        self.genes = None if genes is None else list(genes)
        self.classes = [str(c) for c in classes]
        pos = {c: i for i, c in enumerate(self.classes)}
        labels = np.asarray(labels, dtype=object).astype(str)
        self.codes = np.asarray([pos.get(lab, -1) for lab in labels], dtype=np.int64)
        if not (self.codes >= 0).any():
            raise ValueError("no cell carries one of the capsule classifier's classes")
        self.model = model.to(device).eval()
        self.batch_size = batch_size
        self.totals = {"coupling": None, "contribution": None}
        self.n_cells = np.zeros(len(self.classes), dtype=np.int64)

    def add(self, rows, block) -> None:
        import torch

        codes = self.codes[rows]
        keep = np.flatnonzero(codes >= 0)
        if keep.size == 0:
            return
        Xk = block[keep] if keep.size < block.shape[0] else block
        x = torch.from_numpy(_dense_rows(Xk, 0, Xk.shape[0]))
        y = torch.as_tensor(codes[keep], dtype=torch.long)
        n = np.bincount(codes[keep], minlength=len(self.classes))
        for kind in self.totals:
            # the chunk's per-type means, weighted by the chunk's cells of the type
            mean = self.model.capsule_class_table(x, y, kind=kind, batch_size=self.batch_size)
            part = np.where(n > 0, mean.numpy().astype(np.float64) * n, 0.0)
            total = self.totals[kind]
            self.totals[kind] = part if total is None else total + part
        self.n_cells += n

    def table(self, capsule_names: Sequence[str]) -> pd.DataFrame:
        """The long table of :func:`capsule_activity`."""
        n = self.n_cells
        with np.errstate(invalid="ignore", divide="ignore"):
            coupling, contrib = (
                (self.totals[k] / np.where(n > 0, n, np.nan)).astype(np.float32)
                for k in ("coupling", "contribution")
            )
        if coupling.shape[0] != len(capsule_names):
            raise ValueError(f"{coupling.shape[0]} capsules but {len(capsule_names)} capsule names")
        rows = [
            (
                capsule_names[k],
                self.classes[j],
                float(coupling[k, j]),
                "capsule",
                float(contrib[k, j]),
                int(n[j]),
            )
            for k in range(coupling.shape[0])
            for j in range(len(self.classes))
            if n[j] > 0
        ]
        return pd.DataFrame(
            rows, columns=["program", "cell_type", "score", "method", "contribution", "n_cells"]
        )
