"""TF motifs from a trained sequence CNN: attributions -> motifs -> JASPAR names -> TF activity.

The branch's steps, each a function of arrays (no files, no snakemake):

1. :func:`select_peaks` picks, per cell type, the peaks most specifically open in it;
   :func:`hypothetical_contributions` attributes the CNN's *cell-type contrast* (mean
   logit over the type's cells minus the mean over all cells) to every base of those
   peaks, DeepLIFT against dinucleotide-shuffled references, as the projected
   "hypothetical" contributions TF-MoDISco expects (all 4 bases at every position).
   The contrast target removes what every cell shares (GC, openness), so the seqlets
   left are the type-specific motifs.
2. :func:`modisco_motifs` clusters seqlets into motifs (modisco-lite); :func:`filter_motifs`
   reads the first-layer filters as PWMs from their top-activating windows.
3. :func:`load_motif_database` (JASPAR via pyjaspar, offline, or a MEME file) and
   :func:`match_motifs` (Tomtom, memelite) name the learned motifs.
4. :func:`insertion_activity` (scBasset: insert a motif into shuffled background peaks,
   the change of each cell's prediction is that cell's TF activity) and
   :func:`chromvar_deviations` (chromVAR-like motif deviation z-scores, the baseline).

Motif matrices are ``(4, width)`` arrays in A, C, G, T row order, like the one-hot
sequences ``(n, 4, L)`` of :mod:`scinterp.data.sequences` and like memelite.

The subpackage, one module per job (this module re-exports their public names):
``_motif`` motif objects and matrix helpers; ``_peaks`` the model's cell labels, the
type-specific peaks and contrasts; ``_contributions`` hypothetical contributions;
``_discovery`` TF-MoDISco and filter motifs; ``_database`` MEME files and JASPAR;
``_matching`` Tomtom names and the motifs table; ``_activity`` TF activity; ``_plots``.
"""

from scinterp.interpret.motifs._activity import (
    activity_anndata,
    aggregate_by_type,
    annotate_activity,
    chromvar_deviations,
    insertion_activity,
    scan_max_scores,
    tf_activity,
)
from scinterp.interpret.motifs._contributions import (
    ATTRIBUTION_METHOD,
    HYPOTHETICAL_METHODS,
    attribute_type_peaks,
    hypothetical_contributions,
)
from scinterp.interpret.motifs._database import (
    learned_from_meme,
    load_motif_database,
    read_meme,
    write_learned_meme,
    write_meme,
)
from scinterp.interpret.motifs._discovery import (
    discover_and_match,
    filter_influence,
    filter_motifs,
    influential_filter_motifs,
    modisco_motifs,
    robust_z,
)
from scinterp.interpret.motifs._matching import (
    STRONG_IC,
    match_motifs,
    matched_motifs,
    motif_table,
)
from scinterp.interpret.motifs._motif import (
    DatabaseMotif,
    LearnedMotif,
    consensus,
    information_content,
    informative_core,
    trim_motif,
)
from scinterp.interpret.motifs._options import DEFAULT_OPTIONS, MotifsOptions, modisco_options
from scinterp.interpret.motifs._peaks import (
    atac_cell_labels,
    load_sequence_model,
    select_peaks,
    type_contrast_weights,
)
from scinterp.interpret.motifs._plots import (
    plot_activity_heatmap,
    plot_logos,
)
from scinterp.interpret.motifs._run import (
    FILES,
    activity_step,
    contributions_step,
    discovery_step,
    peaks_step,
    run,
    write_activity,
    write_contributions,
    write_discovery,
    write_peaks,
)

__all__ = [
    "ATTRIBUTION_METHOD",
    "DEFAULT_OPTIONS",
    "DatabaseMotif",
    "FILES",
    "HYPOTHETICAL_METHODS",
    "LearnedMotif",
    "MotifsOptions",
    "STRONG_IC",
    "activity_anndata",
    "activity_step",
    "aggregate_by_type",
    "annotate_activity",
    "attribute_type_peaks",
    "chromvar_deviations",
    "consensus",
    "contributions_step",
    "discover_and_match",
    "discovery_step",
    "filter_influence",
    "filter_motifs",
    "hypothetical_contributions",
    "influential_filter_motifs",
    "information_content",
    "informative_core",
    "insertion_activity",
    "learned_from_meme",
    "load_motif_database",
    "atac_cell_labels",
    "load_sequence_model",
    "match_motifs",
    "matched_motifs",
    "modisco_motifs",
    "modisco_options",
    "motif_table",
    "plot_activity_heatmap",
    "plot_logos",
    "peaks_step",
    "read_meme",
    "robust_z",
    "run",
    "scan_max_scores",
    "select_peaks",
    "tf_activity",
    "trim_motif",
    "type_contrast_weights",
    "write_activity",
    "write_contributions",
    "write_discovery",
    "write_learned_meme",
    "write_meme",
    "write_peaks",
]
