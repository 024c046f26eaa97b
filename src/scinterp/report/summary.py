"""The one-page findings summary of a dataset: ``summary.md`` and ``summary.html``.

What each branch found, read from the tables the branches wrote (no recomputation):
QC counts and figures, the top cell-identity genes per cell type, the most active gene
programs per type, the top regulators and their targets, the learned motifs with their
logos and the TF activity, each with the method named and, where ground truth was given,
its score. Branches that were switched off or skipped are listed with the reason.

The page is built once as a list of :class:`Section` (text, tables, figures) and written
twice: Markdown with figures linked relative to the page, and a self-contained HTML page
(figures embedded as data URIs, so it shows inside the Snakemake report). Both renderers
are a few lines here rather than a Markdown package: no extra dependency in every env,
and the output is byte-for-byte deterministic.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scinterp.io import atomic_path

__all__ = [
    "Figure",
    "Section",
    "Table",
    "branch_section",
    "build_summary",
    "grn_section",
    "identity_section",
    "motifs_section",
    "not_run_section",
    "programs_section",
    "qc_section",
    "to_html",
    "to_markdown",
    "write_summary",
]

# the program-activity method shown first: the interpretable models, then the baseline
PROGRAM_METHODS = ("program_vae", "ldvae", "score_genes", "classifier_attribution", "capsule")


@dataclass(frozen=True)
class Table:
    """A table on the page (shown as is; format numbers before)."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class Figure:
    """A figure file on the page."""

    path: Path
    caption: str


@dataclass
class Section:
    """A titled part of the page: paragraphs (str), :class:`Table` and :class:`Figure`."""

    title: str
    blocks: list = field(default_factory=list)


# ------------------------------------------------------------------------- helpers
def _read(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and pd.isna(x)):
        return ""
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _with_confidence(name: str, row: pd.Series) -> str:
    if "confidence" in row.index and pd.notna(row["confidence"]):
        return f"{name} ({_fmt(float(row['confidence']), 2)})"
    return name


def _mean_by_method(ev: pd.DataFrame, columns) -> pd.DataFrame:
    cols = [c for c in columns if c in ev.columns]
    out = ev.groupby("method", sort=False)[cols].mean(numeric_only=True)
    return out.sort_values(cols[0], ascending=False, kind="stable").reset_index()


def _format_frame(df: pd.DataFrame) -> pd.DataFrame:
    return df.apply(lambda col: col.map(_fmt)).astype(str)


# ------------------------------------------------------------------------- sections
def qc_section(metrics: pd.DataFrame, figures=()) -> Section:
    """Cells in and kept, the medians of the kept cells, cells removed per reason.

    ``metrics`` is ``qc/metrics.tsv``; ``figures`` are (path, caption) pairs.
    """
    sec = Section("Quality control")
    keep = metrics["keep"].astype(str).str.lower().isin(["true", "1"])
    kept = metrics[keep]
    text = f"{int(keep.sum())} of {len(metrics)} cells passed QC ({keep.mean():.0%})."
    medians = [
        f"{label} {kept[col].median():.0f}"
        for col, label in (("total_counts", "counts"), ("n_genes", "genes"))
        if col in kept and len(kept)
    ]
    if "pct_mito" in kept and len(kept):
        medians.append(f"mitochondrial {kept['pct_mito'].median():.1f}%")
    if medians:
        text += " Median per kept cell: " + ", ".join(medians) + "."
    sec.blocks.append(text)
    if "reason" in metrics and (~keep).any():
        reasons = metrics.loc[~keep, "reason"].fillna("").astype(str).str.split(";").explode()
        counts = reasons[reasons != ""].value_counts()
        if len(counts):
            sec.blocks.append(
                Table(
                    pd.DataFrame(
                        {"removed because": counts.index, "cells": counts.to_numpy().astype(str)}
                    )
                )
            )
    for path, caption in figures:
        sec.blocks.append(Figure(Path(path), caption))
    return sec


