"""scanpy's ``score_genes`` computed chunk by chunk over the cells (shared by the programs
and conditions branches and the exports).

``sc.tl.score_genes`` holds the whole cells x genes matrix: it averages every gene over
all cells, cuts the genes into ``n_bins`` bins by that average, draws ``ctrl_size``
control genes from each bin that holds a gene of the set (seeded), and scores a cell as
the mean of the set's genes minus the mean of the control genes. Only the gene averages
need every cell, and a cell's score needs only its own row; so here the averages come
from one pass over row chunks (:func:`gene_means`), the control genes are drawn once
from them (:class:`GeneSetScorer`), and each chunk's scores come from its rows restricted
to the genes the sets need (:func:`feed_chunks`). Memory is one chunk plus the cells x
sets scores, whatever the number of cells.

The steps follow scanpy 1.11's arithmetic (sums in the matrix's dtype in row order, the
same ``pandas`` ranking and the same draws of a legacy ``RandomState`` seeded with the
seed), so the scores are those of ``sc.tl.score_genes`` on the same data, ``ctrl_size``
and seed (``tests/interpret/test_score_genes.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

log = logging.getLogger(__name__)


def feed_chunks(
    data, consumers: Sequence, *, chunk_rows: int | None = None, row_multiple: int = 1
) -> None:
    """One pass over the cells of ``data`` (a path to an .h5ad or an AnnData) for several
    consumers: each has ``genes`` (the columns it reads, in its order, or None for all)
    and ``add(rows, block)``, called per row chunk with ``block`` restricted to its genes.
    Only the union of the consumers' genes is kept of each chunk. ``chunk_rows``,
    ``row_multiple``: see :func:`scinterp.io.iter_row_chunks`."""
    from scinterp.io import iter_row_chunks

    if not consumers:
        return
    if any(c.genes is None for c in consumers):
        union = None
    else:
        union = list(dict.fromkeys(g for c in consumers for g in c.genes))
    var_names = _var_names(data)
    if union is not None:  # the file's column order: cutting a CSR chunk keeps row order
        pos = pd.Index(var_names).get_indexer(pd.Index(union))
        union = [union[i] for i in np.argsort(pos, kind="stable")]
    where = pd.Index(var_names if union is None else union)
    picks = [
        None if c.genes is None else where.get_indexer(pd.Index(list(c.genes))) for c in consumers
    ]
    chunks = iter_row_chunks(data, union, chunk_rows=chunk_rows, row_multiple=row_multiple)
    for rows, block in chunks:
        for c, pick in zip(consumers, picks, strict=True):
            c.add(rows, block if pick is None else block[:, pick])


def _var_names(data) -> pd.Index:
    import os

    if isinstance(data, str | os.PathLike):
        from scinterp.io import read_var

        return pd.Index(read_var(data).index.astype(str))
    return pd.Index(data.var_names.astype(str))


class GeneMeans:
    """Consumer of :func:`feed_chunks`: each gene's mean over all cells, as
    ``score_genes`` computes it to bin the genes (NaN values left out)."""

    genes = None

    def __init__(self, n_genes: int):
        self.n_genes = int(n_genes)
        self.n_cells = 0
        self.total = None
        self.n_nan = np.zeros(self.n_genes, dtype=np.int64)
        self.dense = False

    def add(self, rows, block) -> None:
        self.n_cells += rows.stop - rows.start
        if sparse.issparse(block):
            values, cols = block.data, block.indices
            if self.total is None:  # scipy sums in the dtype numpy would (float32 stays)
                self.total = np.zeros(self.n_genes, dtype=np.zeros(1, values.dtype).sum().dtype)
            if values.dtype.kind == "f":
                nan = np.isnan(values)
                if nan.any():
                    self.n_nan += np.bincount(cols[nan], minlength=self.n_genes)
                    values = np.where(nan, 0, values)
            # unbuffered, in the order of the rows: scipy's column sum (ones @ X)
            np.add.at(self.total, cols, values)
            return
        block = np.asarray(block)
        self.dense = True
        if block.dtype.kind != "f":
            block = block.astype(np.float64)
        if self.total is None:
            self.total = np.zeros(self.n_genes, dtype=block.dtype)
        nan = np.isnan(block)
        if nan.any():
            self.n_nan += nan.sum(axis=0)
            block = np.where(nan, 0, block)
        # numpy sums a C-ordered matrix over axis 0 row after row: carrying the running
        # total in as the first row continues that order across chunks
        self.total = np.add.reduce(np.concatenate([self.total[None, :], block]), axis=0)

    def result(self) -> np.ndarray:
        n = self.n_cells - self.n_nan
        if self.total is None:
            return np.full(self.n_genes, np.nan)
        if self.dense:  # np.nanmean: the division is written back in the sums' dtype
            out = self.total.copy()
            with np.errstate(invalid="ignore", divide="ignore"):
                np.true_divide(out, n, out=out, casting="unsafe")
            return out
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.total.astype(np.float64) / n


def gene_means(data, *, chunk_rows: int | None = None) -> pd.Series:
    """Every gene's mean over all cells of ``data`` (a path or an AnnData), read in row
    chunks; indexed by gene."""
    names = _var_names(data)
    means = GeneMeans(len(names))
    feed_chunks(data, [means], chunk_rows=chunk_rows)
    return pd.Series(means.result(), index=names)


class GeneSetScorer:
    """Consumer of :func:`feed_chunks`: ``score_genes`` of several gene sets, chunk by chunk.

    Parameters
    ----------
    var_names
        The data's genes.
    means
        Their means over all cells (:func:`gene_means`, in ``var_names`` order).
    gene_sets
        Name -> genes (genes not in the data are ignored, as scanpy does).
    ctrl_size
        Control genes drawn per expression bin; one int, or one per set name.
    seed
        Seed of the draws (scanpy's ``random_state``); each set draws from a fresh
        generator, as each ``score_genes`` call reseeds.
    n_bins
        Expression bins.
    """

    def __init__(
        self,
        var_names: Sequence[str],
        means,
        gene_sets: Mapping[str, Iterable[str]],
        *,
        ctrl_size: int | Mapping[str, int] = 50,
        seed: int = 0,
        n_bins: int = 25,
    ):
        var_names = pd.Index(var_names)
        means = np.asarray(means)
        # score_genes' binning, on the gene pool (every gene)
        avg = pd.Series(means, index=var_names.astype("string"))
        avg = avg[np.isfinite(avg)]
        n_items = int(np.round(len(avg) / (n_bins - 1)))
        cut = avg.rank(method="min") // n_items
        self.names = list(gene_sets)
        self.sets, self.controls = [], []
        for name in self.names:
            genes = pd.Index(list(gene_sets[name])).intersection(var_names)
            if len(genes) == 0:
                raise ValueError(f"gene set {name!r}: no valid genes were passed for scoring.")
            size = ctrl_size[name] if isinstance(ctrl_size, Mapping) else ctrl_size
            self.sets.append(list(map(str, genes)))
            self.controls.append(list(map(str, _control_genes(cut, genes, size, seed, name))))
        self.genes = list(dict.fromkeys(g for gs in (*self.sets, *self.controls) for g in gs))
        where = pd.Index(self.genes)
        self._set_pos = [where.get_indexer(pd.Index(g)) for g in self.sets]
        self._ctrl_pos = [where.get_indexer(pd.Index(g)) for g in self.controls]
        self._chunks: list[tuple[slice, np.ndarray]] = []

    def add(self, rows, block) -> None:
        out = np.empty((rows.stop - rows.start, len(self.names)), dtype=np.float64)
        for k, (s, c) in enumerate(zip(self._set_pos, self._ctrl_pos, strict=True)):
            out[:, k] = _row_means(block[:, s]) - _row_means(block[:, c])
        self._chunks.append((rows, out))

    def result(self, obs_names) -> pd.DataFrame:
        """Cells x sets scores (float64), in the order of the chunks fed."""
        n = len(obs_names)
        scores = np.empty((n, len(self.names)), dtype=np.float64)
        done = 0
        for rows, out in self._chunks:
            scores[rows] = out
            done += rows.stop - rows.start
        if done != n:
            raise ValueError(f"scored {done} of {n} cells")
        return pd.DataFrame(scores, index=obs_names, columns=self.names)


def _control_genes(cut: pd.Series, genes: pd.Index, ctrl_size: int, seed: int, name) -> pd.Index:
    """scanpy's reference genes of ``genes``: up to ``ctrl_size`` drawn from each bin of
    ``cut`` that holds one of them, the set's own genes left out."""
    rng = np.random.RandomState(seed)  # score_genes seeds numpy's legacy global generator
    control = pd.Index([], dtype="string")
    for b in np.unique(cut.loc[genes]):
        r_genes = cut[cut == b].index
        if len(r_genes) == 0:
            log.warning("gene set %r: no control genes in expression bin %s", name, b)
        if ctrl_size < len(r_genes):  # pandas' Series.sample(n) with numpy's generator
            r_genes = r_genes.take(rng.choice(len(r_genes), size=ctrl_size, replace=False))
        control = control.union(r_genes.difference(genes))
    if len(control) == 0:
        # scanpy raises here; on a panel of a few genes (krumsiek11: 11 genes, each alone
        # in its expression bin) every bin of the set holds only the set's own genes:
        # the other genes, whatever their bin, are the reference instead
        control = pd.Index(cut.index.difference(genes))
        if len(control) == 0:
            raise RuntimeError(
                f"gene set {name!r}: no control genes (the set holds every gene of the data)."
            )
        log.warning(
            "gene set %r: no control gene in its expression bins; scored against the "
            "other %d genes of the data",
            name,
            len(control),
        )
    return control


def _row_means(x) -> np.ndarray:
    """Each row's mean without NaNs, as ``score_genes`` averages a cell's genes."""
    if not sparse.issparse(x):
        return np.nanmean(x, axis=1, dtype=np.float64)
    x = sparse.csr_matrix(x, copy=True)
    n_nan = np.zeros(x.shape[0], dtype=np.int64)
    if x.dtype.kind == "f":
        nan = np.isnan(x.data)
        if nan.any():
            row_of = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
            n_nan = np.bincount(row_of[nan], minlength=x.shape[0])
            x.data[nan] = 0
    x.eliminate_zeros()  # as scanpy does: the summed values are the same
    s = np.asarray(x.sum(axis=1, dtype=np.float64)).ravel()
    return s / (x.shape[1] - n_nan)


def score_gene_sets(
    data,
    gene_sets: Mapping[str, Sequence[str]],
    ctrl_size: int | Mapping[str, int] = 50,
    seed: int = 0,
    *,
    n_bins: int = 25,
    chunk_rows: int | None = None,
) -> pd.DataFrame:
    """scanpy ``score_genes`` for every gene set: cells x sets (log-normalized ``X``).

    ``data``: an AnnData, or the path of an .h5ad, whose ``X`` is then read in row chunks
    (``chunk_rows`` cells each; by default about 4M stored values): two passes, one for
    the genes' means, one for the scores. Equal to ``sc.tl.score_genes(adata, genes,
    ctrl_size=ctrl_size, random_state=seed, use_raw=False)`` for each set.
    """
    import os

    if isinstance(data, str | os.PathLike):
        from scinterp.io import read_meta

        obs_names = read_meta(data, ("obs",))["obs"].index
    else:
        obs_names = data.obs_names
    names = _var_names(data)
    means = gene_means(data, chunk_rows=chunk_rows)
    scorer = GeneSetScorer(
        names, means.to_numpy(), gene_sets, ctrl_size=ctrl_size, seed=seed, n_bins=n_bins
    )
    feed_chunks(data, [scorer], chunk_rows=chunk_rows)
    return scorer.result(obs_names)
