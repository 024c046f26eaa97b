"""Options of the identity branch, each with its one default (the schema's)."""

from __future__ import annotations

from dataclasses import dataclass

from scinterp.interpret.options import BranchOptions, option


@dataclass(frozen=True)
class IdentityOptions(BranchOptions):
    """Options of :mod:`scinterp.interpret.identity` (``branches.identity``).

    Attributes
    ----------
    aggregate
        Per-type aggregation of attribution files: ``mean`` (signed) or ``mean_abs``
        (:func:`aggregate_attributions`).
    consensus
        Sources fused by reciprocal rank into the consensus (those not run are skipped).
    contrast
        How contrastive IG combines the type's contrasts: ``mean`` or ``min``.
    confidence_top
        The ``confidence`` column: the share of ensemble members whose own ranking puts
        the gene in the type's top ``confidence_top`` (:func:`ensemble_confidence`).
    n_candidates
        Top genes per type and consensus source that in-silico ablation tests.
    max_cells
        Cells (a stratified sample) for the attention, pairwise-AUC, contrastive-IG and
        ablation scores.
    max_cells_de
        Cells read at all (Wilcoxon, the figures): every cell up to this many, above it
        a stratified sample (None: every cell).
    n_top_plot
        Top consensus genes per type in the dotplot and heatmap (:func:`plot_top_genes`).
    precision_k
        k of precision@k (:func:`method_summary`) and of the sample's split-half
        agreement (:func:`sampling_table`).
    attribution_methods
        The attribution methods the workflow runs (``attribution.methods``, with those
        the consensus lists): with ``ablation`` among them or in ``consensus``, the
        gene-level in-silico ablation is computed.
    seed
        Seed of the cell samples (``train.seed``).
    device
        Torch device of the models: ``auto`` (CUDA when present), ``cpu``, ``cuda``
        (``train.device``).
    """

    BRANCH = "identity"
    # which model is the identity model and how many members it has: the workflow's
    # input functions (the model files are the rule's inputs)
    WORKFLOW_KEYS = ("enabled", "model", "ensemble")

    aggregate: str = "mean"
    consensus: tuple[str, ...] = ("contrastive_ig", "logistic_weights", "pairwise_auc", "wilcoxon")
    contrast: str = "mean"
    confidence_top: int = 20
    n_candidates: int = 50
    max_cells: int | None = 2000
    max_cells_de: int | None = 50000
    n_top_plot: int = 5
    precision_k: int = 10
    attribution_methods: tuple[str, ...] = option(
        ("integrated_gradients",), config="attribution.methods"
    )
    seed: int = option(0, config="train.seed")
    device: str = option("auto", config="train.device")

    @property
    def ablation(self) -> bool:
        """Whether the gene-level in-silico ablation is computed."""
        return "ablation" in (*self.consensus, *self.attribution_methods)


#: the defaults, the functions' default argument
DEFAULT_OPTIONS = IdentityOptions()
