"""The planted biology of the demo data: cell types and their shares, mitochondrial
and ribosomal genes, the TFs of the network, one JASPAR motif per cell type, the
programs, and the sizes of markers, decoys and peaks."""

from __future__ import annotations

import numpy as np

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
