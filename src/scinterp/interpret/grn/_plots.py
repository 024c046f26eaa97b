"""The network figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scinterp.interpret.grn._options import DEFAULT_OPTIONS


def plot_network(
    edges: pd.DataFrame,
    n_edges: int = DEFAULT_OPTIONS.n_edges_plot,
    reference: pd.DataFrame | None = None,
    title: str = "",
    seed: int = DEFAULT_OPTIONS.seed,
):
    """Draw the strongest edges of one network with networkx.

    Parameters
    ----------
    edges
        ``tf, target, score`` of one network, best first.
    n_edges
        Edges drawn.
    reference
        Optional true edges (``tf, target``): drawn solid green, others dashed grey.
    title
        Figure title.
    seed
        Layout seed (deterministic drawing).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    top = edges.sort_values("score", ascending=False, kind="mergesort").head(n_edges)
    graph = nx.DiGraph()
    for tf, target, score in top[["tf", "target", "score"]].itertuples(index=False):
        graph.add_edge(tf, target, weight=float(score))
    true = set()
    if reference is not None:
        true = set(zip(reference["tf"].astype(str), reference["target"].astype(str), strict=True))
    tfs = set(top["tf"])
    fig, ax = plt.subplots(figsize=(9, 8))
    if graph.number_of_edges():
        pos = nx.spring_layout(graph, seed=seed, k=1.5 / np.sqrt(graph.number_of_nodes()))
        hit = [e for e in graph.edges if e in true]
        miss = [e for e in graph.edges if e not in true]
        nx.draw_networkx_nodes(
            graph,
            pos,
            nodelist=[n for n in graph if n in tfs],
            node_color="#d95f02",
            node_size=420,
            ax=ax,
        )
        nx.draw_networkx_nodes(
            graph,
            pos,
            nodelist=[n for n in graph if n not in tfs],
            node_color="#7570b3",
            node_size=90,
            ax=ax,
        )
        nx.draw_networkx_labels(
            graph, pos, labels={n: n for n in graph if n in tfs}, font_size=8, ax=ax
        )
        # the targets too, smaller and under their node, so the edges can be read off
        below = {n: (x, y - 0.03) for n, (x, y) in pos.items()}
        nx.draw_networkx_labels(
            graph,
            below,
            labels={n: n for n in graph if n not in tfs},
            font_size=6,
            font_color="#3f3a72",
            verticalalignment="top",
            ax=ax,
        )
        style = {"arrows": True, "arrowsize": 8, "ax": ax, "node_size": 200}
        if reference is not None:
            nx.draw_networkx_edges(graph, pos, edgelist=hit, edge_color="#1b9e77", **style)
            nx.draw_networkx_edges(
                graph, pos, edgelist=miss, edge_color="#999999", style="dashed", **style
            )
        else:
            nx.draw_networkx_edges(graph, pos, edge_color="#555555", **style)
    subtitle = f"top {len(top)} edges; orange: TFs, purple: targets"
    if reference is not None:
        subtitle += f"; green: in the reference ({sum(e in true for e in graph.edges)})"
    ax.set_title(f"{title}\n{subtitle}" if title else subtitle, fontsize=10)
    ax.set_axis_off()
    return fig
