"""Options of the programs branch, each with its one default (the schema's)."""

from __future__ import annotations

from dataclasses import dataclass

from scinterp.interpret.options import BranchOptions, option


@dataclass(frozen=True)
class ProgramsOptions(BranchOptions):
    """Options of :mod:`scinterp.interpret.programs` (``branches.programs``).

    Attributes
    ----------
    used_threshold
        A gene is 'used' by a program when its absolute decoder weight is at least this
        fraction of the program's largest one (:func:`program_loadings`).
    n_top_denovo
        Genes listed per de novo program (largest weights) and tested for enrichment.
    n_posterior_samples
        Posterior draws per cell for the VAEs' Bayes-factor scores (0: latent means).
    score_genes_ctrl_size
        Control genes per gene set of the ``score_genes`` baseline.
    confidence_top
        Top programs per cell type that count as found for the ``confidence`` column
        (:func:`ensemble_rows`).
    n_top_umap
        Programs shown on the UMAP figure (:func:`top_programs`).
    min_set_size
        Gene sets with fewer genes in the data are skipped (``train.min_genes_per_set``).
    seed
        Seed of the posterior draws, the control genes and the classifier (``train.seed``).
    device
        Torch device of the models: ``auto`` (CUDA when present), ``cpu``, ``cuda``
        (``train.device``).
    score_trim
        Trim fraction of the VAEs' scores (:func:`decoder_scores`); not in the config.
    chunk_rows
        Cells per chunk when ``X`` is streamed (None: about 4M stored values); not in
        the config.
    """

    BRANCH = "programs"
    # which models are inputs (capsule, ensemble): the workflow's input functions
    WORKFLOW_KEYS = ("enabled", "capsule", "ensemble")

    used_threshold: float = 0.1
    n_top_denovo: int = 50
    n_posterior_samples: int = 10
    score_genes_ctrl_size: int = 50
    confidence_top: int = 5
    n_top_umap: int = 6
    min_set_size: int = option(5, config="train.min_genes_per_set")
    seed: int = option(0, config="train.seed")
    device: str = option("auto", config="train.device")
    score_trim: float = option(0.2, config=None)
    chunk_rows: int | None = option(None, config=None)


#: the defaults, the functions' default argument
DEFAULT_OPTIONS = ProgramsOptions()
