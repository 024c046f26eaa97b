"""Samples (donors) and two conditions of the demo data, with planted changes.

Drawn after the rest of the demo from a stream of their own (the 4th child of the
demo's seed), so every other random draw of the demo, and the counts of every gene
but the planted ones, are the same with or without them. The changes are planted only
on background genes: no marker, no gene of a gene set (programs and decoys), no GRN
target and no TF.

* donors: :data:`DONORS`, nested in the two batches, each batch holding donors of both
  conditions;
* genes: in each responding cell type (:data:`CONDITION_TYPES`), ``N_DE`` genes shifted
  in every disease donor (half up, half down; ``DE``) and ``N_DP`` genes switched on in a
  share of the disease donors' cells (``DP``: a subpopulation a mean barely sees);
* abundance: cells of :data:`ABUNDANCE_CHANGE`'s type come more often from disease donors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

REFERENCE, TEST = "healthy", "disease"
CONTRAST = f"{TEST}_vs_{REFERENCE}"
#: donor -> (batch, condition): 4 per condition, 2 per condition in each batch
DONORS = {
    "donor1": ("batch1", REFERENCE),
    "donor2": ("batch1", TEST),
    "donor3": ("batch1", REFERENCE),
    "donor4": ("batch1", TEST),
    "donor5": ("batch2", REFERENCE),
    "donor6": ("batch2", TEST),
    "donor7": ("batch2", REFERENCE),
    "donor8": ("batch2", TEST),
}
#: cell types with planted gene changes; the others do not respond
CONDITION_TYPES = ("T cell", "B cell", "NK cell", "Monocyte")
N_DE = 8  # per responding type: mean shifts, half up and half down
N_DP = 4  # per responding type: a share of the disease cells switches the gene on
DE_LOG2FC = (1.0, 1.6)  # |log2 fold change| of a DE gene, drawn uniformly
DONOR_SD = 0.2  # sd of a disease donor's log fold change around the gene's
DP_SHARE = 0.3  # share of a disease donor's cells of the type that switch a DP gene on
DP_LEVEL = 3.0  # expected UMIs of a switched-on DP gene in a cell of median depth
#: cell type -> odds ratio of coming from a disease donor (1: no change)
ABUNDANCE_CHANGE = {"Monocyte": 2.0}


def plant_conditions(
    rng: np.random.Generator, rna, truth: dict, gene_sets: dict
) -> tuple[object, dict[str, pd.DataFrame]]:
    """Add ``donor`` and ``condition`` to ``rna.obs`` and plant the changes in its counts.

    Parameters
    ----------
    rng
        The conditions' own generator.
    rna
        The demo's cells x genes counts (CSR), changed in place and returned.
    truth, gene_sets
        The demo's truth tables and gene sets: their genes are never changed.

    Returns
    -------
    (rna, {"conditions_genes": ..., "conditions_abundance": ...})
    """
    obs = rna.obs
    batch = obs["batch"].astype(str).to_numpy()
    ctype = obs["cell_type"].astype(str).to_numpy()
    n = rna.n_obs
    # --- donors: the condition first (odds by cell type), then a donor of the batch
    odds = np.array([ABUNDANCE_CHANGE.get(t, 1.0) for t in ctype])
    disease = rng.random(n) < odds / (1.0 + odds)
    donor = np.empty(n, dtype=object)
    for b in np.unique(batch):
        for cond, mask in ((TEST, disease), (REFERENCE, ~disease)):
            pool = [d for d, (bb, c) in DONORS.items() if bb == b and c == cond]
            idx = np.flatnonzero((batch == b) & mask)
            donor[idx] = np.asarray(pool, dtype=object)[rng.integers(0, len(pool), idx.size)]
    obs["donor"] = pd.Categorical(donor, categories=list(DONORS))
    obs["condition"] = pd.Categorical(
        np.where(disease, TEST, REFERENCE), categories=[REFERENCE, TEST]
    )

    # --- background genes: never a marker, gene-set member, GRN gene or TF
    taken = set(truth["markers"]["gene"]) | set(truth["grn"]["tf"]) | set(truth["grn"]["target"])
    taken |= {g for genes in gene_sets.values() for g in genes}
    names = rna.var_names.astype(str)
    free = np.array(
        [i for i, g in enumerate(names) if g.startswith("GENE") and g not in taken], dtype=int
    )
    X = rna.X.toarray()  # the demo's size: a few MB
    depth = X.sum(axis=1)
    sf = depth / np.median(depth)
    healthy = ~disease
    rows = []
    used: set[int] = set()
    donor_lfc_noise = {d: rng.normal(0.0, DONOR_SD) for d in DONORS if DONORS[d][1] == TEST}
    for t in CONDITION_TYPES:
        in_t = ctype == t
        ref = in_t & healthy
        mean = dict(zip(free, X[ref][:, free].mean(axis=0) / sf[ref].mean(), strict=True))
        cand = sorted((g for g in free if g not in used), key=lambda g: -mean[g])
        # DE among the better expressed free genes, DP among the faint ones
        # (on small data sets, the best expressed and the faintest whatever their level)
        expressed = [g for g in cand if mean[g] >= 0.5] or cand
        faint = [g for g in cand if mean[g] < 0.05]
        faint = faint if len(faint) >= N_DP else cand[::-1][: 4 * N_DP]
        de = rng.choice(expressed[: max(4 * N_DE, N_DE)], size=N_DE, replace=False)
        dp = rng.choice([g for g in faint if g not in set(de)], size=N_DP, replace=False)
        used |= set(de.tolist()) | set(dp.tolist())
        cells = np.flatnonzero(in_t & disease)
        for k, g in enumerate(de):
            lfc = rng.uniform(*DE_LOG2FC) * (1 if k % 2 == 0 else -1)
            col = X[:, g]
            for d in donor_lfc_noise:
                c = cells[donor[cells] == d]
                f = 2.0 ** (lfc + donor_lfc_noise[d] * np.sign(lfc))
                if f >= 1:
                    rate = mean[g] * sf[c]
                    col[c] += rng.poisson(rate * (f - 1.0))
                else:
                    col[c] = rng.binomial(col[c].astype(np.int64), f)
            rows.append((t, names[g], CONTRAST, "DE", round(float(lfc), 4)))
        for g in dp:
            col = X[:, g]
            on = cells[rng.random(cells.size) < DP_SHARE]
            col[on] += rng.poisson(DP_LEVEL * sf[on])
            rows.append((t, names[g], CONTRAST, "DP", np.nan))
    rna.X = sp.csr_matrix(X)
    genes = pd.DataFrame(rows, columns=["cell_type", "gene", "contrast", "kind", "log2_fc"])
    abundance = pd.DataFrame(
        [
            (t, CONTRAST, "up" if r > 1 else "down", float(np.log2(r)))
            for t, r in ABUNDANCE_CHANGE.items()
        ],
        columns=["cell_type", "contrast", "direction", "log2_odds_ratio"],
    )
    return rna, {"conditions_genes": genes, "conditions_abundance": abundance}
