"""One ``run(inputs, options)`` per branch: programs, motifs, identity and grn from files,
with the options object (conditions.run is tested in test_conditions.py)."""

from __future__ import annotations

from pathlib import Path

from scinterp.interpret import motifs as M
from scinterp.interpret import programs as P
from scinterp.interpret.motifs import _run as motifs_run


def test_model_inputs_reads_the_workflows_keys_and_folders():
    inputs = {
        "normalized": "n.h5ad",
        "model_program_vae": "r/models/program_vae/model.pt",
        "members_program_vae": ["r/members/program_vae/1/model.pt"],
        "model_capsule_classifier": "r/models/capsule_classifier/model.pt",
    }
    models, members = P.model_inputs(inputs)
    assert models == {
        "program_vae": "r/models/program_vae",
        "capsule_classifier": "r/models/capsule_classifier",
    }
    assert members == {"program_vae": ["r/members/program_vae/1"]}
    given = {"models": {"ldvae": Path("m")}, "members": {"ldvae": [Path("m1")]}}
    assert P.model_inputs(given) == ({"ldvae": "m"}, {"ldvae": ["m1"]})


def test_programs_run_passes_every_option_to_compute_programs(monkeypatch):
    """Each field of ProgramsOptions reaches compute_programs under its argument name
    (the workflow's demo run checks the tables are the same as before)."""
    from scinterp.interpret.programs import _compute

    seen = {}

    def fake(adata, gene_sets_path, model_dirs=None, **kw):
        seen.update(adata=adata, gene_sets=gene_sets_path, models=model_dirs, **kw)
        return {"activity": "table"}

    monkeypatch.setattr(_compute, "compute_programs", fake)
    options = P.ProgramsOptions(
        used_threshold=0.3,
        n_top_denovo=7,
        n_posterior_samples=2,
        score_genes_ctrl_size=9,
        confidence_top=4,
        min_set_size=3,
        seed=11,
        device="cpu",
        score_trim=0.1,
        chunk_rows=64,
    )
    inputs = {
        "normalized": "n.h5ad",
        "gene_sets": "s.gmt",
        "model_ldvae": "r/models/ldvae/model.pt",
        "members_ldvae": ["r/members/ldvae/1/model.pt"],
    }
    assert P.run(inputs, options, dataset="d") == {"activity": "table"}
    assert seen == {
        "adata": "n.h5ad",
        "gene_sets": "s.gmt",
        "models": {"ldvae": "r/models/ldvae"},
        "member_dirs": {"ldvae": ["r/members/ldvae/1"]},
        "used_threshold": 0.3,
        "n_top_denovo": 7,
        "n_posterior_samples": 2,
        "ctrl_size": 9,
        "confidence_top": 4,
        "min_set_size": 3,
        "seed": 11,
        "device": "cpu",
        "score_trim": 0.1,
        "chunk_rows": 64,
        "dataset": "d",
    }


def test_motifs_run_chains_the_steps_through_the_branchs_files(tmp_path, monkeypatch):
    """run() hands each step the files the one before wrote, in the workflow's layout."""
    seen = {}

    def step(name, produced):
        def fn(inputs, options, *, dataset=None, **kw):
            seen[name] = (dict(inputs), options, dataset)
            keys = ("peaks", "motifs", "learned", "activity", "cells")
            return {"name": name, **{k: f"{name}:{k}" for k in keys}}

        def write(result, outputs):
            for key in produced:
                Path(outputs[key]).write_text(result["name"])

        return fn, write

    for name, produced in {
        "peaks": ("peaks", "sequences"),
        "contributions": ("contributions", "filters"),
        "discovery": ("motifs", "meme"),
        "activity": ("activity", "cells"),
    }.items():
        fn, write = step(name, produced)
        monkeypatch.setattr(motifs_run, f"{name}_step", fn)
        write_name = {"discovery": "write_discovery"}.get(name, f"write_{name}")
        monkeypatch.setattr(motifs_run, write_name, write)
    options = M.MotifsOptions(n_per_type=7)
    inputs = {"atac": "a.h5ad", "genome": "g.fa", "model": "m/model.pt"}
    tables = M.run(inputs, options, out=tmp_path / "out", dataset="d")
    assert tables == {
        "peaks": "peaks:peaks",
        "motifs": "discovery:motifs",
        "learned": "discovery:learned",
        "tf_activity": "activity:activity",
        "cell_activity": "activity:cells",
    }
    assert seen["peaks"] == (inputs, options, "d")
    files = {k: str(tmp_path / "out" / v) for k, v in M.FILES.items()}
    contrib = seen["contributions"][0]
    assert contrib["model"] == "m/model.pt" and contrib["atac"] == "a.h5ad"
    assert contrib["sequences"] == files["sequences"]
    assert seen["discovery"][0]["database"] == "JASPAR2024"
    assert seen["discovery"][0]["contributions"] == files["contributions"]
    assert seen["discovery"][0]["filters"] == files["filters"]
    act = seen["activity"][0]
    assert {k: act[k] for k in ("sequences", "peaks", "motifs", "meme")} == {
        k: files[k] for k in ("sequences", "peaks", "motifs", "meme")
    }
    for key in ("peaks", "sequences", "contributions", "filters", "motifs", "meme"):
        assert Path(files[key]).exists()


