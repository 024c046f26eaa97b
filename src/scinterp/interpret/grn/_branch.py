"""The GRN branch as the workflow, the findings page and the exports see it."""

from __future__ import annotations

from scinterp.interpret.branches import Branch, register_branch

#: the model's own edge sources and the correlation floors (peers) they are held against
MODEL_SOURCES = ("integrated_gradients", "integrated_gradients_within_type", "deepsem")
FLOORS = ("spearman", "within_type_spearman")
#: what the model adds where the run has no reference network: the GRN benchmark's figures
#: (benchmarks/README.md, "What each view adds")
BENCHMARK_CONTRIBUTION = (
    "What the model adds (no reference network here; on the GRN benchmark, "
    'benchmarks/README.md "What each view adds"): {text}'
)
BENCHMARK_TEXT = (
    "alone, the model's best source scores 1.00x the within-cell-type correlation on the "
    "median network and 0.56x on the worst (sergio_ecoli); the consensus beats the two "
    "correlations fused without the model on 3 of 5 networks (sergio_mouse_small 9.81 "
    "against 6.97 AUPRC ratio) and loses where cell types confound co-variation "
    "(sergio_ecoli 27.28 against 33.79)."
)


def model_contribution(metrics) -> str:
    """One sentence on what the deep model adds to the network, in figures.

    From ``grn/metrics.tsv`` (the global networks): each model-based source alone
    (:data:`MODEL_SOURCES`) against the best correlation floor (:data:`FLOORS`), and the
    consensus; without metrics (no reference network), the GRN benchmark's figures.
    """
    if metrics is None or not len(metrics) or "auprc_ratio" not in metrics:
        return BENCHMARK_CONTRIBUTION.format(text=BENCHMARK_TEXT)
    m = metrics
    if "cell_type" in m:
        m = m[m["cell_type"].astype(str) == "all"]
    ratio = m.groupby("method")["auprc_ratio"].max()
    ours = [s for s in MODEL_SOURCES if s in ratio.index]
    floors = [f for f in FLOORS if f in ratio.index]
    if not ours or not floors:
        return BENCHMARK_CONTRIBUTION.format(text=BENCHMARK_TEXT)
    floor = max(floors, key=lambda f: ratio[f])
    best = max(ours, key=lambda s: ratio[s])
    alone = ", ".join(f"{s} {ratio[s]:.2f}" for s in ours)
    relation = "above" if ratio[best] >= ratio[floor] else "below"
    text = (
        f"What the model adds: alone, its sources score {alone} (AUPRC ratio against the "
        f"reference, random = 1); the best, {best}, is {ratio[best] / ratio[floor]:.2f}x "
        f"the best correlation floor ({floor} {ratio[floor]:.2f}), {relation} it"
    )
    if "consensus" in ratio.index:
        text += f"; the consensus, which fuses them with the correlation, {ratio['consensus']:.2f}"
    return text + "."


BRANCH = register_branch(
    Branch(
        name="grn",
        order=30,
        reads=("network",),
        no_model="{models} is not trained on this dataset (train.models or skipped)",
        summary_tables={
            "grn_regulators": "grn/top_regulators.tsv",
            "grn_metrics": "grn/metrics.tsv",
        },
        summary_figures={
            "grn_network": ("grn/network.png", "strongest edges of the consensus network")
        },
        section="scinterp.report.summary:grn_section",
        other_tools=(
            "`grn/adjacencies.tsv`: the consensus network as `TF, target, importance` (pySCENIC)",
        ),
        exports=("grn/adjacencies.tsv",),
        options="scinterp.interpret.grn._options:GrnOptions",
    )
)