def identity_section(
    genes: pd.DataFrame,
    evaluation: pd.DataFrame | None = None,
    *,
    n_genes: int = 5,
    figures=(),
) -> Section:
    """Top genes per cell type of the ``consensus`` ranking (``identity/genes.tsv``), with
    its confidence where the table has one, and the evaluation's precision@k and AUROC."""
    sec = Section("Cell-identity genes")
    method = "consensus" if (genes["method"] == "consensus").any() else str(genes["method"].iloc[0])
    sub = genes[genes["method"] == method].sort_values(["cell_type", "rank"], kind="stable")
    source = ""
    if "model" in sub and sub["model"].notna().any():
        source = f" of {sub['model'].dropna().iloc[0].replace('+', ', ')}"
    # confidence: the share of the model's seed ensemble agreeing (where the table has it)
    has_conf = "confidence" in sub and sub["confidence"].notna().any()
    conf = " (in brackets: the confidence column of the table)" if has_conf else ""
    sec.blocks.append(
        f"Top {n_genes} genes per cell type, method **{method}**{source}{conf}; "
        "full rankings of every method in `identity/genes.tsv`."
    )
    rows = []
    ev = None
    if evaluation is not None and len(evaluation):
        ev = evaluation[evaluation["method"] == method].set_index("cell_type")
    for cell_type, grp in sub.groupby("cell_type", sort=True):
        top = grp.head(n_genes)
        row = {
            "cell type": cell_type,
            "top genes": ", ".join(_with_confidence(str(r["gene"]), r) for _, r in top.iterrows()),
        }
        if ev is not None and cell_type in ev.index:
            k = int(ev.loc[cell_type, "k"]) if "k" in ev else ""
            row[f"precision@{k}"] = _fmt(float(ev.loc[cell_type, "precision_at_k"]))
            row["AUROC"] = _fmt(float(ev.loc[cell_type, "auroc"]))
        rows.append(row)
    sec.blocks.append(Table(pd.DataFrame(rows).fillna("")))
    if evaluation is not None and len(evaluation):
        sec.blocks.append("Against the true markers (mean over cell types, best first):")
        means = _mean_by_method(evaluation, ["precision_at_k", "auroc", "average_precision"])
        sec.blocks.append(Table(_format_frame(means)))
    # what the model-based sources change in the consensus (issue 33), from this table
    from scinterp.interpret.identity._fusion import model_contribution

    k = int(evaluation["k"].iloc[0]) if evaluation is not None and len(evaluation) else 10
    adds = model_contribution(genes, evaluation, k)
    if adds:
        sec.blocks.append(adds)
    for path, caption in figures:
        sec.blocks.append(Figure(Path(path), caption))
    return sec


def programs_section(
    activity: pd.DataFrame,
    evaluation: pd.DataFrame | None = None,
    *,
    n_programs: int = 3,
    figures=(),
) -> Section:
    """Most active programs per cell type (``programs/activity.tsv``) of the first method
    of :data:`PROGRAM_METHODS` present, and the evaluation's AUROC per method."""
    sec = Section("Gene programs")
    methods = list(dict.fromkeys(activity["method"].astype(str)))
    method = next((m for m in PROGRAM_METHODS if m in methods), methods[0] if methods else "")
    sub = activity[activity["method"] == method]
    sec.blocks.append(
        f"The {n_programs} most active programs per cell type, method **{method}**, "
        "by score; every method in `programs/activity.tsv`, the genes of each "
        "program in `programs/loadings.tsv`."
    )
    has_conf = "confidence" in sub and sub["confidence"].notna().any()
    header = (
        "most active programs (score; confidence)" if has_conf else "most active programs (score)"
    )

    def label(r) -> str:
        inside = _fmt(float(r["score"]))
        if has_conf and pd.notna(r["confidence"]):
            inside += f"; {_fmt(float(r['confidence']), 2)}"
        return f"{r['program']} ({inside})"

    rows = []
    for cell_type, grp in sub.groupby("cell_type", sort=True):
        top = grp.sort_values("score", ascending=False, kind="stable").head(n_programs)
        rows.append(
            {"cell type": cell_type, header: ", ".join(label(r) for _, r in top.iterrows())}
        )
    sec.blocks.append(Table(pd.DataFrame(rows)))
    if evaluation is not None and len(evaluation):
        sec.blocks.append("Against the true active programs (best first):")
        cols = [c for c in ("method", "auroc", "auprc") if c in evaluation]
        ev = evaluation[cols].sort_values(cols[1], ascending=False, kind="stable")
        sec.blocks.append(Table(_format_frame(ev)))
    for path, caption in figures:
        sec.blocks.append(Figure(Path(path), caption))
    return sec


