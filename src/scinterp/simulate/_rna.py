"""RNA counts of the demo data: markers, programs and the TF -> target network
planted in negative-binomial counts, with low-quality cells, doublets and two batches."""

from __future__ import annotations

from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scinterp.simulate._design import (
    _BASES,
    CELL_TYPES,
    GRN_TF_LEVELS,
    INERT_TFS,
    MITO_GENES,
    MITO_WEIGHTS,
    N_DECOYS,
    N_MARKERS,
    PROGRAM_TYPES,
    RIBO_GENES,
    TYPE_FRACTIONS,
)


def _simulate_rna(rng, n_cells, n_genes, frac_low_quality, frac_doublets):
    grn_tfs = list(GRN_TF_LEVELS)
    all_tfs = grn_tfs + list(INERT_TFS)
    n_synthetic = n_genes - len(MITO_GENES) - len(RIBO_GENES) - len(all_tfs)
    # the draws happen in this order (the demo's bytes depend on it)
    roles = _gene_roles(rng, n_genes, n_synthetic)
    par = _gene_parameters(rng, roles, n_synthetic)
    cells = _cells(rng, n_cells, frac_low_quality, frac_doublets)
    counts = _counts(rng, roles, par, cells)
    synth_names = np.array([f"GENE{i + 1:04d}" for i in range(n_synthetic)], dtype=object)
    gene_names = list(synth_names) + all_tfs + list(RIBO_GENES) + list(MITO_GENES)
    rna = _assemble(rng, counts, cells, gene_names)
    sets, prog_rows = _gene_sets(rng, roles, synth_names)
    truth = {
        "markers": pd.DataFrame(
            [
                (CELL_TYPES[t], synth_names[g])
                for t in range(len(CELL_TYPES))
                for g in roles.marker_idx[t]
            ],
            columns=["cell_type", "gene"],
        ),
        "programs": pd.DataFrame(prog_rows, columns=["program", "cell_type", "active", "decoy"]),
        "grn": pd.DataFrame(
            [
                (grn_tfs[k], synth_names[g], 1 if w > 0 else -1, round(float(w), 4))
                for k, g, w in par.edges
            ],
            columns=["tf", "target", "sign", "weight"],
        ),
    }
    return rna, sets, all_tfs, truth


def _gene_roles(rng, n_genes: int, n_synthetic: int) -> SimpleNamespace:
    """Which synthetic genes are markers (types x N_MARKERS), program members, the pool
    the network's targets come from, and background."""
    n_types = len(CELL_TYPES)
    program_sizes = rng.integers(20, 41, size=len(PROGRAM_TYPES))
    n_targets = rng.integers(10, 31, size=len(GRN_TF_LEVELS))
    pool_size = int(0.8 * n_targets.sum())  # pool smaller than the edges: some shared targets
    n_structured = n_types * N_MARKERS + program_sizes.sum() + pool_size
    if n_synthetic < n_structured + 100:
        raise ValueError(
            f"n_genes={n_genes} is too small for the planted structure; "
            f"use at least {n_genes - n_synthetic + n_structured + 100}"
        )
    slots = rng.permutation(n_synthetic)
    cut = np.cumsum([n_types * N_MARKERS, program_sizes.sum(), pool_size])
    return SimpleNamespace(
        n_targets=n_targets,
        marker_idx=slots[: cut[0]].reshape(n_types, N_MARKERS),
        program_idx=np.split(slots[cut[0] : cut[1]], np.cumsum(program_sizes)[:-1]),
        pool_idx=slots[cut[1] : cut[2]],
        background_idx=np.sort(slots[cut[2] :]),
    )


