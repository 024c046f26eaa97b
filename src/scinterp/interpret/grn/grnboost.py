"""GRNBoost2 (arboreto), the peer our GRN edges are compared with.

arboreto 0.1.6 predates dask's query-planning DataFrame (dask-expr), which it cannot
use; it works with ``dask == distributed == 2024.12.1`` once
``dataframe.query-planning`` is switched off *before* dask.dataframe is first imported.
Dask is imported here only, inside the function, so nothing else in scinterp pays for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["run_grnboost2"]

log = logging.getLogger("scinterp")


def run_grnboost2(
    X,
    genes: Sequence[str],
    tfs: Sequence[str],
    seed: int = 0,
    threads: int = 1,
) -> pd.DataFrame:
    """Infer TF -> target edges with arboreto's GRNBoost2 on a local, in-process cluster.

    Parameters
    ----------
    X
        Cells x genes expression (dense or sparse), the same matrix our models see.
    genes
        Column names of ``X``.
    tfs
        Candidate regulators (a subset of ``genes``).
    seed
        Seed of the per-target gradient-boosting models (arboreto's ``seed``).
    threads
        Threads of the single local dask worker.

    Returns
    -------
    pandas.DataFrame
        ``tf, target, score`` (GRNBoost2 importance), best first; ties broken by name so
        the order is reproducible.
    """
    import dask

    dask.config.set({"dataframe.query-planning": False})
    from arboreto.algo import grnboost2
    from distributed import Client, LocalCluster

    if hasattr(X, "toarray"):
        X = X.toarray()
    genes = [str(g) for g in genes]
    frame = pd.DataFrame(np.asarray(X, dtype=np.float32), columns=genes)
    missing = sorted(set(tfs) - set(genes))
    if missing:
        raise ValueError(f"TFs not among the genes: {', '.join(missing[:5])}")
    logging.getLogger("distributed").setLevel(logging.WARNING)  # per-worker chatter
    t0 = time.perf_counter()
    # processes=False: one in-process worker, no forked interpreters to clean up and no
    # dashboard port to collide with other jobs on the same node.
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=max(1, int(threads)),
            processes=False,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        net = grnboost2(
            expression_data=frame,
            tf_names=list(tfs),
            client_or_address=client,
            seed=seed,
            verbose=False,
        )
    log.info("GRNBoost2: %d edges in %.1f s", len(net), time.perf_counter() - t0)
    net = net.rename(columns={"TF": "tf", "importance": "score"})[["tf", "target", "score"]]
    net = net[net["tf"] != net["target"]]
    net = net.sort_values(["score", "tf", "target"], ascending=[False, True, True])
    return net.reset_index(drop=True)