def grn_section(
    regulators: pd.DataFrame,
    metrics: pd.DataFrame | None = None,
    *,
    n_regulators: int = 10,
    figures=(),
) -> Section:
    """The strongest regulators of the consensus network and their top targets
    (``grn/top_regulators.tsv``), and every network's scores against the reference."""
    sec = Section("Gene regulatory network")
    reg = regulators
    if "method" in reg:
        reg = reg[reg["method"] == "consensus"] if (reg["method"] == "consensus").any() else reg
    method = str(reg["method"].iloc[0]) if "method" in reg and len(reg) else "consensus"
    if "cell_type" in reg:
        reg = reg[reg["cell_type"].astype(str) == "all"]
    reg = reg.sort_values("rank", kind="stable").head(n_regulators)
    sec.blocks.append(
        f"The {len(reg)} strongest regulators of the **{method}** network (all cells), "
        "with their number of targets among the top edges and their strongest targets; "
        "per cell type in `grn/top_regulators.tsv`, every edge in `grn/edges.tsv`."
    )
    sec.blocks.append(
        Table(
            pd.DataFrame(
                {
                    "rank": reg["rank"].astype(int).astype(str).to_numpy(),
                    "TF": reg["tf"].astype(str).to_numpy(),
                    "targets": reg["n_targets"].astype(int).astype(str).to_numpy(),
                    "top targets": reg["top_targets"].astype(str).str.replace(",", ", ").to_numpy(),
                }
            )
        )
    )
    if metrics is not None and len(metrics):
        m = metrics
        if "cell_type" in m:
            m = m[m["cell_type"].astype(str) == "all"]
        cols = [c for c in ("method", "auprc", "auprc_ratio", "epr", "auroc") if c in m]
        m = m[cols].sort_values("auprc", ascending=False, kind="stable")
        sec.blocks.append("Against the reference network (all cells, best AUPRC first):")
        sec.blocks.append(Table(_format_frame(m)))
    from scinterp.interpret.grn._branch import model_contribution

    sec.blocks.append(model_contribution(metrics))
    for path, caption in figures:
        sec.blocks.append(Figure(Path(path), caption))
    return sec


def motifs_section(
    motifs: pd.DataFrame,
    activity: pd.DataFrame | None = None,
    evaluation: pd.DataFrame | None = None,
    *,
    n_motifs: int = 10,
    figures=(),
) -> Section:
    """Learned motifs (``motifs/motifs.tsv``; matched ones first, then by seqlets), the most
    active motif per cell type (``motifs/tf_activity.tsv``) and the recovery of the
    planted motifs."""
    sec = Section("TF motifs")
    m = motifs.copy()
    matched = m["match_name"].fillna("").astype(str) != ""
    m = m.assign(_matched=matched).sort_values(
        ["_matched", "n_seqlets"], ascending=[False, False], kind="stable"
    )
    method = ", ".join(dict.fromkeys(m["method"].astype(str))) if "method" in m else "seq_cnn"
    sec.blocks.append(
        f"{len(m)} motifs learned from the sequence CNN's contributions (method **{method}**), "
        f"{int(matched.sum())} matched to a database motif (Tomtom); PWMs in "
        "`motifs/motifs.meme`."
    )
    cols = [c for c in ("motif", "cell_type", "consensus", "match_name", "qvalue", "n_seqlets")]
    top = m[[c for c in cols if c in m]].head(n_motifs)
    if len(top):
        sec.blocks.append(Table(_format_frame(top)))
    if activity is not None and len(activity):
        act = activity.copy()
        act["score"] = pd.to_numeric(act["score"], errors="coerce")
        act = act.dropna(subset=["score"])
        rows = []
        for cell_type, grp in act.groupby("cell_type", sort=True):
            best = grp.sort_values("score", ascending=False, kind="stable").iloc[0]
            name = best["tf"] if "tf" in best and pd.notna(best["tf"]) else best["motif"]
            rows.append(
                {
                    "cell type": cell_type,
                    "most active motif": f"{name} ({best['motif']})",
                    "score": _fmt(float(best["score"])),
                    "method": str(best.get("method", "")),
                }
            )
        if rows:
            sec.blocks.append("TF activity: the most active motif per cell type.")
            sec.blocks.append(Table(pd.DataFrame(rows)))
    else:
        sec.blocks.append("TF activity: no matched motif to score.")
    if evaluation is not None and len(evaluation):
        ev = evaluation.copy()
        ev["recovered"] = ev["recovered"].astype(str).str.lower().isin(["true", "1"])
        rec = ev.groupby("method", sort=False)["recovered"].agg(["sum", "size"])
        sec.blocks.append(
            "Planted motifs recovered: "
            + "; ".join(f"{meth} {int(r['sum'])} of {int(r['size'])}" for meth, r in rec.iterrows())
            + "."
        )
    for path, caption in figures:
        sec.blocks.append(Figure(Path(path), caption))
    return sec


