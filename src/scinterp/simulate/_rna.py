"""RNA counts of the demo data: markers, programs and the TF -> target network
planted in negative-binomial counts, with low-quality cells, doublets and two batches."""

from __future__ import annotations

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
    n_types = len(CELL_TYPES)
    n_synthetic = n_genes - len(MITO_GENES) - len(RIBO_GENES) - len(all_tfs)

    # --- roles of the synthetic genes
    program_sizes = rng.integers(20, 41, size=len(PROGRAM_TYPES))
    n_targets = rng.integers(10, 31, size=len(grn_tfs))
    pool_size = int(0.8 * n_targets.sum())  # pool smaller than the edges: some shared targets
    n_structured = n_types * N_MARKERS + program_sizes.sum() + pool_size
    if n_synthetic < n_structured + 100:
        raise ValueError(
            f"n_genes={n_genes} is too small for the planted structure; "
            f"use at least {n_genes - n_synthetic + n_structured + 100}"
        )
    slots = rng.permutation(n_synthetic)
    synth_names = np.array([f"GENE{i + 1:04d}" for i in range(n_synthetic)], dtype=object)
    cut = np.cumsum([n_types * N_MARKERS, program_sizes.sum(), pool_size])
    marker_idx = slots[: cut[0]].reshape(n_types, N_MARKERS)
    program_idx = np.split(slots[cut[0] : cut[1]], np.cumsum(program_sizes)[:-1])
    pool_idx = slots[cut[1] : cut[2]]
    background_idx = np.sort(slots[cut[2] :])

    # --- base log-abundance; exp(base) ~ expected UMIs in a cell of ~4000 UMIs
    base = rng.normal(0.0, 1.2, size=n_synthetic)
    base[marker_idx.ravel()] = rng.normal(np.log(0.5), 0.4, size=marker_idx.size)
    for idx in program_idx:
        base[idx] = rng.normal(np.log(1.5), 0.6, size=idx.size)
    base[pool_idx] = rng.normal(np.log(2.5), 0.6, size=pool_idx.size)

    # --- GRN: TF -> targets with signed weights
    edges = []
    for k in range(len(grn_tfs)):
        targets = rng.choice(pool_idx, size=n_targets[k], replace=False)
        repress = rng.random(n_targets[k]) < 0.15
        weight = rng.uniform(0.4, 0.8, size=n_targets[k])
        weight[repress] *= -1
        for g, w in zip(targets, weight, strict=True):
            edges.append((k, g, w))
    tf_shift = np.array(
        [[GRN_TF_LEVELS[tf].get(t, 0.0) for tf in grn_tfs] for t in CELL_TYPES]
    )  # types x TFs
    tf_base = rng.normal(0.0, 0.3, size=len(all_tfs))
    inert_shift = rng.uniform(0.0, 1.0, size=(n_types, len(INERT_TFS)))
    ribo_base = rng.normal(np.log(20.0), 0.3, size=len(RIBO_GENES))
    ribo_type = rng.normal(0.0, 0.15, size=(n_types, len(RIBO_GENES)))

    # --- cell-type markers and programs (type-level effects on synthetic genes)
    type_effect = np.zeros((n_types, n_synthetic))
    for t in range(n_types):
        type_effect[t, marker_idx[t]] = rng.uniform(3.0, 4.0, size=N_MARKERS)
    program_lfc = [rng.uniform(0.7, 1.3, size=idx.size) for idx in program_idx]

    # --- gene-level noise structure: dispersion and batch effect
    n_nonmito = n_synthetic + len(all_tfs) + len(RIBO_GENES)
    phi = np.exp(rng.normal(np.log(0.12), 0.5, size=n_nonmito))
    batch_lfc = rng.normal(0.0, 0.3, size=n_nonmito)

    # --- cells: good, low quality, doublets (two simulated parents each)
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

    # Latent per-cell activities: TF levels (type shift + continuous within-type
    # variation) and program activities (on only in the program's cell types).
    z = rng.normal(0.0, 0.6, size=(n_sim, len(grn_tfs)))
    log_tf = tf_shift[ctype] + z  # relative to each TF's base
    prog_act = np.zeros((n_sim, len(PROGRAM_TYPES)))
    for p, types in enumerate(PROGRAM_TYPES):
        on = np.isin(ctype, [CELL_TYPES.index(t) for t in types])
        prog_act[on, p] = np.exp(rng.normal(0.0, 0.25, size=on.sum()))

    eta_syn = base[None, :] + type_effect[ctype]
    for p, idx in enumerate(program_idx):
        eta_syn[:, idx] += prog_act[:, [p]] * program_lfc[p][None, :]
    for k, g, w in edges:
        eta_syn[:, g] += w * log_tf[:, k]
    eta_tf = np.concatenate(
        [
            tf_base[None, : len(grn_tfs)] + log_tf,
            tf_base[None, len(grn_tfs) :] + inert_shift[ctype],
        ],
        axis=1,
    )
    eta_ribo = ribo_base[None, :] + ribo_type[ctype]
    eta = np.concatenate([eta_syn, eta_tf, eta_ribo], axis=1)
    eta += batch_lfc[None, :] * batch[:, None]
    eta -= eta.max(axis=1, keepdims=True)
    share = np.exp(eta)
    share *= ((1.0 - mito) / share.sum(axis=1))[:, None]
    mu = share * lib[:, None]
    counts_main = rng.poisson(rng.gamma(1.0 / phi[None, :], mu * phi[None, :]))
    mito_w = np.asarray(MITO_WEIGHTS) / np.sum(MITO_WEIGHTS)
    mu_mito = (mito * lib)[:, None] * mito_w[None, :]
    counts_mito = rng.poisson(rng.gamma(1.0 / 0.05, mu_mito * 0.05))
    counts = np.concatenate([counts_main, counts_mito], axis=1).astype(np.int32)

    # --- assemble cells: singles, then doublets = parent sums
    n_single = n_good + n_low
    counts = np.concatenate([counts[:n_single], counts[p1] + counts[p2]], axis=0)
    obs_type = np.concatenate([ctype[:n_single], ctype[p1]])
    obs_batch = np.concatenate([batch[:n_single], batch[p1]])
    quality = np.array(["good"] * n_good + ["low_quality"] * n_low + ["doublet"] * n_dbl)
    doublet_of = [""] * n_single + [
        f"{CELL_TYPES[ctype[i]]}+{CELL_TYPES[ctype[j]]}" for i, j in zip(p1, p2, strict=True)
    ]
    order = rng.permutation(n_cells)
    gene_names = list(synth_names) + all_tfs + list(RIBO_GENES) + list(MITO_GENES)
    gene_order = rng.permutation(n_genes)

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
    rna = ad.AnnData(X=x, obs=obs, var=var)

    # --- gene sets (true programs + decoys) in a shuffled, uninformative order
    names = [f"GENESET_{i + 1:02d}" for i in range(len(PROGRAM_TYPES) + N_DECOYS)]
    slot_of = rng.permutation(len(names))
    sets, prog_rows = {}, []
    decoys = [
        rng.choice(background_idx, size=rng.integers(20, 41), replace=False)
        for _ in range(N_DECOYS)
    ]
    members = list(zip(program_idx, PROGRAM_TYPES, strict=True)) + [(idx, ()) for idx in decoys]
    for i in np.argsort(slot_of):  # write the sets in name order
        idx, types = members[i]
        name = names[slot_of[i]]
        decoy = "true" if i >= len(PROGRAM_TYPES) else "false"
        sets[name] = sorted(synth_names[idx].tolist())
        for t in CELL_TYPES:
            prog_rows.append((name, t, "true" if t in types else "false", decoy))

    truth = {
        "markers": pd.DataFrame(
            [(CELL_TYPES[t], synth_names[g]) for t in range(n_types) for g in marker_idx[t]],
            columns=["cell_type", "gene"],
        ),
        "programs": pd.DataFrame(prog_rows, columns=["program", "cell_type", "active", "decoy"]),
        "grn": pd.DataFrame(
            [
                (grn_tfs[k], synth_names[g], 1 if w > 0 else -1, round(float(w), 4))
                for k, g, w in edges
            ],
            columns=["tf", "target", "sign", "weight"],
        ),
    }
    return rna, sets, all_tfs, truth


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
