"""Options of the GRN branch, each with its one default (the schema's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from scinterp.interpret.options import BranchOptions, option


@dataclass(frozen=True)
class GrnOptions(BranchOptions):
    """Options of :mod:`scinterp.interpret.grn` (``branches.grn``).

    Attributes
    ----------
    consensus
        Sources of the consensus network and their weights (:func:`consensus_weights`;
        a list weighs them equally).
    confidence_top
        With ensemble members, an edge's ``confidence`` is the share of members whose own
        network has it among its top ``confidence_top`` (:func:`ensemble_networks`).
    max_cells
        Cells attributed (a stratified sample; None: every cell).
    n_steps, baseline, batch_size
        Integrated gradients (:func:`integrated_gradients_grn`).
    per_cell_type
        Also score edges within each cell type.
    min_cells_per_type
        Cell types with fewer attributed cells get no network of their own.
    max_edges, max_edges_cell_type
        Edges kept per global / per cell-type network (None: every candidate).
    n_edges_plot
        Strongest consensus edges drawn (:func:`plot_network`).
    n_top_regulators, regulator_edges
        TFs listed per network, ranked over its strongest ``regulator_edges`` edges
        (:func:`top_regulators`).
    seed
        Seed of the cell sample, the models' randomness and the figure's layout
        (``train.seed``).
    device
        Torch device of the models: ``auto`` (CUDA when present), ``cpu``, ``cuda``
        (``train.device``).
    ensemble_score
        With members, the global networks' ``score`` is the ensemble's mean percentile
        rank (False: the main model's); not in the config (:func:`infer_grn`).
    """

    BRANCH = "grn"
    # the peers switched on (each its own rule) and the members trained (the rule's
    # inputs): the workflow's input functions
    WORKFLOW_KEYS = (
        "enabled",
        "grnboost2",
        "regdiffusion",
        "spearman",
        "within_type_spearman",
        "ensemble",
    )

    consensus: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(
            {"integrated_gradients": 3, "spearman": 2, "deepsem": 1}
        )
    )
    confidence_top: int = 100
    max_cells: int | None = 2000
    n_steps: int = 16
    baseline: str = "mean"
    batch_size: int = 128
    per_cell_type: bool = True
    min_cells_per_type: int = 30
    max_edges: int | None = 100000
    max_edges_cell_type: int | None = 10000
    n_edges_plot: int = 60
    n_top_regulators: int = 10
    regulator_edges: int = 200
    seed: int = option(0, config="train.seed")
    device: str = option("auto", config="train.device")
    ensemble_score: bool = option(True, config=None)


#: the defaults, the functions' default argument
DEFAULT_OPTIONS = GrnOptions()
