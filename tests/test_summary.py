"""The findings summary: what each branch found, on one page, from small tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from scinterp.report.summary import (
    build_summary,
    identity_section,
    motifs_section,
    programs_section,
    to_html,
    to_markdown,
    write_summary,
)


def _tsv(df: pd.DataFrame, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False)
    return path


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    fig.savefig(path)
    plt.close(fig)
    return path


def _genes(confidence: bool = False) -> pd.DataFrame:
    rows = []
    for t, genes in {
        "B cell": ["CD79A", "MS4A1", "CD19"],
        "T cell": ["CD3E", "IL7R", "CD2"],
    }.items():
        for r, g in enumerate(genes, 1):
            rows.append((t, g, 1.0 / r, r, "consensus", "integrated_gradients+wilcoxon"))
        # another method ranks a different gene first: the page must show the consensus
        rows.append((t, "DECOY", 9.0, 1, "wilcoxon", ""))
    df = pd.DataFrame(rows, columns=["cell_type", "gene", "score", "rank", "method", "model"])
    if confidence:
        df["confidence"] = 0.875
    return df


@pytest.fixture
def run(tmp_path):
    """A dataset folder as the workflow leaves it: QC, identity with truth, programs,
    GRN with a reference; the motif branch off, the programs' model skipped."""
    d = tmp_path / "results" / "tiny"
    qc = pd.DataFrame(
        {
            "cell": [f"c{i}" for i in range(10)],
            "total_counts": [1000.0] * 8 + [10.0, 90000.0],
            "n_genes": [500] * 8 + [5, 4000],
            "pct_mito": [2.0] * 8 + [40.0, 1.0],
            "reason": [""] * 8 + ["low_counts;high_mito", "doublet"],
            "keep": [True] * 8 + [False, False],
        }
    )
    identity_eval = pd.DataFrame(
        {
            "cell_type": ["B cell", "T cell", "B cell", "T cell"],
            "method": ["consensus", "consensus", "wilcoxon", "wilcoxon"],
            "precision_at_k": [0.9, 0.7, 0.5, 0.4],
            "auroc": [0.99, 0.95, 0.8, 0.7],
            "average_precision": [0.9, 0.8, 0.5, 0.4],
            "n_true": [10] * 4,
            "k": [10] * 4,
        }
    )
    activity = pd.DataFrame(
        {
            "program": ["IFN", "CYCLE", "IFN", "CYCLE", "IFN"],
            "cell_type": ["B cell", "B cell", "T cell", "T cell", "T cell"],
            "score": [0.2, 1.5, 2.5, -0.3, 9.0],
            "method": ["program_vae"] * 4 + ["score_genes"],
        }
    )
    programs_eval = pd.DataFrame(
        {"method": ["score_genes", "program_vae"], "auroc": [0.8, 0.97], "auprc": [0.6, 0.9]}
    )
    regulators = pd.DataFrame(
        {
            "method": ["consensus", "consensus", "consensus", "deepsem"],
            "cell_type": ["all", "all", "B cell", "all"],
            "rank": [1, 2, 1, 1],
            "tf": ["PAX5", "TCF7", "EBF1", "GATA1"],
            "n_targets": [12, 8, 3, 5],
            "score": [11.0, 7.5, 3.0, 5.0],
            "top_targets": ["CD79A,CD19,MS4A1", "CD3E,IL7R", "CD79B", "HBB"],
        }
    )
    grn_metrics = pd.DataFrame(
        {
            "method": ["consensus", "grnboost2", "consensus"],
            "auprc": [0.31, 0.12, 0.5],
            "auprc_ratio": [9.1, 3.3, 1.0],
            "epr": [8.0, 2.0, 1.0],
            "auroc": [0.91, 0.8, 0.5],
            "cell_type": ["all", "all", "B cell"],
        }
    )
    skipped = pd.DataFrame(
        {
            "part": ["program_vae", "branch grn"],
            "reason": [
                "no gene set of hallmark.gmt keeps 5 genes",
                "0 TF(s) are genes of the data",
            ],
        }
    )
    paths = {
        "qc_metrics": _tsv(qc, d / "qc" / "metrics.tsv"),
        "qc_plot": _png(d / "qc" / "qc.png"),
        "skipped": _tsv(skipped, d / "run" / "skipped.tsv"),
        "identity_genes": _tsv(_genes(), d / "identity" / "genes.tsv"),
        "identity_evaluation": _tsv(identity_eval, d / "identity" / "evaluation.tsv"),
        "programs_activity": _tsv(activity, d / "programs" / "activity.tsv"),
        "programs_evaluation": _tsv(programs_eval, d / "programs" / "evaluation.tsv"),
        "grn_regulators": _tsv(regulators, d / "grn" / "top_regulators.tsv"),
        "grn_metrics": _tsv(grn_metrics, d / "grn" / "metrics.tsv"),
    }
    return d, paths


def _row(md: str, start: str) -> str:
    """The Markdown table row that starts with ``| start |``."""
    rows = [line for line in md.splitlines() if line.startswith(f"| {start} |")]
    assert rows, f"no row '{start}' in:\n{md}"
    return rows[0]


