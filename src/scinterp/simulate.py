"""Deterministic demo data with known ground truth.

The generator writes a small multiome-like data set (RNA counts, ATAC peaks, a toy
genome) whose biology is planted on purpose, so that every interpretation stage of
the workflow can be scored against the truth:

* cell-identity genes: ~20 markers strongly up in each cell type;
* gene programs: gene sets switched on in one or two known cell types, next to
  decoy sets of random genes that are never co-regulated;
* a gene regulatory network: TF levels vary by cell type *and* from cell to cell
  within a type; each target's log-mean follows the log-levels of its TFs, so
  targets co-vary with their TFs inside a cell type, not only between types;
* TF motifs: each cell type opens its own group of peaks, and every peak of the
  group carries 1-3 sites sampled from one JASPAR2024 CORE vertebrate matrix;
* QC artefacts: low-quality cells (high mitochondrial fraction, few counts) and
  doublets (sums of two cells of different types).

Everything is drawn from ``numpy.random.default_rng`` streams derived from one seed,
so the same seed gives the same files. Torch is not needed.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from scinterp.io import atomic_path, write_h5ad_atomic, write_tsv_atomic

CELL_TYPES = ("T cell", "B cell", "NK cell", "Monocyte", "Dendritic cell", "Erythroid")
TYPE_FRACTIONS = (0.28, 0.16, 0.14, 0.22, 0.08, 0.12)

MITO_GENES = (
    "MT-ND1",
    "MT-ND2",
    "MT-CO1",
    "MT-CO2",
    "MT-ATP8",
    "MT-ATP6",
    "MT-CO3",
    "MT-ND3",
    "MT-ND4L",
    "MT-ND4",
    "MT-ND5",
    "MT-ND6",
    "MT-CYB",
)
# Relative abundance of the mitochondrial transcripts (MT-CO1/2/3 and ATP6 dominate in 10x data).
MITO_WEIGHTS = (1.5, 1.0, 4.0, 3.0, 0.5, 2.5, 3.0, 1.0, 0.6, 2.0, 0.8, 0.2, 1.8)

RIBO_GENES = tuple(
    [f"RPS{i}" for i in ("2", "3", "3A", "4X", "5", "6", "7", "8", "9", "10")]
    + [f"RPS{i}" for i in ("11", "12", "13", "14", "15", "15A", "16", "18", "19", "20")]
    + [f"RPL{i}" for i in ("3", "4", "5", "6", "7", "7A", "8", "9", "10", "10A")]
    + [f"RPL{i}" for i in ("11", "12", "13", "13A", "14", "15", "18", "19", "21", "23")]
)

# TFs of the network: log-level shift of the TF per cell type (absent = 0). All are
# JASPAR TF names so that motifs, TF lists and gene symbols agree.
GRN_TF_LEVELS: dict[str, dict[str, float]] = {
    "TCF7": {"T cell": 2.0, "NK cell": 0.6},
    "GATA3": {"T cell": 1.5, "NK cell": 1.0},
    "LEF1": {"T cell": 1.8},
    "TCF7L1": {"T cell": 1.6},
    "RUNX3": {"T cell": 1.0, "NK cell": 1.8},
    "TBX21": {"NK cell": 2.0, "T cell": 0.6},
    "EOMES": {"NK cell": 1.8},
    "EBF1": {"B cell": 2.2},
    "PAX5": {"B cell": 2.0},
    "POU2F2": {"B cell": 1.5, "Monocyte": 0.6},
    "SPI1": {"Monocyte": 2.0, "Dendritic cell": 1.8, "B cell": 1.0},
    "CEBPA": {"Monocyte": 2.0, "Dendritic cell": 0.8},
    "CEBPB": {"Monocyte": 1.8},
    "IRF8": {"Dendritic cell": 2.2, "Monocyte": 1.0, "B cell": 0.6},
    "IRF4": {"Dendritic cell": 1.5, "B cell": 1.2},
    "GATA1": {"Erythroid": 2.2},
    "KLF1": {"Erythroid": 2.0},
    "NFE2": {"Erythroid": 1.8},
    "STAT1": {},  # broadly expressed: only within-type variation drives its targets
}
# Expressed TFs that regulate nothing here (negative controls for GRN inference).
INERT_TFS = ("CTCF", "YY1", "NRF1", "REST")

# One motif per cell type: JASPAR2024 CORE vertebrates, distinct and information-rich.
TYPE_MOTIFS = {
    # TCF7L1 rather than TCF7: TCF7's 7 bp matrix (MA0769.3) is found in most random
    # 500 bp sequences; this 12 bp TCF-family matrix stands out from the background.
    "T cell": "MA1421.1",  # TCF7L1
    "B cell": "MA0154.5",  # EBF1
    "NK cell": "MA0690.3",  # TBX21
    "Monocyte": "MA0080.7",  # SPI1
    "Dendritic cell": "MA0652.2",  # IRF8
    "Erythroid": "MA0841.2",  # NFE2
}
JASPAR_RELEASE = "JASPAR2024"

# True programs: the cell types each is switched on in.
PROGRAM_TYPES = (
    ("T cell", "NK cell"),
    ("B cell",),
    ("Monocyte", "Dendritic cell"),
    ("Erythroid",),
    ("T cell",),
    ("Monocyte",),
    ("Dendritic cell", "B cell"),
    ("NK cell",),
)
N_DECOYS = 6
N_MARKERS = 20
PEAK_WIDTH = 500
GC_CONTENT = 0.42

_BASES = np.frombuffer(b"ACGTN", dtype=np.uint8)
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


@dataclass
class DemoData:
    """In-memory demo data set; :func:`write_demo` writes it to disk.

    Attributes
    ----------
    rna
        Cells x genes raw counts (all cells, including low-quality cells and doublets).
    atac
        Good cells x peaks binary accessibility; ``var`` has ``chrom, start, end``.
    genome
        Chromosome name -> uppercase sequence.
    gene_sets
        Gene-set name -> genes (true programs and decoys).
    tfs
        TF symbols: network TFs first, then inert TFs.
    truth
        Truth tables: ``markers, programs, grn, motifs, motif_sites, peaks``.
    """

    rna: ad.AnnData
    atac: ad.AnnData
    genome: dict[str, str]
    gene_sets: dict[str, list[str]]
    tfs: list[str]
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)


def load_jaspar_matrix(matrix_id: str, release: str = JASPAR_RELEASE) -> tuple[str, np.ndarray]:
    """Fetch one JASPAR matrix from the offline database shipped with pyjaspar.

    Parameters
    ----------
    matrix_id
        Versioned JASPAR ID, e.g. ``"MA0080.7"``.
    release
        JASPAR release shipped by pyjaspar.

    Returns
    -------
    name, counts
        The TF name and the position count matrix, shape ``(length, 4)`` in ACGT order.
    """
    from pyjaspar import jaspardb  # lazy: only the generator needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motif = jaspardb(release=release).fetch_motif_by_id(matrix_id)
    if motif is None or motif.matrix_id != matrix_id:
        raise ValueError(f"JASPAR matrix {matrix_id} not found in {release}")
    counts = np.array([motif.counts[b] for b in "ACGT"], dtype=float).T
    return str(motif.name), counts


def simulate(
    seed: int = 0,
    n_cells: int = 3000,
    n_genes: int = 1500,
    n_peaks: int = 2000,
    chrom_length: int = 800_000,
    n_chroms: int = 3,
    frac_low_quality: float = 0.06,
    frac_doublets: float = 0.06,
) -> DemoData:
    """Simulate the demo data set in memory.

    Parameters
    ----------
    seed
        Seed of every random draw; the same seed gives identical data.
    n_cells
        Cells in the RNA data, low-quality cells and doublets included.
    n_genes
        Genes in the RNA data (13 mitochondrial, 40 ribosomal, the TFs, the rest synthetic).
    n_peaks
        Peaks in the ATAC data, 500 bp each.
    chrom_length
        Length of each chromosome of the toy genome, in bp.
    n_chroms
        Number of chromosomes (``chr1`` ...).
    frac_low_quality, frac_doublets
        Fractions of all cells that are low-quality cells and doublets.

    Returns
    -------
    DemoData
    """
    rna_seq, atac_seq, genome_seq = np.random.SeedSequence(seed).spawn(3)
    rna, gene_sets, tfs, truth = _simulate_rna(
        np.random.default_rng(rna_seq), n_cells, n_genes, frac_low_quality, frac_doublets
    )
    good = rna.obs_names[rna.obs["quality"] == "good"]
    motifs = {t: load_jaspar_matrix(mid) for t, mid in TYPE_MOTIFS.items()}
    genome, peaks, sites = _simulate_genome(
        np.random.default_rng(genome_seq), n_peaks, chrom_length, n_chroms, motifs
    )
    atac = _simulate_atac(np.random.default_rng(atac_seq), rna.obs.loc[good], peaks)
    truth["motifs"] = pd.DataFrame(
        {
            "cell_type": list(TYPE_MOTIFS),
            "motif_id": list(TYPE_MOTIFS.values()),
            "tf": [motifs[t][0].upper() for t in TYPE_MOTIFS],  # gene symbol
            "jaspar_name": [motifs[t][0] for t in TYPE_MOTIFS],
            "consensus": [_consensus(motifs[t][1]) for t in TYPE_MOTIFS],
        }
    )
    truth["motif_sites"] = sites
    truth["peaks"] = peaks.rename_axis("peak").reset_index()
    return DemoData(rna=rna, atac=atac, genome=genome, gene_sets=gene_sets, tfs=tfs, truth=truth)


def write_demo(
    outdir: str | os.PathLike,
    seed: int = 0,
    n_cells: int = 3000,
    n_genes: int = 1500,
    n_peaks: int = 2000,
    chrom_length: int = 800_000,
    n_chroms: int = 3,
    frac_low_quality: float = 0.06,
    frac_doublets: float = 0.06,
) -> dict[str, Path]:
    """Simulate the demo data set and write it under ``outdir``.

    Every file is written to a temporary name in its own folder and renamed when
    complete, so an interrupted run leaves no half-written file.

    Parameters
    ----------
    outdir
        Output folder (created if needed).
    seed, n_cells, n_genes, n_peaks, chrom_length, n_chroms, frac_low_quality, frac_doublets
        See :func:`simulate`.

    Returns
    -------
    dict
        Key -> path for ``rna, atac, genome, gene_sets, tfs, markers, programs, grn,
        motifs, motif_sites, peaks, readme``.
    """
    data = simulate(
        seed=seed,
        n_cells=n_cells,
        n_genes=n_genes,
        n_peaks=n_peaks,
        chrom_length=chrom_length,
        n_chroms=n_chroms,
        frac_low_quality=frac_low_quality,
        frac_doublets=frac_doublets,
    )
    out = Path(outdir)
    paths = {
        "rna": out / "rna.h5ad",
        "atac": out / "atac.h5ad",
        "genome": out / "genome.fa",
        "gene_sets": out / "gene_sets.gmt",
        "tfs": out / "tfs.txt",
        "markers": out / "truth" / "markers.tsv",
        "programs": out / "truth" / "programs.tsv",
        "grn": out / "truth" / "grn.tsv",
        "motifs": out / "truth" / "motifs.tsv",
        "motif_sites": out / "truth" / "motif_sites.tsv",
        "peaks": out / "truth" / "peaks.tsv",
        "readme": out / "truth" / "README.md",
    }
    write_h5ad_atomic(data.rna, paths["rna"])
    write_h5ad_atomic(data.atac, paths["atac"])
    with atomic_path(paths["genome"]) as tmp:
        tmp.write_bytes(_fasta_bytes(data.genome))
    gmt = "".join(
        f"{name}\tna\t" + "\t".join(genes) + "\n" for name, genes in data.gene_sets.items()
    )
    with atomic_path(paths["gene_sets"]) as tmp:
        tmp.write_text(gmt)
    with atomic_path(paths["tfs"]) as tmp:
        tmp.write_text("".join(f"{tf}\n" for tf in data.tfs))
    for key in ("markers", "programs", "grn", "motifs", "motif_sites", "peaks"):
        write_tsv_atomic(data.truth[key], paths[key])
    with atomic_path(paths["readme"]) as tmp:
        tmp.write_text(_TRUTH_README)
    return paths


# --------------------------------------------------------------------------- RNA


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


# --------------------------------------------------------------------- genome/ATAC


def _simulate_genome(rng, n_peaks, chrom_length, n_chroms, motifs):
    """Random genome with non-overlapping 500 bp peaks, planted motif sites and N runs."""
    n_types = len(CELL_TYPES)
    n_specific = max(1, int(round(0.06 * n_peaks)))
    n_shared = max(1, int(round(0.04 * n_peaks)))
    n_background = n_peaks - n_types * n_specific - n_shared
    if n_background < 0:
        raise ValueError(f"n_peaks={n_peaks} is too small")
    groups = np.array(
        [t for t in CELL_TYPES for _ in range(n_specific)]
        + ["shared"] * n_shared
        + ["background"] * n_background,
        dtype=object,
    )
    groups = groups[rng.permutation(n_peaks)]

    telomere, min_gap = 10_000, 100
    per_chrom = np.bincount(np.arange(n_peaks) % n_chroms, minlength=n_chroms)
    usable = chrom_length - 2 * telomere
    if usable < per_chrom.max() * (PEAK_WIDTH + min_gap) + min_gap:
        raise ValueError(
            f"chrom_length={chrom_length} cannot hold {per_chrom.max()} peaks of {PEAK_WIDTH} bp"
        )
    p_base = np.array([(1 - GC_CONTENT) / 2, GC_CONTENT / 2, GC_CONTENT / 2, (1 - GC_CONTENT) / 2])
    genome, rows = {}, []
    for c in range(n_chroms):
        chrom = f"chr{c + 1}"
        seq = rng.choice(4, size=chrom_length, p=p_base).astype(np.uint8)
        n = per_chrom[c]
        slack = usable - n * PEAK_WIDTH - (n + 1) * min_gap
        cuts = np.sort(rng.integers(0, slack + 1, size=n))
        starts = telomere + min_gap + cuts + np.arange(n) * (PEAK_WIDTH + min_gap)
        # N runs: the telomere at the chromosome start and inside the two largest gaps
        seq[:telomere] = 4
        bounds = np.concatenate([[telomere], starts, [chrom_length - telomere + PEAK_WIDTH]])
        gap_lo, gap_hi = bounds[:-1] + PEAK_WIDTH, bounds[1:]
        gap_lo[0] = telomere
        for gi in np.argsort(gap_hi - gap_lo)[::-1][:2]:
            if gap_hi[gi] - gap_lo[gi] > 1500:
                seq[gap_lo[gi] + 200 : gap_hi[gi] - 200] = 4
        genome[chrom] = seq
        rows += [(chrom, int(s), int(s) + PEAK_WIDTH) for s in starts]

    peaks = pd.DataFrame(rows, columns=["chrom", "start", "end"])
    peaks["group"] = groups
    peaks.index = pd.Index([f"{r.chrom}:{r.start}-{r.end}" for r in peaks.itertuples()], name=None)

    site_rows = []
    for pk in peaks.itertuples():
        if pk.group not in TYPE_MOTIFS:
            continue
        tf, pfm = motifs[pk.group]
        width = pfm.shape[0]
        prob = (pfm + 0.5) / (pfm + 0.5).sum(axis=1, keepdims=True)
        placed = []
        for _ in range(rng.integers(1, 4)):
            for _attempt in range(50):  # keep sites apart, in the central 400 bp
                off = int(rng.integers(50, PEAK_WIDTH - 50 - width + 1))
                if all(abs(off - o) >= width + 5 for o in placed):
                    break
            else:
                continue
            placed.append(off)
            site = np.array([rng.choice(4, p=prob[i]) for i in range(width)], dtype=np.uint8)
            strand = "+" if rng.random() < 0.5 else "-"
            if strand == "-":
                site = 3 - site[::-1]  # reverse complement in ACGT codes
            start = pk.start + off
            genome[pk.chrom][start : start + width] = site
            site_rows.append(
                (
                    pk.Index,
                    pk.chrom,
                    start,
                    start + width,
                    strand,
                    TYPE_MOTIFS[pk.group],
                    tf.upper(),
                    pk.group,
                    _BASES[site].tobytes().decode(),
                )
            )
    sites = pd.DataFrame(
        site_rows,
        columns=[
            "peak",
            "chrom",
            "start",
            "end",
            "strand",
            "motif_id",
            "tf",
            "cell_type",
            "sequence",
        ],
    )
    genome = {chrom: _BASES[seq].tobytes().decode() for chrom, seq in genome.items()}
    return genome, peaks, sites


def _simulate_atac(rng, obs, peaks):
    """Binary accessibility: 1 - exp(-depth * rate), with type-specific and shared peaks."""
    n_cells, n_peaks = len(obs), len(peaks)
    groups = peaks["group"].to_numpy()
    rate_hi = rng.uniform(0.6, 1.2, size=n_peaks)
    rate = rng.gamma(2.0, 0.03, size=n_peaks)[None, :].repeat(n_cells, axis=0)
    ctype = obs["cell_type"].to_numpy()
    for t in CELL_TYPES:
        rate[:, groups == t] = 0.03
        rate[np.ix_(ctype == t, groups == t)] = rate_hi[groups == t]
    rate[:, groups == "shared"] = rate_hi[groups == "shared"]
    depth = np.exp(rng.normal(0.0, 0.35, size=n_cells))
    depth *= np.where(obs["batch"].to_numpy() == "batch2", 0.85, 1.0)
    prob = 1.0 - np.exp(-depth[:, None] * rate)
    x = (rng.random((n_cells, n_peaks)) < prob).astype(np.float32)
    var = peaks[["chrom", "start", "end"]].copy()
    var["chrom"] = var["chrom"].astype(str)
    var = var.sort_values(["chrom", "start"], kind="stable")
    order = peaks.index.get_indexer(var.index)
    atac_obs = obs[["cell_type", "batch"]].copy()
    return ad.AnnData(X=sp.csr_matrix(x[:, order]), obs=atac_obs, var=var)


# ------------------------------------------------------------------------ writing


def _consensus(pfm: np.ndarray) -> str:
    return _BASES[pfm.argmax(axis=1)].tobytes().decode()


def _fasta_bytes(genome: dict[str, str]) -> bytes:
    parts = []
    for chrom, seq in genome.items():
        lines = [seq[i : i + 60] for i in range(0, len(seq), 60)]
        parts.append(f">{chrom}\n" + "\n".join(lines) + "\n")
    return "".join(parts).encode()


_TRUTH_README = """\
# Ground truth of the simulated demo data (scinterp.simulate)