def _gene_parameters(rng, roles: SimpleNamespace, n_synthetic: int) -> SimpleNamespace:
    """Base abundances, the network's signed edges, TF and ribosomal levels, the types'
    marker and program effects, dispersions and the batch effect."""
    n_types = len(CELL_TYPES)
    grn_tfs = list(GRN_TF_LEVELS)
    # base log-abundance; exp(base) ~ expected UMIs in a cell of ~4000 UMIs
    base = rng.normal(0.0, 1.2, size=n_synthetic)
    base[roles.marker_idx.ravel()] = rng.normal(np.log(0.5), 0.4, size=roles.marker_idx.size)
    for idx in roles.program_idx:
        base[idx] = rng.normal(np.log(1.5), 0.6, size=idx.size)
    base[roles.pool_idx] = rng.normal(np.log(2.5), 0.6, size=roles.pool_idx.size)

    # GRN: TF -> targets with signed weights
    edges = []
    for k in range(len(grn_tfs)):
        targets = rng.choice(roles.pool_idx, size=roles.n_targets[k], replace=False)
        repress = rng.random(roles.n_targets[k]) < 0.15
        weight = rng.uniform(0.4, 0.8, size=roles.n_targets[k])
        weight[repress] *= -1
        for g, w in zip(targets, weight, strict=True):
            edges.append((k, g, w))
    n_tfs = len(grn_tfs) + len(INERT_TFS)
    tf_base = rng.normal(0.0, 0.3, size=n_tfs)
    inert_shift = rng.uniform(0.0, 1.0, size=(n_types, len(INERT_TFS)))
    ribo_base = rng.normal(np.log(20.0), 0.3, size=len(RIBO_GENES))
    ribo_type = rng.normal(0.0, 0.15, size=(n_types, len(RIBO_GENES)))

    # cell-type markers and programs (type-level effects on synthetic genes)
    type_effect = np.zeros((n_types, n_synthetic))
    for t in range(n_types):
        type_effect[t, roles.marker_idx[t]] = rng.uniform(3.0, 4.0, size=N_MARKERS)
    program_lfc = [rng.uniform(0.7, 1.3, size=idx.size) for idx in roles.program_idx]

    # gene-level noise structure: dispersion and batch effect
    n_nonmito = n_synthetic + n_tfs + len(RIBO_GENES)
    return SimpleNamespace(
        base=base,
        edges=edges,
        tf_shift=np.array(
            [[GRN_TF_LEVELS[tf].get(t, 0.0) for tf in grn_tfs] for t in CELL_TYPES]
        ),  # types x TFs
        tf_base=tf_base,
        inert_shift=inert_shift,
        ribo_base=ribo_base,
        ribo_type=ribo_type,
        type_effect=type_effect,
        program_lfc=program_lfc,
        phi=np.exp(rng.normal(np.log(0.12), 0.5, size=n_nonmito)),
        batch_lfc=rng.normal(0.0, 0.3, size=n_nonmito),
    )


def _cells(rng, n_cells: int, frac_low_quality: float, frac_doublets: float) -> SimpleNamespace:
    """Simulated cells: good, low quality, and the two parents of each doublet (within one
    channel, of different types); their types, batches, library sizes and mito shares."""
    n_types = len(CELL_TYPES)
    n_low = int(round(frac_low_quality * n_cells))
    n_dbl = int(round(frac_doublets * n_cells))
    n_good = n_cells - n_low - n_dbl
    n_sim = n_good + n_low + 2 * n_dbl
    ctype = rng.choice(n_types, size=n_sim, p=TYPE_FRACTIONS)
    batch = rng.integers(0, 2, size=n_sim)
    p1 = np.arange(n_good + n_low, n_sim, 2)
    p2 = p1 + 1
    batch[p2] = batch[p1]  # doublets form within one channel
    for i, j in zip(p1, p2, strict=True):
        while ctype[j] == ctype[i]:
            ctype[j] = rng.choice(n_types, p=TYPE_FRACTIONS)
    low = np.zeros(n_sim, dtype=bool)
    low[n_good : n_good + n_low] = True

    lib = np.exp(rng.normal(np.log(4000.0), 0.45, size=n_sim)) * np.where(batch == 1, 0.8, 1.0)
    lib[low] = np.exp(rng.normal(np.log(500.0), 0.4, size=n_low))
    logit_mito = rng.normal(np.log(0.045 / 0.955), 0.35, size=n_sim)
    mito = 1.0 / (1.0 + np.exp(-logit_mito))
    mito[low] = rng.uniform(0.2, 0.6, size=n_low)
    return SimpleNamespace(
        n_good=n_good,
        n_low=n_low,
        n_dbl=n_dbl,
        ctype=ctype,
        batch=batch,
        p1=p1,
        p2=p2,
        lib=lib,
        mito=mito,
    )


