"""Rule conditions_figures: per cell type a volcano plot and a heatmap of the top changed
genes with one column per sample; each sample's cell-type shares, grouped by condition."""

from scinterp.joblog import job_log  # noqa: E402

job_log(snakemake.log[0])  # stderr, logging and faulthandler to the job's log

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from scinterp.io import iter_row_chunks, read_meta, write_figure_atomic  # noqa: E402

design = snakemake.params.design
fdr = float(snakemake.params.fdr)
n_top = int(snakemake.params.n_top)
sample_key, condition_key = design["sample_key"], design["condition_key"]
meta = read_meta(snakemake.input.normalized, ("obs", "var", "uns"))
obs, var_names = meta["obs"], meta["var"].index.astype(str)
label_key = meta["uns"].get("scinterp", {}).get("label_key") or "leiden"
labels = obs[label_key].astype(str).to_numpy()
samples = obs[sample_key].astype(str).to_numpy()
cond_of = obs[[sample_key, condition_key]].astype(str).drop_duplicates()
cond_of = cond_of.set_index(sample_key)[condition_key]

genes = pd.read_csv(snakemake.input.genes, sep="\t")
cons = genes[genes["method"].astype(str) == "consensus"].copy()
for col in ("log_fc", "adj_p_value", "p_value"):
    cons[col] = pd.to_numeric(cons[col], errors="coerce")
panels = list(cons.groupby(["contrast", "cell_type"], sort=True))


def _grid(n, w=3.6, h=3.2):
    ncol = min(4, max(1, n))
    nrow = int(np.ceil(max(1, n) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(w * ncol, h * nrow), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()


def _empty(text):
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return fig


# --- volcano: consensus log fold change vs -log10 adjusted p, per cell type
if panels:
    fig, axes = _grid(len(panels))
    for ax, ((contrast, cell_type), grp) in zip(axes, panels, strict=False):
        y = -np.log10(grp["adj_p_value"].clip(lower=1e-300).fillna(1.0))
        hit = grp["adj_p_value"] <= fdr
        ax.scatter(grp["log_fc"], y, s=5, c=np.where(hit, "tab:red", "0.6"), linewidths=0)
        ax.axhline(-np.log10(fdr), color="0.3", lw=0.6, ls="--")
        ax.set_title(f"{cell_type}\n{contrast}: {int(hit.sum())} genes", fontsize=9)
        ax.set_xlabel("log2 fold change (pseudobulk)")
        ax.set_ylabel("-log10 adjusted p (consensus)")
    fig.tight_layout()
else:
    fig = _empty("no cell type was tested")
write_figure_atomic(fig, snakemake.output.volcano)
plt.close("all")

# --- heatmap: top genes per cell type, mean log-expression per sample (centred per gene)
tops = {}
for (contrast, cell_type), grp in panels:
    grp = grp.sort_values(["adj_p_value", "p_value"], kind="stable")
    top = [g for g in grp["gene"].astype(str) if g in set(var_names)][:n_top]
    if top:
        tops[(contrast, cell_type)] = top
wanted = sorted({g for top in tops.values() for g in top})
if wanted:
    col_of = {g: i for i, g in enumerate(wanted)}
    groups = pd.Series(labels + "\t" + samples)
    codes, uniques = pd.factorize(groups)
    sums = np.zeros((len(uniques), len(wanted)))
    for rows, block in iter_row_chunks(snakemake.input.normalized, wanted):
        dense = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        np.add.at(sums, codes[rows], dense)
    counts = np.bincount(codes, minlength=len(uniques)).astype(float)
    means = pd.DataFrame(sums / counts[:, None], index=uniques, columns=wanted)
    fig, axes = _grid(len(tops), w=4.2, h=0.25 * n_top + 1.8)
    for ax, ((contrast, cell_type), top) in zip(axes, tops.items(), strict=False):
        test, _, ref = str(contrast).partition("_vs_")
        order = sorted(
            (s for s in cond_of.index if f"{cell_type}\t{s}" in means.index),
            key=lambda s: (cond_of[s] != ref, cond_of[s], s),
        )
        m = means.loc[[f"{cell_type}\t{s}" for s in order], top].T.to_numpy()
        m = m - m.mean(axis=1, keepdims=True)
        lim = float(np.abs(m).max()) or 1.0
        ax.imshow(m, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_yticks(range(len(top)), top, fontsize=6)
        ax.set_xticks(
            range(len(order)), [f"{s} ({cond_of[s]})" for s in order], rotation=90, fontsize=6
        )
        ax.set_title(f"{cell_type}: {contrast}", fontsize=9)
    fig.tight_layout()
else:
    fig = _empty("no gene to show")
write_figure_atomic(fig, snakemake.output.heatmap)
plt.close("all")

# --- abundance: share of each cell type per sample, samples grouped by condition
share = pd.crosstab(samples, labels, normalize="index")
reference = design.get("reference")
order = sorted(
    share.index, key=lambda s: (str(cond_of.get(s, "")) != reference, str(cond_of.get(s, "")), s)
)
share = share.loc[order]
ab = pd.read_csv(snakemake.input.abundance, sep="\t")
adj = {}
if len(ab):
    for _, r in ab.iterrows():
        p = pd.to_numeric(r["adj_p_value"], errors="coerce")
        adj.setdefault(str(r["cell_type"]), []).append(f"{r['contrast']} adj. p {p:.2g}")
fig, ax = plt.subplots(figsize=(1.5 + 0.5 * len(order), 4.5))
bottom = np.zeros(len(order))
cmap = plt.get_cmap("tab20")
for i, t in enumerate(share.columns):
    label = t + (f" ({'; '.join(adj[t])})" if t in adj else "")
    ax.bar(range(len(order)), share[t].to_numpy(), bottom=bottom, color=cmap(i % 20), label=label)
    bottom += share[t].to_numpy()
ax.set_xticks(
    range(len(order)), [f"{s} ({cond_of.get(s, '')})" for s in order], rotation=90, fontsize=7
)
ax.set_ylabel("share of the sample's cells")
ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
fig.tight_layout()
write_figure_atomic(fig, snakemake.output.abundance)
