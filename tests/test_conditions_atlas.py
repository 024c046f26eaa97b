"""benchmarks/conditions_atlas.py: the conditions branch timed per part on a (small)
simulated atlas with donors and conditions added."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from benchmarks import conditions_atlas as ca


@pytest.mark.slow
def test_parts_are_timed_and_the_tables_written(tmp_path):
    path = ca.prepare(1200, tmp_path, donors=8, tile_from=None, n_genes=1500, n_types=4)
    a = ad.read_h5ad(path, backed="r")
    assert "counts" in a.layers and a.n_obs == 1200
    # donor = cell index mod 8; the first half of the donors healthy
    assert a.obs["donor"].iloc[9] == "donor001"
    assert set(a.obs.loc[a.obs["condition"] == "healthy", "donor"]) == {
        f"donor{i:03d}" for i in range(4)
    }
    a.file.close()
    rec = ca.timed_run(path, threads=1, programs=3, tables=tmp_path / "tables")
    parts = rec["parts"]
    assert parts["pydeseq2"]["calls"] == 4  # one fit per cell type
    for part in (
        "pseudobulk + feature sums",
        "pydeseq2",
        "model rows",
        "classifiers (all)",
        "permutations",
        "programs",
        "abundance",
    ):
        assert parts[part]["wall_s"] >= 0 and np.isfinite(parts[part]["cpu_s"]), part
    assert rec["cpu_s"] >= parts["pydeseq2"]["cpu_s"] > 0
    assert rec["rows"]["celltypes"] == 4 and rec["rows"]["programs"] == 4 * 3
    genes = pd.read_csv(tmp_path / "tables" / "genes.tsv", sep="\t")
    assert len(genes) == rec["rows"]["genes"]
    assert set(genes["cell_type"]) == {f"type{i}" for i in range(4)}
    # no planted change between the conditions: no responding cell type
    cells = pd.read_csv(tmp_path / "tables" / "celltypes.tsv", sep="\t")
    assert (cells["adj_p_value"] > 0.05).all()