def _counts(rng, roles: SimpleNamespace, par: SimpleNamespace, cells: SimpleNamespace):
    """Negative-binomial counts of the simulated cells (synthetic genes, TFs, ribosomal,
    then mito genes)."""
    ctype, n_sim = cells.ctype, len(cells.ctype)
    n_grn = len(GRN_TF_LEVELS)
    # Latent per-cell activities: TF levels (type shift + continuous within-type
    # variation) and program activities (on only in the program's cell types).
    z = rng.normal(0.0, 0.6, size=(n_sim, n_grn))
    log_tf = par.tf_shift[ctype] + z  # relative to each TF's base
    prog_act = np.zeros((n_sim, len(PROGRAM_TYPES)))
    for p, types in enumerate(PROGRAM_TYPES):
        on = np.isin(ctype, [CELL_TYPES.index(t) for t in types])
        prog_act[on, p] = np.exp(rng.normal(0.0, 0.25, size=on.sum()))

    eta_syn = par.base[None, :] + par.type_effect[ctype]
    for p, idx in enumerate(roles.program_idx):
        eta_syn[:, idx] += prog_act[:, [p]] * par.program_lfc[p][None, :]
    for k, g, w in par.edges:
        eta_syn[:, g] += w * log_tf[:, k]
    eta_tf = np.concatenate(
        [
            par.tf_base[None, :n_grn] + log_tf,
            par.tf_base[None, n_grn:] + par.inert_shift[ctype],
        ],
        axis=1,
    )
    eta_ribo = par.ribo_base[None, :] + par.ribo_type[ctype]
    eta = np.concatenate([eta_syn, eta_tf, eta_ribo], axis=1)
    eta += par.batch_lfc[None, :] * cells.batch[:, None]
    eta -= eta.max(axis=1, keepdims=True)
    share = np.exp(eta)
    share *= ((1.0 - cells.mito) / share.sum(axis=1))[:, None]
    mu = share * cells.lib[:, None]
    phi = par.phi
    counts_main = rng.poisson(rng.gamma(1.0 / phi[None, :], mu * phi[None, :]))
    mito_w = np.asarray(MITO_WEIGHTS) / np.sum(MITO_WEIGHTS)
    mu_mito = (cells.mito * cells.lib)[:, None] * mito_w[None, :]
    counts_mito = rng.poisson(rng.gamma(1.0 / 0.05, mu_mito * 0.05))
    return np.concatenate([counts_main, counts_mito], axis=1).astype(np.int32)


def _assemble(rng, counts: np.ndarray, cells: SimpleNamespace, gene_names: list) -> ad.AnnData:
    """The cells (singles, then doublets as their parents' sums) and genes in a random
    order, with their ground truth in obs."""
    n_single = cells.n_good + cells.n_low
    ctype, p1, p2 = cells.ctype, cells.p1, cells.p2
    counts = np.concatenate([counts[:n_single], counts[p1] + counts[p2]], axis=0)
    obs_type = np.concatenate([ctype[:n_single], ctype[p1]])
    obs_batch = np.concatenate([cells.batch[:n_single], cells.batch[p1]])
    quality = np.array(
        ["good"] * cells.n_good + ["low_quality"] * cells.n_low + ["doublet"] * cells.n_dbl
    )
    doublet_of = [""] * n_single + [
        f"{CELL_TYPES[ctype[i]]}+{CELL_TYPES[ctype[j]]}" for i, j in zip(p1, p2, strict=True)
    ]
    n_cells = len(counts)
    order = rng.permutation(n_cells)
    gene_order = rng.permutation(len(gene_names))

    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(
                [CELL_TYPES[t] for t in obs_type[order]], categories=list(CELL_TYPES)
            ),
            "batch": pd.Categorical(
                [f"batch{b + 1}" for b in obs_batch[order]], categories=["batch1", "batch2"]
            ),
            "quality": pd.Categorical(
                quality[order], categories=["good", "low_quality", "doublet"]
            ),
            "doublet_of": np.asarray(doublet_of, dtype=object)[order],
        },
        index=pd.Index(_barcodes(rng, n_cells, obs_batch[order]), name=None),
    )
    var = pd.DataFrame(index=pd.Index(np.asarray(gene_names, dtype=object)[gene_order]))
    var["feature_types"] = "Gene Expression"
    x = sp.csr_matrix(counts[order][:, gene_order].astype(np.float32))
    return ad.AnnData(X=x, obs=obs, var=var)


def _gene_sets(rng, roles: SimpleNamespace, synth_names: np.ndarray):
    """Gene sets (true programs + decoys) in a shuffled, uninformative order, and the
    rows of the programs' ground truth."""
    names = [f"GENESET_{i + 1:02d}" for i in range(len(PROGRAM_TYPES) + N_DECOYS)]
    slot_of = rng.permutation(len(names))
    sets, prog_rows = {}, []
    decoys = [
        rng.choice(roles.background_idx, size=rng.integers(20, 41), replace=False)
        for _ in range(N_DECOYS)
    ]
    members = list(zip(roles.program_idx, PROGRAM_TYPES, strict=True)) + [
        (idx, ()) for idx in decoys
    ]
    for i in np.argsort(slot_of):  # write the sets in name order
        idx, types = members[i]
        name = names[slot_of[i]]
        decoy = "true" if i >= len(PROGRAM_TYPES) else "false"
        sets[name] = sorted(synth_names[idx].tolist())
        for t in CELL_TYPES:
            prog_rows.append((name, t, "true" if t in types else "false", decoy))
    return sets, prog_rows


def _barcodes(rng, n, batch):
    """Unique 10x-like barcodes, suffix -1/-2 by batch."""
    seen, out = set(), []
    for b in batch:
        while True:
            code = _BASES[rng.integers(0, 4, size=16)].tobytes().decode()
            if code not in seen:
                break
        seen.add(code)
        out.append(f"{code}-{b + 1}")
    return out
