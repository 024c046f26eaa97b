"""The identity branch as the workflow, the findings page and the exports see it."""

from scinterp.interpret.branches import Branch, register_branch

BRANCH = register_branch(
    Branch(
        name="identity",
        order=10,
        reads=("cell_types", "attention", "markers"),
        no_model="no classifier of train.models was trained on this dataset",
        summary_tables={
            "identity_genes": "identity/genes.tsv",
            "identity_evaluation": "identity/evaluation.tsv",
        },
        summary_figures={
            "identity_dotplot": ("identity/dotplot.png", "top identity genes per cell type")
        },
        section="scinterp.report.summary:identity_section",
        cell_activity={"genes": "identity/genes.tsv"},
        columns="scinterp.report.export:identity_columns",
        options="scinterp.interpret.identity._options:IdentityOptions",
    )
)
