"""The motifs branch as the workflow, the findings page and the exports see it."""

from scinterp.interpret.branches import Branch, register_branch

BRANCH = register_branch(
    Branch(
        name="motifs",
        order=40,
        reads=("sequence",),
        no_model="{models} is not in train.models",
        data=("atac",),
        summary_tables={
            "motifs_table": "motifs/motifs.tsv",
            "motifs_activity": "motifs/tf_activity.tsv",
            "motifs_evaluation": "motifs/evaluation.tsv",
        },
        summary_figures={
            "motifs_logos": ("motifs/logos.png", "learned motifs beside their database match"),
            "motifs_heatmap": ("motifs/tf_activity.png", "TF activity per cell type"),
        },
        section="scinterp.report.summary:motifs_section",
        other_tools=("`motifs/motifs.meme`: the learned motifs as PWMs (MEME suite)",),
        cell_activity={"motifs": "motifs/cell_activity.h5ad"},
        columns="scinterp.report.export:tf_activity_columns",
        options="scinterp.interpret.motifs._options:MotifsOptions",
    )
)
