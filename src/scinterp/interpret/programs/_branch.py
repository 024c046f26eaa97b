"""The programs branch as the workflow, the findings page and the exports see it."""

from scinterp.interpret.branches import Branch, register_branch

BRANCH = register_branch(
    Branch(
        name="programs",
        order=20,
        reads=("programs",),
        needs_model=False,  # the score_genes baseline runs without a model
        summary_tables={
            "programs_activity": "programs/activity.tsv",
            "programs_evaluation": "programs/evaluation.tsv",
        },
        summary_figures={
            "programs_heatmap": ("programs/heatmap.png", "program activity per cell type")
        },
        section="scinterp.report.summary:programs_section",
        cell_activity={"programs": "programs/cell_activity.h5ad"},
        columns="scinterp.report.export:program_columns",
        options="scinterp.interpret.programs._options:ProgramsOptions",
    )
)
