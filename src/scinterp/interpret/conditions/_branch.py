"""The conditions branch as the workflow, the findings page and the exports see it: what
changes between conditions, per cell type, with the sample (donor) as the unit."""

from __future__ import annotations

from scinterp.interpret.branches import Branch, register_branch

#: adjusted p-value under which a consensus gene enters the per-cell condition score
CELL_SCORE_FDR = 0.05


def design_skip(obs, ds: dict, *, min_samples: int = 2, dataset=None, path=None) -> str | None:
    """Why a dataset's design cannot be tested, or None: no contrast has ``min_samples``
    samples in both of its conditions. ``obs``: the cells' ``sample_key`` and
    ``condition_key`` columns; ``ds``: the dataset's config. Errors of the design
    (:func:`check_design`) raise: the config check reports them before any job."""
    from scinterp.interpret.conditions import check_design, contrasts_of

    sample_key, condition_key = ds["sample_key"], ds["condition_key"]
    reference, contrasts = ds.get("reference"), ds.get("contrasts")
    reasons = check_design(
        obs, sample_key, condition_key, reference, contrasts, dataset=dataset, path=path
    )
    n = obs.dropna(subset=[sample_key, condition_key]).astype(str)
    n = n.groupby(condition_key)[sample_key].nunique()
    pairs = contrasts_of(obs, condition_key, reference, contrasts)
    if any(min(n.get(t, 0), n.get(r, 0)) >= min_samples for t, r in pairs):
        return None
    counts = ", ".join(f"{level}: {k}" for level, k in n.items())
    return "; ".join(reasons) or (
        f"no contrast of {condition_key} has {min_samples} samples ({sample_key}) in both "
        f"conditions (samples per condition: {counts}); add samples"
    )


def read_design(d):
    """The ``sample_key`` and ``condition_key`` columns of a dataset's rna file
    (``d``: a :class:`scinterp.config.DatasetInput`) as a DataFrame."""
    import pandas as pd

    keys = dict.fromkeys((d.ds["sample_key"], d.ds["condition_key"]))
    return pd.DataFrame({k: d.obs_column(k).to_numpy() for k in keys})


def condition_columns(genes, *, cells, source, n_genes, seed, chunk_rows, dataset=None, **_):
    """``condition:<contrast>`` columns of ``cell_activity.h5ad``: per cell, scanpy's
    ``score_genes`` of the contrast's consensus genes raised in the test condition
    (``conditions/genes.tsv``, adjusted p-value <= 0.05, the ``n_genes`` smallest
    p-values over every cell type) minus that of the genes lowered in it: high in cells
    that look like the test condition. None when no gene changes."""
    import numpy as np
    import pandas as pd

    from scinterp.interpret.branches import Columns
    from scinterp.interpret.gene_scores import score_gene_sets

    g = genes[genes["method"].astype(str) == "consensus"]
    g = g.assign(_p=pd.to_numeric(g["adj_p_value"], errors="coerce"))
    g = g[g["_p"] <= CELL_SCORE_FDR].sort_values(["_p", "gene"], kind="stable")
    present = set(map(str, cells.var_names))
    sets, parts = {}, {}
    for contrast, grp in g.groupby("contrast", sort=True):
        lfc = pd.to_numeric(grp["log_fc"], errors="coerce")
        for side, rows in (("up", grp[lfc > 0]), ("down", grp[lfc < 0])):
            top = [x for x in dict.fromkeys(rows["gene"].astype(str)) if x in present][:n_genes]
            if top:
                sets[f"{contrast}|{side}"] = top
                parts.setdefault(str(contrast), []).append(side)
    if not sets:
        return None
    sizes = {k: min(50, max(1, len(present) - len(v))) for k, v in sets.items()}
    scores = score_gene_sets(source, sets, ctrl_size=sizes, seed=seed, chunk_rows=chunk_rows)
    scores = scores.reindex(cells.obs_names)
    block, var = [], []
    for contrast, sides in parts.items():
        col = np.zeros(cells.n_obs)
        used = []
        for side in sides:
            sign = 1.0 if side == "up" else -1.0
            col += sign * scores[f"{contrast}|{side}"].to_numpy(dtype=float)
            used += [("+" if side == "up" else "-") + x for x in sets[f"{contrast}|{side}"]]
        block.append(col)
        var.append(
            (
                f"condition:{contrast}",
                "condition",
                contrast,
                "score_genes of consensus genes (up minus down)",
                ",".join(used),
                "",
            )
        )
    return Columns(np.column_stack(block), var)


BRANCH = register_branch(
    Branch(
        name="conditions",
        order=50,
        needs_model=False,  # donor-level statistics; its classifiers are its own
        data=("condition_key", "sample_key"),
        no_data="the dataset sets no {key} (datasets.<name>.{key})",
        summary_tables={
            "conditions_genes": "conditions/genes.tsv",
            "conditions_celltypes": "conditions/celltypes.tsv",
            "conditions_programs": "conditions/programs.tsv",
            "conditions_abundance": "conditions/abundance.tsv",
            "conditions_skipped": "conditions/skipped.tsv",
        },
        summary_figures={
            "conditions_volcano": (
                "conditions/volcano.png",
                "changed genes per cell type (consensus; log fold change vs adjusted p)",
            ),
            "conditions_heatmap": (
                "conditions/heatmap.png",
                "top changed genes per cell type, one column per sample",
            ),
            "conditions_abundance_plot": (
                "conditions/abundance.png",
                "cell-type shares per sample, grouped by condition",
            ),
        },
        section="scinterp.report.summary:conditions_section",
        cell_activity={"condition_genes": "conditions/genes.tsv"},
        columns="scinterp.interpret.conditions._branch:condition_columns",
        options="scinterp.interpret.conditions._options:ConditionsOptions",
    )
)
