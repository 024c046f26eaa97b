"""The demo data set: `simulate` in memory (`DemoData`), `write_demo` to files with
the truth tables and their README."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from scinterp.io import atomic_path, write_h5ad_atomic, write_tsv_atomic
from scinterp.simulate._conditions import plant_conditions
from scinterp.simulate._design import _BASES, TYPE_MOTIFS
from scinterp.simulate._genome import _simulate_atac, _simulate_genome, load_jaspar_matrix
from scinterp.simulate._rna import _simulate_rna


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


def simulate(
    seed: int = 0,
    n_cells: int = 3000,
    n_genes: int = 1500,
    n_peaks: int = 2000,
    chrom_length: int = 800_000,
    n_chroms: int = 3,
    frac_low_quality: float = 0.06,
    frac_doublets: float = 0.06,
    conditions: bool = True,
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
    conditions
        Add donors and two conditions with planted changes (:mod:`scinterp.simulate.
        _conditions`), drawn from a stream of their own: without them every other draw,
        and every gene's counts but the planted genes', are the same.

    Returns
    -------
    DemoData
    """
    # the first 3 children are the same whatever the number spawned
    rna_seq, atac_seq, genome_seq, conditions_seq = np.random.SeedSequence(seed).spawn(4)
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
    if conditions:
        rna, planted = plant_conditions(
            np.random.default_rng(conditions_seq), rna, truth, gene_sets
        )
        truth.update(planted)
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
    conditions: bool = True,
) -> dict[str, Path]:
    """Simulate the demo data set and write it under ``outdir``.

    Every file is written to a temporary name in its own folder and renamed when
    complete, so an interrupted run leaves no half-written file.

    Parameters
    ----------
    outdir
        Output folder (created if needed).
    seed, n_cells, n_genes, n_peaks, chrom_length, n_chroms, frac_low_quality, frac_doublets,
    conditions
        See :func:`simulate`.

    Returns
    -------
    dict
        Key -> path for ``rna, atac, genome, gene_sets, tfs, markers, programs, grn,
        motifs, conditions_genes, conditions_abundance`` (with ``conditions``),
        ``motif_sites, peaks, readme``.
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
        conditions=conditions,
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
        "conditions_genes": out / "truth" / "conditions_genes.tsv",
        "conditions_abundance": out / "truth" / "conditions_abundance.tsv",
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
    for key in ("conditions_genes", "conditions_abundance"):
        if key not in data.truth:
            paths.pop(key)
            continue
        write_tsv_atomic(data.truth[key], paths[key])
    with atomic_path(paths["readme"]) as tmp:
        tmp.write_text(_TRUTH_README)
    return paths


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

- `conditions_genes.tsv` (`cell_type, gene, contrast, kind, log2_fc`): genes changed in
  the disease donors' cells of that type (contrast `disease_vs_healthy`): `DE` a mean
  shift of `log2_fc` (each donor's drawn around it), `DP` switched on in 30% of the
  cells (a subpopulation). Only background genes: no marker, gene-set, GRN gene or TF.
  Dendritic cells and erythroid cells do not respond.
- `conditions_abundance.tsv` (`cell_type, contrast, direction, log2_odds_ratio`): cell
  types whose cells come more often from disease donors (their share changes).

`rna.h5ad` `obs`: `cell_type`, `batch`, `quality` (`good`, `low_quality`, `doublet`),
`doublet_of` (the two parent types of a doublet; `cell_type` of a doublet is its first
parent's), `donor` (8 donors, 4 per batch) and `condition` (`healthy`, `disease`: 2
donors of each in each batch). `atac.h5ad` holds the good cells only.
"""