def test_identity_run_reads_the_rules_files(tmp_path, monkeypatch):
    """identity.run hands rank_identity_genes the model folders and the options, and
    summarises the table at precision_k."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    from scinterp.interpret import identity as I
    from scinterp.interpret.identity import _rank

    seen = {}
    original = _rank.rank_identity_genes

    def spy(normalized, attributions, **kw):
        seen.update(attributions=attributions, **kw)
        return original(normalized, {}, options=kw["options"])

    monkeypatch.setattr(_rank, "rank_identity_genes", spy)
    rng = np.random.default_rng(0)
    types = np.repeat(["T", "B", "NK"], 20)
    X = rng.poisson(1.0, (60, 12)).astype(np.float32)
    for k in range(3):  # two markers per type
        X[types == ["T", "B", "NK"][k], 2 * k : 2 * k + 2] += 6
    a = ad.AnnData(X, obs=pd.DataFrame({"cell_type": types}, index=[f"c{i}" for i in range(60)]))
    a.var_names = [f"G{i}" for i in range(12)]
    a.uns["scinterp"] = {"label_key": "cell_type"}
    a.write_h5ad(tmp_path / "normalized.h5ad")
    inputs = {
        "normalized": str(tmp_path / "normalized.h5ad"),
        "attributions": ["r/attribution/mlp/integrated_gradients.h5ad"],
        "model": "r/models/mlp/model.pt",
        "members": ["r/models/mlp/members/seed1/model.pt"],
        "markers": ["r/models/logistic/model.pt"],
    }
    options = I.IdentityOptions(consensus=("wilcoxon", "pairwise_auc"), precision_k=2)
    res = I.run(inputs, options)
    assert seen["attributions"] == {
        "integrated_gradients": "r/attribution/mlp/integrated_gradients.h5ad"
    }
    assert str(seen["model_dir"]) == "r/models/mlp" and seen["attention_dir"] is None
    assert [str(d) for d in seen["member_dirs"]] == ["r/models/mlp/members/seed1"]
    assert [str(d) for d in seen["marker_dirs"]] == ["r/models/logistic"]
    assert seen["options"] is options
    assert set(res) == {"genes", "methods", "sampling", "not_ranked", "data", "label_key"}
    assert "jaccard_top2_vs_consensus" in res["methods"]  # k = precision_k
    assert res["not_ranked"].empty and res["label_key"] == "cell_type"
    top = res["genes"].query("method == 'consensus' and rank <= 2")
    assert set(top.loc[top.cell_type == "B", "gene"]) == {"G2", "G3"}


def test_grn_run_reads_the_attributed_cells_and_applies_the_options(tmp_path):
    """grn.run reads the model's genes of a stratified sample of max_cells cells and
    gives infer_grn every option: the same edges as infer_grn on that sample."""
    import anndata as ad
    import numpy as np
    import pandas as pd
    import torch

    from scinterp.interpret import grn
    from scinterp.io import read_normalized
    from scinterp.models import GRNSEM
    from scinterp.models.registry import save_model

    genes, tfs = ["T0", "T1", "G0", "G1", "G2"], ["T0", "T1"]
    model = GRNSEM(len(genes), torch.tensor([0, 1]), hidden=8)
    folder = tmp_path / "models" / "grn_sem"
    config = {"n_genes": 5, "tf_index": model.tf_index, "hidden": 8}
    save_model(model, folder, "grn_sem", config, {"features": genes, "tfs": tfs})
    rng = np.random.default_rng(1)
    obs = pd.DataFrame({"ct": ["a"] * 50 + ["b"] * 40}, index=[f"c{i}" for i in range(90)])
    data = ad.AnnData(rng.gamma(2.0, 1.0, (90, 6)).astype(np.float32), obs=obs)
    data.var_names = ["EXTRA", *genes[::-1]]
    data.uns["scinterp"] = {"label_key": "ct"}
    data.write_h5ad(tmp_path / "normalized.h5ad")
    inputs = {"normalized": str(tmp_path / "normalized.h5ad"), "model": str(folder / "model.pt")}
    options = grn.GrnOptions(
        max_cells=60,
        n_steps=4,
        min_cells_per_type=10,
        max_edges=3,
        max_edges_cell_type=2,
        consensus={"integrated_gradients": 1, "deepsem": 1},
        seed=3,
        device="cpu",
    )
    edges = grn.run(inputs, options, dataset="toy")
    sizes = edges.groupby(["method", "cell_type"]).size()
    assert (sizes.xs("all", level="cell_type") == 3).all()  # max_edges
    assert (sizes.drop("all", level="cell_type") == 2).all()  # max_edges_cell_type
    assert set(edges["cell_type"]) == {"all", "a", "b"}
    rows = grn.attributed_cells(obs["ct"].to_numpy(), 90, 60, 3)
    sample = read_normalized(tmp_path / "normalized.h5ad", var_names=genes, rows=rows)
    direct = grn.infer_grn(
        sample,
        folder,
        label_key="ct",
        min_cells_per_type=10,
        max_cells=None,
        n_steps=4,
        consensus={"integrated_gradients": 1, "deepsem": 1},
        max_edges=3,
        max_edges_cell_type=2,
        seed=3,
    )
    pd.testing.assert_frame_equal(edges, direct)
    alone = grn.run(inputs, options.replace(per_cell_type=False), dataset="toy")
    assert set(alone["cell_type"]) == {"all"}
