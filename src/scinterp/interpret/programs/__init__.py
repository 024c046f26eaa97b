"""Gene programs: per-cell activities -> differential scores per cell type, loadings, enrichment.

Methods (the ``method`` column of ``programs/activity.tsv``):

``program_vae`` / ``ldvae``
    Latent units of the gene-program VAE. A unit's activity is its latent mean, oriented so
    that higher activity means higher expression of its genes (the sign of the sum of its
    decoder weights, expiMap's ``latent_directions(method="sum")``). Its ``score`` in a
    cell type is the log-fold change of the program's genes that the unit accounts for:
    the difference of its mean activity (type minus the other cells) times the trimmed
    mean (20% cut at each end) of its decoder weights over the program's genes (the gene
    set; for a de novo unit its ``n_top_denovo`` largest weights). A unit the model does
    not use (weights near 0) scores near 0; so does one that a few genes of its set load
    on (a decoy set that happens to hold a handful of a cell type's markers), because the
    trimmed mean is that of the set's typical gene. The posterior Bayes factor (below) is
    kept in the column ``bayes_factor``.
``score_genes``
    Baseline: scanpy ``score_genes`` per gene set (mean expression of the set minus a
    matched control set), computed in row chunks with scanpy's arithmetic (:mod:`scinterp.interpret.gene_scores`).
``capsule``
    Capsule classifier: mean routing coupling of each gene-set capsule to each cell type,
    over the cells of that type (scCapsNet's interpretation).
``classifier_attribution``
    Which programs drive cell identity: a multinomial logistic regression on the
    standardized program activities (of ``program_vae``) is trained to predict the cell
    type and attributed with Captum's integrated gradients (baseline: the mean cell); the
    score is the mean attribution to the true class over the cells of each type. A linear
    model on activities, unlike attributing a gene-level classifier and summing per gene
    set, keeps overlapping gene sets apart and needs no extra trained model.

The differential score of the other methods (``score``; ``bayes_factor`` for the VAEs) is
expiMap's Bayes factor
``log p(a_in > a_out) - log p(a_in <= a_out)``, with ``p`` the probability that a random
cell of the type has a higher activity than a random other cell. For the VAEs activities
are drawn from the posterior (mean + sd * noise), so a unit the model does not use (large
posterior sd) scores near 0 even when its means differ slightly between types. The table
also carries an effect size (Cohen's d on the activities), the Mann-Whitney z and p-value,
and Benjamini-Hochberg adjusted p-values.
"""

from ._activity import (
    CapsuleTables,
    ModelActivity,
    capsule_activity,
    decoder_scores,
    latent_directions,
    model_activity,
    program_gene_rows,
)
from ._attribution import classifier_attribution
from ._compute import (
    _load,  # noqa: F401  (benchmarks/programs.py loads a model with the branch's checks)
    check_features,
    compute_programs,
    ensemble_rows,
    label_column,
    model_inputs,
    run,
)
from ._enrichment import denovo_enrichment, denovo_matches, enrichment
from ._loadings import program_loadings
from ._options import DEFAULT_OPTIONS, ProgramsOptions
from ._plots import plot_activity_heatmap, plot_program_umap, top_programs
from ._stats import ACTIVITY_COLUMNS, differential_scores

__all__ = [
    "ACTIVITY_COLUMNS",
    "DEFAULT_OPTIONS",
    "CapsuleTables",
    "ModelActivity",
    "ProgramsOptions",
    "capsule_activity",
    "check_features",
    "classifier_attribution",
    "compute_programs",
    "decoder_scores",
    "denovo_enrichment",
    "denovo_matches",
    "differential_scores",
    "enrichment",
    "ensemble_rows",
    "label_column",
    "latent_directions",
    "model_activity",
    "model_inputs",
    "plot_activity_heatmap",
    "plot_program_umap",
    "program_gene_rows",
    "program_loadings",
    "run",
    "top_programs",
]
