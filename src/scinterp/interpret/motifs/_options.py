"""Options of the motifs branch, each with its one default (the schema's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scinterp.interpret.options import BranchOptions, option


@dataclass(frozen=True)
class MotifsOptions(BranchOptions):
    """Options of :mod:`scinterp.interpret.motifs` (``branches.motifs``).

    Each field is the config key of the same name, described in
    ``workflow/schemas/config.schema.yaml`` and ``config/README.md``; by step:

    peaks (:func:`scinterp.data.sequences.prepare_peak_sequences`)
        ``width`` (``train.seq_width``: the sequence model's input), ``max_n_fraction``,
        ``tss`` (a BED of TSSs; the workflow passes it as an input).
    contributions (:func:`attribute_type_peaks`, :func:`influential_filter_motifs`)
        ``n_per_type``, ``min_rate``, ``attribution``, ``n_refs``, ``n_steps``,
        ``filters`` and ``filter_*``.
    discovery (:func:`discover_and_match`, :func:`load_motif_database`)
        ``modisco_*``, ``max_qvalue``, ``jaspar_collection``, ``jaspar_tax_group``.
    activity (:func:`tf_activity`)
        ``n_background``, ``insertion``, ``chromvar``, ``chromvar_backgrounds``.
    figures
        ``n_logos``.
    every step
        ``seed`` (``train.seed``), ``device`` (``train.device``: ``auto`` is CUDA when
        present).
    """

    BRANCH = "motifs"

    width: int = option(500, config="train.seq_width")
    max_n_fraction: float = 0.1
    tss: str | None = None
    n_per_type: int = 100
    min_rate: float = 0.05
    attribution: str = "deeplift"
    n_refs: int = 5
    n_steps: int = 16
    filters: bool = True
    filter_activation: float = 0.5
    filter_min_sites: int = 10
    filter_min_ic: float = 4.0
    filter_min_influence: float = 0.1
    filter_influence_z: float = 3.5
    filter_max_motifs: int = 20
    modisco_max_seqlets: int = 2000
    modisco_window: int = 21
    modisco_leiden_runs: int = 8
    modisco_min_metacluster_size: int = 50
    modisco_min_cluster_size: int = 20
    max_qvalue: float = 0.05
    jaspar_collection: str = "CORE"
    jaspar_tax_group: str = "vertebrates"
    n_background: int = 200
    insertion: str = "sample"
    chromvar: bool = True
    chromvar_backgrounds: int = 50
    n_logos: int = 12
    seed: int = option(0, config="train.seed")
    device: str = option("auto", config="train.device")

    def modisco(self) -> dict:
        """:func:`modisco_motifs` keyword arguments (:func:`modisco_options`)."""
        return modisco_options(
            {k: getattr(self, k) for k in self.field_names() if k.startswith("modisco_")}
        )


def modisco_options(options: Mapping) -> dict:
    """:func:`scinterp.interpret.motifs.modisco_motifs` keyword arguments from the config's
    ``branches.motifs``."""
    return {
        "max_seqlets": options["modisco_max_seqlets"],
        "window": options["modisco_window"],
        "n_leiden_runs": options["modisco_leiden_runs"],
        "min_metacluster_size": options["modisco_min_metacluster_size"],
        "final_min_cluster_size": options["modisco_min_cluster_size"],
    }


#: the defaults, the functions' default argument
DEFAULT_OPTIONS = MotifsOptions()