def conditions_section(
    genes: pd.DataFrame,
    celltypes: pd.DataFrame | None = None,
    programs: pd.DataFrame | None = None,
    abundance: pd.DataFrame | None = None,
    skipped: pd.DataFrame | None = None,
    *,
    fdr: float = 0.05,
    n_genes: int = 5,
    figures=(),
) -> Section:
    """What changes between conditions (``conditions/*.tsv``): per contrast, how strongly
    each cell type responds, its top changed genes (consensus) and programs with their
    adjusted p-values, the cell types whose share changes, and what was not tested and
    why (``conditions/skipped.tsv``); the sample is the unit."""
    sec = Section("What changes between conditions")
    sec.blocks.append(
        "Every test compares samples (donors), never cells: a change with adjusted "
        f"p-value <= {fdr} holds across samples. Genes: method **consensus** (pseudobulk "
        "and model-based evidence combined), every method in `conditions/genes.tsv`."
    )

    def num(df, col):
        return pd.to_numeric(df[col], errors="coerce")

    def top(df, name_col, effect_col, n):
        df = df.assign(_p=num(df, "adj_p_value")).sort_values("_p", kind="stable")
        hits = df[df["_p"] <= fdr].head(n)
        return ", ".join(
            f"{r[name_col]} ({'+' if float(r[effect_col]) > 0 else '-'}; {_fmt(float(r['_p']))})"
            for _, r in hits.iterrows()
        )

    g = genes
    if "method" in g and (g["method"].astype(str) == "consensus").any():
        g = g[g["method"].astype(str) == "consensus"]
    contrasts = list(dict.fromkeys(g["contrast"].astype(str))) if "contrast" in g else []
    if celltypes is not None and len(celltypes):
        contrasts += [c for c in celltypes["contrast"].astype(str) if c not in contrasts]
    if not contrasts:
        sec.blocks.append("No cell type had enough samples per condition to be tested.")
    for contrast in contrasts:
        sec.blocks.append(f"**{contrast}**")
        gc = g[g["contrast"].astype(str) == contrast] if len(g) else g
        pc = None
        if programs is not None and len(programs):
            pc = programs[programs["contrast"].astype(str) == contrast]
        cell_types = list(dict.fromkeys(gc["cell_type"].astype(str))) if len(gc) else []
        resp = None
        if celltypes is not None and len(celltypes):
            resp = celltypes[celltypes["contrast"].astype(str) == contrast].copy()
            resp = resp.assign(_s=num(resp, "score")).sort_values(
                "_s", ascending=False, kind="stable"
            )
            cell_types = list(dict.fromkeys([*resp["cell_type"].astype(str), *cell_types]))
        rows = []
        for t in cell_types:
            row = {"cell type": t}
            if resp is not None:
                r = resp[resp["cell_type"].astype(str) == t]
                if len(r):
                    r = r.iloc[0]
                    row["response (adj. p)"] = (
                        f"{_fmt(float(r['score']))} ({_fmt(float(r['adj_p_value']))})"
                    )
                    row["samples test/ref"] = f"{r['n_samples_test']}/{r['n_samples_ref']}"
            gt = gc[gc["cell_type"].astype(str) == t]
            n_sig = int((num(gt, "adj_p_value") <= fdr).sum())
            row["changed genes"] = str(n_sig)
            row["top genes (direction; adj. p)"] = top(gt, "gene", "log_fc", n_genes) or "-"
            if pc is not None:
                pt = pc[pc["cell_type"].astype(str) == t]
                row["programs (direction; adj. p)"] = top(pt, "program", "effect", 3) or "-"
            rows.append(row)
        if rows:
            sec.blocks.append(Table(pd.DataFrame(rows).fillna("-")))
        if abundance is not None and len(abundance):
            ab = abundance[abundance["contrast"].astype(str) == contrast]
            changed = top(ab, "cell_type", "log_fc", len(ab))
            sec.blocks.append(
                "Abundance (share of cells per sample): "
                + (f"changed: {changed}." if changed else f"no cell type changes at FDR {fdr}.")
            )
    if skipped is not None and len(skipped):
        reasons = list(dict.fromkeys(skipped["reason"].astype(str)))
        sec.blocks.append("Not tested: " + "; ".join(reasons) + ".")
    for path, caption in figures:
        sec.blocks.append(Figure(Path(path), caption))
    return sec