def test_page_names_what_each_branch_found(run):
    d, paths = run
    sections = write_summary(
        d / "summary.md",
        d / "summary.html",
        paths,
        dataset="tiny",
        switched_off={"motifs": "the dataset has no atac data"},
    )
    md = (d / "summary.md").read_text()
    assert [s.title for s in sections] == [
        "Quality control",
        "Cell-identity genes",
        "Gene programs",
        "Gene regulatory network",
        "Not run",
        "Files for other tools",
    ]
    assert "8 of 10 cells passed QC" in md
    assert _row(md, "low_counts").endswith("| 1 |") and _row(md, "doublet").endswith("| 1 |")
    # identity: the consensus top gene first, the decoy of another method absent, scores
    b = _row(md, "B cell")
    assert "CD79A, MS4A1, CD19" in b and "DECOY" not in md.split("## Gene programs")[0]
    assert "| 0.9 | 0.99 |" in b
    assert "method **consensus** of integrated_gradients, wilcoxon" in md
    # programs: the VAE's programs by score, highest first; its AUROC
    assert "method **program_vae**" in md
    assert "CYCLE (1.5), IFN (0.2)" in _row(md.split("## Gene programs")[1], "B cell")
    assert _row(md.split("## Gene programs")[1], "program_vae").startswith("| program_vae | 0.97")
    # GRN: the consensus network over all cells, best regulator first, the reference scores
    grn = md.split("## Gene regulatory network")[1]
    assert _row(grn, "1") == "| 1 | PAX5 | 12 | CD79A, CD19, MS4A1 |"
    assert "EBF1" not in grn and "GATA1" not in grn
    assert _row(grn, "consensus").startswith("| consensus | 0.31 | 9.1 |")
    # what did not run, with the reason
    assert _row(md, "branch grn") == "| branch grn | 0 TF(s) are genes of the data |"
    assert _row(md, "branch motifs") == "| branch motifs | the dataset has no atac data |"
    assert "## TF motifs" not in md
    # figures: linked relative to the page in Markdown, embedded in the HTML
    assert "](qc/qc.png)" in md
    page = (d / "summary.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "qc/qc.png" not in page
    assert "<td>CD79A, MS4A1, CD19</td>" in page
    assert "<td>the dataset has no atac data</td>" in page


def test_confidence_shown_when_the_table_has_it():
    with_conf = to_markdown([identity_section(_genes(confidence=True))], "t")
    assert "CD79A (0.88), MS4A1 (0.88)" in with_conf and "confidence column" in with_conf
    empty = _genes(confidence=True)
    empty["confidence"] = float("nan")  # e.g. a consensus without an ensemble behind it
    assert "confidence" not in to_markdown([identity_section(empty)], "t")
    without = to_markdown([identity_section(_genes())], "t")
    assert "| B cell | CD79A, MS4A1, CD19 |" in without and "confidence" not in without
    act = pd.DataFrame(
        {
            "program": ["P1"],
            "cell_type": ["A"],
            "score": [2.0],
            "method": ["ldvae"],
            "confidence": [0.5],
        }
    )
    md = to_markdown([programs_section(act)], "t")
    assert "| A | P1 (2; 0.5) |" in md and "(score; confidence)" in md


def test_only_qc_and_nothing_skipped(tmp_path):
    qc = _tsv(
        pd.DataFrame({"cell": ["a", "b"], "total_counts": [5.0, 6.0], "keep": [True, True]}),
        tmp_path / "qc" / "metrics.tsv",
    )
    skipped = _tsv(pd.DataFrame(columns=["part", "reason"]), tmp_path / "run" / "skipped.tsv")
    sections = build_summary({"qc_metrics": qc, "skipped": skipped})
    assert [s.title for s in sections] == ["Quality control", "Files for other tools"]
    assert "2 of 2 cells passed QC" in to_markdown(sections, "t")


def test_markup_in_names_is_escaped():
    genes = _genes()
    genes["cell_type"] = genes["cell_type"].replace({"B cell": "B<i>|x"})
    sections = [identity_section(genes)]
    assert "<i>" not in to_html(sections, "t") and "B&lt;i&gt;|x" in to_html(sections, "t")
    assert "| B<i>\\|x |" in to_markdown(sections, "t")


def test_motifs_matched_first_with_activity_and_recovery(tmp_path):
    motifs = pd.DataFrame(
        {
            "motif": ["m0", "m1", "m2"],
            "consensus": ["ACGTAC", "GGAATT", "TTTTCC"],
            "n_seqlets": [90, 40, 60],
            "match_id": ["", "MA0080.7", ""],
            "match_name": ["", "SPI1", ""],
            "qvalue": [None, 0.001, None],
            "method": ["modisco"] * 3,
            "cell_type": ["B cell", "Monocyte", "B cell"],
        }
    )
    activity = pd.DataFrame(
        {
            "cell_type": ["Monocyte", "Monocyte", "B cell"],
            "motif": ["m1", "m3", "m1"],
            "score": [2.5, 1.0, -0.4],
            "method": ["chromvar"] * 3,
            "tf": ["SPI1", "CEBPA", "SPI1"],
        }
    )
    evaluation = pd.DataFrame(
        {"method": ["modisco", "modisco"], "recovered": [True, False], "tf": ["SPI1", "EBF1"]}
    )
    logos = _png(tmp_path / "motifs" / "logos.png")
    md = to_markdown(
        [motifs_section(motifs, activity, evaluation, figures=[(logos, "logos")])],
        "t",
        base=tmp_path,
    )
    rows = [line for line in md.splitlines() if line.startswith(("| m0", "| m1", "| m2"))]
    assert [r.split(" | ")[0] for r in rows] == ["| m1", "| m0", "| m2"]  # matched, then seqlets
    assert "3 motifs learned" in md and "1 matched" in md
    assert _row(md, "Monocyte") == "| Monocyte | SPI1 (m1) | 2.5 | chromvar |"
    assert "modisco 1 of 2" in md and "![logos](motifs/logos.png)" in md
