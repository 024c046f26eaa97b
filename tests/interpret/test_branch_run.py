"""One ``run(inputs, options)`` per branch: programs and motifs from files, with the
options object (conditions.run is tested in test_conditions.py)."""

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
    import inspect

    from scinterp.interpret.programs import _compute

    original = inspect.signature(_compute.compute_programs)
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
    # compute_programs' defaults are the options' (one default per option)
    arg = {"ctrl_size": "score_genes_ctrl_size"}
    for name, param in original.parameters.items():
        field = arg.get(name, name)
        if field in P.ProgramsOptions.field_names() and field != "device":
            assert param.default == getattr(P.DEFAULT_OPTIONS, field), name


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


def test_motif_functions_default_to_the_options():
    """The motifs functions the steps call take their defaults from MotifsOptions."""
    import inspect

    d = M.DEFAULT_OPTIONS
    expected = {
        M.attribute_type_peaks: {
            "n_per_type": d.n_per_type,
            "min_rate": d.min_rate,
            "method": d.attribution,
            "n_refs": d.n_refs,
            "n_steps": d.n_steps,
        },
        M.influential_filter_motifs: {
            "min_influence": d.filter_min_influence,
            "influence_z": d.filter_influence_z,
        },
        M.discover_and_match: {"max_qvalue": d.max_qvalue},
        M.load_motif_database: {
            "collection": d.jaspar_collection,
            "tax_group": d.jaspar_tax_group,
        },
        M.tf_activity: {
            "n_background": d.n_background,
            "insertion": d.insertion,
            "chromvar": d.chromvar,
            "chromvar_backgrounds": d.chromvar_backgrounds,
        },
        M.plot_logos: {"n": d.n_logos},
    }
    for fn, defaults in expected.items():
        params = inspect.signature(fn).parameters
        assert {k: params[k].default for k in defaults} == defaults, fn.__name__
