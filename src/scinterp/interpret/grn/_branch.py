"""The GRN branch as the workflow, the findings page and the exports see it."""

from scinterp.interpret.branches import Branch, register_branch

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
        section="scinterp.summary:grn_section",
        other_tools=(
            "`grn/adjacencies.tsv`: the consensus network as `TF, target, importance` (pySCENIC)",
        ),
        exports=("grn/adjacencies.tsv",),
    )
)
