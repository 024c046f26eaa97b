"""Branch (i): cell-identity genes, ranked per cell type by several methods.

Sources, each giving a cell types x genes score matrix (higher = more identity-defining):

* attribution methods (``integrated_gradients``, ``gradient_shap``, ...): the **signed
  mean** attribution of the type's cells, each attributed to its own class. Signed,
  because a marker raises its own class's logit (positive attribution) while genes
  whose *absence* supports the class (markers of other types) come out negative; mean
  |attribution| would rank both alike and let other types' markers in.
* ``attention``: the attention classifier's class-token attention to each gene-set
  token (mean over the type's cells), handed to the token's genes by each gene's
  contribution to the token embedding, ``|W_token[:, g]|`` times the gene's mean
  expression in the type minus in the other cells: score(g) = sum over tokens of
  attention x |weight| x contrast. (A share-of-token normalization favoured genes of
  small tokens whatever their role; the contrast keeps genes all types express alike
  from winning.)
* ``ablation``: in-silico knockout: each candidate gene set to zero in the type's cells,
  drop in the probability of the type (Captum FeatureAblation, many genes per pass).
* ``wilcoxon``: scanpy's ``rank_genes_groups`` z-scores, the baseline users know.
* ``contrastive_ig``: integrated gradients of the type's logit minus each other class's
  logit, mean over the type's cells, then the mean over the other classes
  (``branches.identity.contrast``; ``min`` takes the smallest: what tells the type from
  *every* other type, stricter but less stable across training seeds). With an ensemble
  (``branches.identity.ensemble``) the members' class attributions are averaged first.
* ``pairwise_auc``: the smallest, over the other types, of the Mann-Whitney AUC of the
  type against that type (scran's ``pval.type="all"``).
* ``consensus``: reciprocal-rank fusion of the sources in ``consensus`` (default
  :data:`DEFAULT_CONSENSUS`, chosen on the generalization
  benchmark by its worst dataset; see benchmarks/README.md). Fusion rewards genes that
  several independent views put near the top: a model-specific artefact (a gene the
  network latched on) or a DE artefact (a highly expressed but non-specific gene) is
  ranked high by one view only and falls behind genes that all agree on.

The subpackage, one module per job (this module re-exports their public names):
``_attribution`` aggregated attributions, attention and ablation; ``_contrastive``
contrastive IG; ``_de`` the pairwise-AUC and Wilcoxon baselines; ``_fusion`` consensus,
ensembles and the long table; ``_rank`` the rule end to end (``run(inputs, options)``)
and the method summary; ``_options`` its options (:class:`IdentityOptions`); ``_plots``
the figures. The evaluation against planted markers lives in
:mod:`scinterp.evaluate.identity` and is re-exported here.
"""

from scinterp.evaluate.identity import evaluate_identity, plot_evaluation
from scinterp.interpret.identity._attribution import (
    ablation_scores,
    aggregate_attributions,
    attention_scores,
)
from scinterp.interpret.identity._contrastive import (
    class_attributions,
    contrast_scores,
    contrastive_scores,
)
from scinterp.interpret.identity._de import pairwise_auc_scores, wilcoxon_scores
from scinterp.interpret.identity._fusion import (
    COLUMNS,
    DEFAULT_CONSENSUS,
    consensus_scores,
    ensemble_confidence,
    ensemble_scores,
    long_table,
    model_contribution,
)
from scinterp.interpret.identity._options import DEFAULT_OPTIONS, IdentityOptions
from scinterp.interpret.identity._plots import plot_top_genes
from scinterp.interpret.identity._rank import (
    marker_sources,
    method_summary,
    not_ranked_types,
    rank_identity_genes,
    run,
    sampling_table,
)

__all__ = [
    "COLUMNS",
    "DEFAULT_CONSENSUS",
    "DEFAULT_OPTIONS",
    "IdentityOptions",
    "ablation_scores",
    "aggregate_attributions",
    "attention_scores",
    "class_attributions",
    "consensus_scores",
    "contrast_scores",
    "contrastive_scores",
    "ensemble_confidence",
    "ensemble_scores",
    "evaluate_identity",
    "long_table",
    "marker_sources",
    "method_summary",
    "model_contribution",
    "not_ranked_types",
    "pairwise_auc_scores",
    "plot_evaluation",
    "plot_top_genes",
    "rank_identity_genes",
    "run",
    "sampling_table",
    "wilcoxon_scores",
]
