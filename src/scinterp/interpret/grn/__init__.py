"""Gene regulatory networks from a trained model: TF -> target edge tables.

Edge sources, each its own ``method`` in ``grn/edges.tsv``:

* ``deepsem``: the model's learned TF x gene adjacency (intrinsic), ``|A[tf, target]|``;
* ``integrated_gradients``: integrated gradients of every target's prediction (the model's
  TF -> gene predictor, ``GRNSEM.forward``) with respect to the TF inputs, mean
  ``|attribution|`` over cells: globally against the mean cell, and within each cell type
  against that type's mean cell; and ``integrated_gradients_within_type``, the per-type
  attributions averaged over the types (weighted by their cells), a global network with
  the types' differences taken out;
* ``consensus``: the weighted mean log rank of the sources above and of the absolute
  Spearman correlation over the same cells (:data:`CONSENSUS`: integrated gradients 3,
  spearman 2, deepsem 1; :func:`consensus_edges`).

Edge confidence from seeds: with further ensemble members (the same ``grn_sem`` trained at
other seeds, rule ``train_members_grn_sem``) every global edge gets a ``confidence``, the share of
members (the main model included) whose own network of that method puts the edge in its
top ``confidence_top`` (:func:`edge_confidence`). The members give only global networks
(one adjacency, one integrated-gradients pass over the same cells): the per-cell-type
networks, the expensive part, stay the main model's.

``attention`` is not produced: the transformer of this package attends over gene-set
tokens, not over gene tokens, so it holds no TF -> target attention.

Integrated gradients for all targets at once: for a model whose output ``f(x)`` has one
column per gene, the attribution of target ``g`` to TF ``t`` in a cell is
``(x_t - b_t) * sum_k w_k d f_g / d x_t (b + a_k (x - b))`` (Gauss-Legendre nodes ``a_k``,
weights ``w_k``, as Captum's default). The derivatives with respect to the few TF inputs
come from forward-mode differentiation, one JVP per TF (batched: the cells are stacked
once per TF, each copy with its own tangent), so the cost grows with the number of TFs, not of targets: thousands of per-target Captum
calls become ``n_steps`` batched passes. A model with a ``path_tf_jacobian`` method
(:class:`scinterp.models.grn.GRNSEM`) gives those derivatives, summed along the path,
analytically instead.

Modules: ``_edges`` (edge tables, consensus, ensembles, confidence, top regulators),
``_ig`` (integrated gradients of every target), ``_infer`` (:func:`infer_grn`, the whole
branch, and ``run(inputs, options)`` from files), ``_options`` (:class:`GrnOptions`),
``_plots`` (the network figure).
"""

from scinterp.interpret.grn._edges import (
    EDGE_COLUMNS,
    GLOBAL,
    TABLE_COLUMNS,
    adjacency_edges,
    consensus_edges,
    edge_confidence,
    edges_from_matrix,
    ensemble_edges,
    top_regulators,
)
from scinterp.interpret.grn._ig import integrated_gradients_grn
from scinterp.interpret.grn._infer import (
    CONSENSUS,
    SOURCES,
    WITHIN_TYPE,
    attributed_cells,
    consensus_weights,
    ensemble_networks,
    infer_grn,
    mean_by_group,
    model_genes,
    model_rows,
    run,
)
from scinterp.interpret.grn._options import DEFAULT_OPTIONS, GrnOptions
from scinterp.interpret.grn._plots import plot_network

__all__ = [
    "CONSENSUS",
    "DEFAULT_OPTIONS",
    "EDGE_COLUMNS",
    "SOURCES",
    "WITHIN_TYPE",
    "GLOBAL",
    "GrnOptions",
    "TABLE_COLUMNS",
    "adjacency_edges",
    "attributed_cells",
    "consensus_edges",
    "consensus_weights",
    "edge_confidence",
    "edges_from_matrix",
    "ensemble_edges",
    "ensemble_networks",
    "infer_grn",
    "integrated_gradients_grn",
    "mean_by_group",
    "model_genes",
    "model_rows",
    "plot_network",
    "run",
    "top_regulators",
]