All tables are tab-separated with a header. Coordinates are 0-based, end-exclusive
(BED style), as in `atac.h5ad` `var` (`chrom`, `start`, `end`; names `chrom:start-end`).

- `markers.tsv` (`cell_type, gene`): the 20 identity genes planted per cell type
  (strongly up in that type only).
- `programs.tsv` (`program, cell_type, active, decoy`): every gene set of
  `gene_sets.gmt` x every cell type; `active` is true where the program is switched on.
  Decoys are random genes that are never co-regulated (`active` always false).
- `grn.tsv` (`tf, target, sign, weight`): the regulatory edges; a target's log-mean
  moves by `weight` x the TF's log-level (sign +1 activation, -1 repression).
  TFs in `tfs.txt` without edges regulate nothing (negative controls).
- `motifs.tsv` (`cell_type, motif_id, tf, jaspar_name, consensus`): the JASPAR2024
  CORE vertebrate matrix planted in the peaks specific to each cell type; `tf` is the
  gene symbol (upper case), `jaspar_name` the matrix name as JASPAR spells it.
  Matrices of one TF family (SPI1/SPIB, TBX21/EOMES, TCF7L1/TCF7/LEF1, IRF8/IRF4,
  NFE2/BACH/MAF) look alike: a match to a family member is a near miss.
- `motif_sites.tsv` (`peak, chrom, start, end, strand, motif_id, tf, cell_type, sequence`):
  every planted site; `sequence` is the genome's + strand at those coordinates.
- `peaks.tsv` (`peak, chrom, start, end, group`): group is the cell type whose
  peaks these are, `shared` (open in all types) or `background`.

`rna.h5ad` `obs`: `cell_type`, `batch`, `quality` (`good`, `low_quality`, `doublet`) and
`doublet_of` (the two parent types of a doublet; `cell_type` of a doublet is its first
parent's). `atac.h5ad` holds the good cells only.
"""