def not_run_section(
    skipped: pd.DataFrame | None = None,
    switched_off: Mapping[str, str] | None = None,
    not_ranked: pd.DataFrame | None = None,
) -> Section | None:
    """Branches switched off in the config and models or branches skipped
    (``run/skipped.tsv``), and labels the identity branch did not rank as cell types
    (``identity/not_ranked.tsv``), each with its reason; None when everything ran."""
    rows = []
    if skipped is not None:
        rows += [(str(r["part"]), str(r["reason"])) for _, r in skipped.iterrows()]
    if not_ranked is not None:
        rows += [
            (f"identity of '{r['cell_type']}' ({r['n_cells']} cells)", str(r["reason"]))
            for _, r in not_ranked.iterrows()
        ]
    seen = {p for p, _ in rows}
    for part, reason in (switched_off or {}).items():
        name = part if part.startswith("branch ") else f"branch {part}"
        if name not in seen:
            rows.append((name, reason))
    if not rows:
        return None
    sec = Section("Not run")
    sec.blocks.append("Parts of the workflow that did not run on this dataset, and why.")
    sec.blocks.append(Table(pd.DataFrame(rows, columns=["part", "reason"])))
    return sec


# ------------------------------------------------------------------------- the page
# the figures of the page's first part; each branch's are in its Branch.summary_figures
_FIGURES = {
    "qc_plot": "QC metrics, kept and removed cells",
    "umap": "UMAP of the normalized data",
}


def branch_section(spec, paths: Mapping[str, str | os.PathLike]) -> Section | None:
    """A branch's section (:class:`scinterp.interpret.branches.Branch`) from the files
    present in ``paths``: its ``section`` function called with its tables (in
    ``summary_tables`` order, None where missing) and its figures; None without its
    main table."""
    from scinterp.interpret.branches import resolve

    p = {k: Path(v) for k, v in paths.items() if v}
    if spec.main_table is None or spec.main_table not in p:
        return None
    tables = [_read(p[k]) if k in p else None for k in spec.summary_tables]
    figures = [(p[k], caption) for k, (_, caption) in spec.summary_figures.items() if k in p]
    return resolve(spec.section)(*tables, figures=figures)


def build_summary(
    paths: Mapping[str, str | os.PathLike],
    *,
    switched_off: Mapping[str, str] | None = None,
) -> list[Section]:
    """Every section of the page from the files present in ``paths``.

    Parameters
    ----------
    paths
        Key -> file: ``qc_metrics`` (required), ``skipped``, ``qc_plot``, ``umap``, and
        each registered branch's keys (``Branch.summary_tables`` and
        ``summary_figures``: ``identity_genes``, ``grn_regulators``, ...), its section
        in registry order (:func:`scinterp.interpret.branches.branches`). A branch
        without its main table is left out of the page (and should be named in
        ``switched_off`` or ``skipped``).
    switched_off
        Branch -> why it did not run (config switches, missing ATAC data...).

    Returns
    -------
    list of Section
    """
    p = {k: Path(v) for k, v in paths.items() if v}

    def table(key):
        return _read(p[key]) if key in p else None

    def figs(*keys):
        return [(p[k], _FIGURES[k]) for k in keys if k in p]

    from scinterp.interpret.branches import branches

    sections = [qc_section(_read(p["qc_metrics"]), figs("qc_plot", "umap"))]
    sections += integration_section(p)  # with a batch_key: normalize/integration.tsv
    files = [
        "`cell_activity.h5ad`: per-cell identity scores and program activity (scanpy, CELLxGENE)"
    ]
    for spec in branches():
        sec = branch_section(spec, p)
        if sec is not None:
            sections.append(sec)
            files += spec.other_tools
    # written by the job that writes identity/genes.tsv, beside it
    not_ranked = p["identity_genes"].with_name("not_ranked.tsv") if "identity_genes" in p else None
    not_run = not_run_section(
        table("skipped"),
        switched_off,
        _read(not_ranked) if not_ranked is not None and not_ranked.exists() else None,
    )
    if not_run is not None:
        sections.append(not_run)
    sections.append(Section("Files for other tools", ["\n".join(f"- {f}" for f in files)]))
    return sections


# ------------------------------------------------------------------------- renderers
def _md_cell(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _md_table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(_md_cell(c) for c in df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = [
        "| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def to_markdown(sections, title: str, *, base: str | os.PathLike = ".") -> str:
    """The page as Markdown; figures linked relative to ``base`` (the page's folder)."""
    out = [f"# {title}", ""]
    for sec in sections:
        out += [f"## {sec.title}", ""]
        for b in sec.blocks:
            if isinstance(b, Table):
                out += [_md_table(b.frame), ""]
            elif isinstance(b, Figure):
                rel = Path(os.path.relpath(b.path, base)).as_posix()
                out += [f"![{b.caption}]({rel})", ""]
            else:
                out += [str(b), ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:70em;
margin:1em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;border-bottom:2px solid #ccc}h2{font-size:1.25em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}figure{margin:.8em 0}img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#555}code{background:#f4f4f4;padding:0 .2em}
"""


def _inline(text: str) -> str:
    """Escape, then the two Markdown inlines the page uses: **bold** and `code`."""
    parts = html.escape(text).split("`")
    for i in range(1, len(parts), 2):
        parts[i] = f"<code>{parts[i]}</code>"
    s = "".join(parts)
    bold = s.split("**")
    for i in range(1, len(bold), 2):
        bold[i] = f"<strong>{bold[i]}</strong>"
    return "".join(bold)


def _html_block(b) -> str:
    if isinstance(b, Table):
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.frame.columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_inline(str(v))}</td>" for v in row) + "</tr>"
            for row in b.frame.itertuples(index=False)
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(b, Figure):
        mime = "image/svg+xml" if b.path.suffix == ".svg" else f"image/{b.path.suffix.lstrip('.')}"
        data = base64.b64encode(b.path.read_bytes()).decode("ascii")
        cap = html.escape(b.caption)
        return (
            f'<figure><img src="data:{mime};base64,{data}" alt="{cap}">'
            f"<figcaption>{cap}</figcaption></figure>"
        )
    lines = str(b).split("\n")
    if all(line.startswith("- ") for line in lines):
        return "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in lines) + "</ul>"
    return f"<p>{_inline(str(b))}</p>"


def to_html(sections, title: str) -> str:
    """The page as one self-contained HTML file (figures embedded)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for sec in sections:
        body.append(f"<h2>{html.escape(sec.title)}</h2>")
        body += [_html_block(b) for b in sec.blocks]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _write_text_atomic(text: str, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_summary(
    md_path,
    html_path,
    paths: Mapping[str, str | os.PathLike],
    *,
    dataset: str,
    switched_off: Mapping[str, str] | None = None,
) -> list[Section]:
    """Build the page (:func:`build_summary`) and write it as Markdown and HTML."""
    sections = build_summary(paths, switched_off=switched_off)
    title = f"scinterp: what the run found in dataset '{dataset}'"
    _write_text_atomic(to_markdown(sections, title, base=Path(md_path).parent), md_path)
    _write_text_atomic(to_html(sections, title), html_path)
    return sections


def integration_section(paths: Mapping[str, Path]) -> list[Section]:
    """[the batch-integration section] when ``paths`` holds ``integration``
    (normalize/integration.tsv), else []: the method, the scIB scores before and after,
    the confounding warnings (``integration_warnings``) and the UMAPs
    (``integration_umap``)."""
    if "integration" not in paths:
        return []
    metrics = _read(paths["integration"])
    wide = metrics.pivot(index="metric", columns="method", values="value")
    methods = ["unintegrated"] + [m for m in wide.columns if m != "unintegrated"]
    wide = wide[[m for m in methods if m in wide.columns]]
    after = methods[-1]
    sec = Section("Batch integration")
    text = (
        f"Neighbours, UMAP and Leiden ran on the PCA integrated with {after} (models and "
        "branches read the uncorrected counts)."
        if after != "unintegrated"
        else "The PCA was not integrated (normalize.integration: none)."
    )
    for key, name in (("overall", "scIB overall"), ("leiden_batch_ari", "Leiden vs batch ARI")):
        if key in wide.index:
            text += f" {name}: " + " -> ".join(_fmt(wide.loc[key, m]) for m in wide.columns) + "."
    sec.blocks.append(text)
    warn = paths.get("integration_warnings")
    lines = Path(warn).read_text().splitlines() if warn and Path(warn).exists() else []
    sec.blocks += [f"**Warning**: {w}" for w in lines if w.strip()]
    frame = wide.reset_index().astype(object)
    sec.blocks.append(Table(frame.map(lambda x: _fmt(x) if isinstance(x, float) else x)))
    if "integration_umap" in paths:
        sec.blocks.append(
            Figure(Path(paths["integration_umap"]), "UMAP before and after integration")
        )
    return [sec]
