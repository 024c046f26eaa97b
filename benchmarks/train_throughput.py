"""Training throughput and peak memory: our gene-program VAE vs scvi-tools' LDVAE (issue 3).

Both sides train on the same synthetic sparse counts (cells x 2,000 genes), with the same
latent size, encoder width and depth, minibatch size, learning rate, validation split and
number of epochs, on the CPU. Each (side, size) runs in its own subprocess so that peak
memory is measured per side: the process's resident-set high-water mark is reset after the
data are loaded (``/proc/self/clear_refs``), so "peak above input" is what training adds.

Ours goes the way the ``train_model`` rule goes: an AnnData with log-normalized ``X`` and
raw counts in ``layers["counts"]`` -> :func:`scinterp.train.prepare.prepare` ->
:func:`scinterp.train.fit`. The peer: ``scvi.model.LinearSCVI`` on the counts.

Run (scvi-tools lives in a separate venv, see benchmarks/README.md)::

    /tmp/bench/bin/python -m benchmarks.train_throughput            # 10k and 100k cells
    python -m benchmarks.train_throughput --sides ours --cells 10000  # ours only
    /tmp/bench/bin/python -m benchmarks.train_throughput --threads 0  # torch default threads

cells/s = training cells x epochs / wall time of the training call (``fit`` or
``model.train``), validation passes and per-epoch bookkeeping included.

``--quality`` (issue 32) measures time to quality instead: each side trains as a user
would run it (ours with the workflow's train defaults: max_epochs auto, early stopping
with patience and min_delta; LinearSCVI with its own defaults: max_epochs by its rule,
no early stopping, KL warm-up) on the same cells, with the same held-out validation
cells, and logs after every epoch the validation loss that scvi-tools reports as
``elbo_validation``: reconstruction NLL + KL (weight 1), per cell, z drawn from the
posterior on both sides. Printed: the peer's final value, the wall time at which ours
first reaches it, and the ratio to the peer's whole training time (target <= 0.5).
Both sides condition the negative binomial on the observed library size
(``use_observed_lib_size=True`` for the peer, as ours does).

    python -m benchmarks.train_throughput --quality --cells 2000
    python -m benchmarks.train_throughput --quality --data gp_programs_sparse

``--data`` picks the counts of ``--quality``: ``synthetic`` (default: Poisson counts of 8
types where every gene differs by type, 16 random 40-gene sets that explain nothing of
them), or a gamma-Poisson dataset of :mod:`benchmarks.datasets` whose structure is gene
programs (``gp_programs``, ``gp_programs_sparse``: planted programs, not made by
``scinterp.simulate``): all its cells and genes, raw counts, its GMT (true programs and
decoys) as the program VAE's gene sets, its donors as the batch covariate on both sides.
LinearSCVI gets as many latent units as the program VAE with its default de novo units
(gene sets + 4).

The throughput runs' rows (:func:`benchmarks.harness.row`, cells/s of each run: ours
``program_vae``, the peer ``scvi_linearscvi``) go to ``<out>/results.json``; ``--quality``
writes its rows to ``<out>/quality.json``: per dataset, metric ``wall_s``, the peer's whole
training time and ours' wall time to the peer's final validation -ELBO (``None`` where
never reached), with each side's -ELBO and epochs beside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from benchmarks import harness
from benchmarks.harness import REPO, Stopwatch, peak_rss_mb

OUT = REPO / "benchmarks" / "out" / "train_throughput"

N_GENE_SETS = 16  # prior programs of the program VAE
N_DENOVO = 4  # + de novo units = 20 latent units on both sides
HIDDEN = 128
N_LAYERS = 2  # our encoder has two hidden layers; LinearSCVI gets n_layers=2
BATCH_SIZE = 128
LR = 1e-3
VAL_FRACTION = 0.1
DROPOUT = 0.1


def synthetic_counts(
    n_cells: int, n_genes: int, seed: int = 0, chunk: int = 10_000, n_types: int = 8,
    with_labels: bool = False,
):  # fmt: skip
    """Poisson counts of ``n_types`` cell types, ~2,000 UMIs per cell, ~19% non-zero: CSR
    float32 (and each cell's type with ``with_labels``).

    Built in chunks of rows so the generator never holds a dense cells x genes array.
    """
    rng = np.random.default_rng(seed)
    base = rng.lognormal(-1.0, 2.5, size=n_genes)
    effect = rng.lognormal(0.0, 0.8, size=(n_types, n_genes))
    labels = rng.integers(n_types, size=n_cells)
    library = rng.lognormal(np.log(2000), 0.4, size=n_cells)
    blocks = []
    for s in range(0, n_cells, chunk):
        e = min(n_cells, s + chunk)
        p = base * effect[labels[s:e]]
        p /= p.sum(axis=1, keepdims=True)
        blocks.append(sp.csr_matrix(rng.poisson(library[s:e, None] * p).astype(np.float32)))
    counts = sp.vstack(blocks, format="csr")
    return (counts, labels) if with_labels else counts


PROGRAM_DATA = ("gp_programs", "gp_programs_sparse")  # benchmarks.datasets with a GMT


def program_counts(name: str, cache: Path) -> Path:
    """A program dataset of :mod:`benchmarks.datasets` as this script's inputs: its raw
    counts (every cell and gene, CSR float32) in ``<cache>/<name>.npz`` and beside them
    (``.meta.json``) the gene names, its GMT's sets (genes in the data) and each cell's
    donor. Built when missing."""
    import anndata as ad

    from benchmarks.datasets import dataset_config
    from scinterp.priors import read_gmt

    path = cache / f"{name}.npz"
    meta_path = Path(f"{path}.meta.json")
    if path.exists() and meta_path.exists():
        return path
    keys = dataset_config(name)["datasets"][name]
    a = ad.read_h5ad(keys["rna"])
    counts = sp.csr_matrix(a.X, dtype=np.float32)
    genes = [str(g) for g in a.var_names]
    meta = {
        "dataset": name,
        "genes": genes,
        "gene_sets": read_gmt(keys["gene_sets"], genes=genes),
        "batch": a.obs[keys["batch_key"]].astype(str).tolist() if keys.get("batch_key") else None,
    }
    sp.save_npz(path, counts, compressed=False)
    meta_path.write_text(json.dumps(meta))
    return path


def _meta(path: str) -> dict | None:
    """The ``.meta.json`` beside a program dataset's counts; None for synthetic counts."""
    p = Path(f"{path}.meta.json")
    return json.loads(p.read_text()) if p.exists() else None


def gene_sets(n_genes: int, seed: int = 0) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed + 1)
    return {
        f"program_{k}": [f"g{g}" for g in rng.choice(n_genes, size=40, replace=False)]
        for k in range(N_GENE_SETS)
    }


def _csr_bytes(m) -> int:
    return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _load(path: str):
    counts = sp.load_npz(path).tocsr().astype(np.float32)
    counts.sort_indices()
    return counts


def _worker_ours(path: str, epochs: int) -> dict:
    import anndata as ad
    import pandas as pd
    import torch._dynamo  # noqa: F401 (see below)

    from scinterp.train import fit
    from scinterp.train.prepare import prepare

    counts = _load(path)
    n_cells, n_genes = counts.shape
    # What the normalize step writes: log1p of counts scaled to 10,000 per cell.
    lib = np.asarray(counts.sum(axis=1)).ravel()
    X = sp.diags((1e4 / np.maximum(lib, 1)).astype(np.float32)) @ counts
    X.data = np.log1p(X.data)
    X = X.tocsr().astype(np.float32)
    var = pd.DataFrame(index=[f"g{g}" for g in range(n_genes)])
    var["highly_variable"] = True
    adata = ad.AnnData(X=X, var=var, layers={"counts": counts})
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    input_bytes = _csr_bytes(X) + _csr_bytes(counts)

    sw = Stopwatch()
    module, _, meta, train_ds, val_ds = prepare(
        adata,
        "program_vae",
        gene_sets=gene_sets(n_genes),
        val_fraction=VAL_FRACTION,
        seed=0,
        n_latent_denovo=N_DENOVO,
        model_kwargs={"hidden": HIDDEN, "dropout": DROPOUT},
    )
    setup_s = sw.wall()
    assert module.n_latent == N_GENE_SETS + N_DENOVO, module.n_latent
    # torch.optim imports torch's compiler stack on the first optimizer (seconds of CPU,
    # once per process); scvi-tools imports it with itself. Imported above on our side
    # too, so that neither timing holds that one-off import.
    rss_before, peak_setup = _rss_kb("VmRSS"), _rss_kb("VmHWM")
    reset = _reset_peak()
    with tempfile.TemporaryDirectory() as outdir:
        sw = Stopwatch()
        history = fit(
            module,
            train_ds,
            val_ds,
            outdir=outdir,
            max_epochs=epochs,
            batch_size=BATCH_SIZE,
            lr=LR,
            patience=epochs + 1,
            seed=0,
            device="cpu",
            progress=False,
        )
        train_s, cpu_s = sw.wall(), sw.cpu()
    return {
        "side": "ours (ProgramVAE, scinterp.train.fit)",
        "n_train": meta["n_train"],
        "setup_s": setup_s,
        "train_s": train_s,
        "cpu_s": cpu_s,
        "final_train_loss": float(history["train_loss"].iloc[-1]),
        "input_bytes": input_bytes,
        "rss_before_kb": rss_before,
        "peak_setup_kb": peak_setup,
        "peak_kb": _rss_kb("VmHWM") if reset else round(peak_rss_mb() * 1024),
        "peak_reset": reset,
    }


def _worker_scvi(path: str, epochs: int) -> dict:
    import logging

    import anndata as ad
    import scvi

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    scvi.settings.seed = 0
    scvi.settings.verbosity = logging.ERROR
    counts = _load(path)
    adata = ad.AnnData(X=counts)
    adata.obs_names = [f"c{i}" for i in range(counts.shape[0])]
    adata.var_names = [f"g{g}" for g in range(counts.shape[1])]
    input_bytes = _csr_bytes(counts)

    sw = Stopwatch()
    scvi.model.LinearSCVI.setup_anndata(adata)
    model = scvi.model.LinearSCVI(
        adata,
        n_hidden=HIDDEN,
        n_latent=N_GENE_SETS + N_DENOVO,
        n_layers=N_LAYERS,
        dropout_rate=DROPOUT,
    )
    setup_s = sw.wall()
    n_train = int(round(counts.shape[0] * (1 - VAL_FRACTION)))
    rss_before, peak_setup = _rss_kb("VmRSS"), _rss_kb("VmHWM")
    reset = _reset_peak()
    sw = Stopwatch()
    model.train(
        max_epochs=epochs,
        batch_size=BATCH_SIZE,
        train_size=1 - VAL_FRACTION,
        accelerator="cpu",
        devices=1,
        early_stopping=False,
        enable_progress_bar=False,
        check_val_every_n_epoch=1,  # a validation pass per epoch, as ours does
        plan_kwargs={"lr": LR},
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    train_s, cpu_s = sw.wall(), sw.cpu()
    loss = model.history.get("train_loss")
    return {
        "side": f"scvi-tools {scvi.__version__} (LinearSCVI)",
        "n_train": n_train,
        "setup_s": setup_s,
        "train_s": train_s,
        "cpu_s": cpu_s,
        "final_train_loss": float(loss.iloc[-1, 0]) if loss is not None else float("nan"),
        "input_bytes": input_bytes,
        "rss_before_kb": rss_before,
        "peak_setup_kb": peak_setup,
        "peak_kb": _rss_kb("VmHWM") if reset else round(peak_rss_mb() * 1024),
        "peak_reset": reset,
    }


def _train_defaults() -> dict:
    """The config's train section with the schema's defaults (what the workflow runs)."""
    from snakemake.utils import validate

    repo = Path(__file__).resolve().parents[1]
    config: dict = {"datasets": {"x": {"rna": "x.h5ad"}}}
    validate(config, str(repo / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config["train"]


def _quality_ours(path: str, epochs: int, model: str = "program_vae", overrides=None) -> dict:
    """Ours as the train_model rule runs it, its validation -ELBO (z drawn) per epoch."""
    import anndata as ad
    import pandas as pd
    import torch
    import torch._dynamo  # noqa: F401 (imported before timing, as in _worker_ours)

    import scinterp.train.loop as loop
    from scinterp.train.loop import auto_max_epochs, fit
    from scinterp.train.prepare import prepare
    from scinterp.train.settings import model_settings, settings_of

    overrides = dict(overrides or {})
    # "init.<key>": the module's init keyword over the spec's build (e.g. init.free_bits)
    init = {k[5:]: overrides.pop(k) for k in list(overrides) if k.startswith("init.")}
    train = {**_train_defaults(), **overrides}
    counts = _load(path)
    n_cells, n_genes = counts.shape
    data = _meta(path)
    lib = np.asarray(counts.sum(axis=1)).ravel()
    X = sp.diags((1e4 / np.maximum(lib, 1)).astype(np.float32)) @ counts
    X.data = np.log1p(X.data)
    var = pd.DataFrame(index=data["genes"] if data else [f"g{g}" for g in range(n_genes)])
    var["highly_variable"] = True
    adata = ad.AnnData(X=X.tocsr().astype(np.float32), var=var, layers={"counts": counts})
    adata.obs_names = [f"c{i}" for i in range(n_cells)]
    batch_key = None
    if data and data.get("batch"):
        adata.obs["batch"] = data["batch"]
        batch_key = "batch"
    # the workflow's settings (n_latent_denovo: 4, as N_DENOVO), --set's over them
    module, _, meta, train_ds, val_ds = prepare(
        adata,
        model,
        gene_sets=data["gene_sets"] if data else gene_sets(n_genes),
        batch_key=batch_key,
        val_fraction=VAL_FRACTION,
        seed=train["seed"],
        min_genes_per_set=train["min_genes_per_set"],
        **settings_of(model, train),
        model_kwargs={"hidden": HIDDEN, "dropout": DROPOUT, **init},
    )
    loss = type(module).loss

    def sampled_validation(self, batch):
        # validation with z drawn from the posterior, as scvi-tools validates: the top
        # module alone in training mode (its encoder's dropout stays off; no step counted
        # without gradients)
        if self.training:
            return loss(self, batch)
        self.training = True
        try:
            return loss(self, batch)
        finally:
            self.training = False

    # Early stopping watches the workflow's own validation loss (z at the posterior mean);
    # the sampled -ELBO that scvi-tools validates on is measured by a second validation
    # pass after each epoch, off the clock and with the RNG state restored, so ours trains
    # exactly as the train_model rule does.
    marks = []  # (wall, CPU) at the end of each validation pass, measurement excluded
    sampled = []  # that epoch's sampled validation -ELBO
    paused = [0.0, 0.0]
    run_epoch = loop._run_epoch

    def timed_epoch(*a, **kw):
        out = run_epoch(*a, **kw)
        if not a[-1]:  # train=False: the validation pass closes the epoch
            marks.append((sw.wall() - paused[0], sw.cpu() - paused[1]))
            w0, c0, rng = sw.wall(), sw.cpu(), torch.get_rng_state()
            module.loss = sampled_validation.__get__(module)
            try:
                s = run_epoch(*a, **kw)
            finally:
                del module.loss  # the class's own loss again
                torch.set_rng_state(rng)
            sampled.append(s["recon"] + s["kl"])
            paused[0] += sw.wall() - w0
            paused[1] += sw.cpu() - c0
        return out

    loop._run_epoch = timed_epoch
    # the loop's keys as the train_model rule reads them: a model's own setting of a shared
    # key (program_vae's learning_rate) replaces the train section's
    loop_keys = model_settings(model, train)
    max_epochs = epochs or auto_max_epochs(len(train_ds))
    with tempfile.TemporaryDirectory() as outdir:
        sw = Stopwatch()
        history = fit(
            module,
            train_ds,
            val_ds,
            outdir=outdir,
            max_epochs=max_epochs,
            batch_size=loop_keys["batch_size"],
            lr=loop_keys["learning_rate"],
            weight_decay=loop_keys["weight_decay"],
            patience=loop_keys["patience"],
            min_delta=loop_keys.get("min_delta", 0.0),
            seed=train["seed"],
            device="cpu",
            progress=False,
        )
        train_s, cpu_s = sw.wall() - paused[0], sw.cpu() - paused[1]
    marks = np.asarray(marks)
    names = [str(n) for n in adata.obs_names]
    pos = {n: i for i, n in enumerate(names)}
    val_idx = [pos[c] for c in meta["val_cells"]]
    return {
        "side": f"ours ({model}, train defaults{' + ' if overrides or init else ''}"
        f"{','.join(f'{k}={v}' for k, v in {**overrides, **init}.items())})",
        "train_s": train_s,
        "cpu_s": cpu_s,
        "epochs": len(history),
        "max_epochs": max_epochs,
        "clock": marks[:, 0].tolist(),
        "cpu_clock": marks[:, 1].tolist(),
        "elbo": sampled,
        "val_idx": val_idx,
        "n_latent": int(module.n_latent),
        # the peer's units: the gene sets used plus the default de novo units
        "n_sets": len(meta.get("gene_sets") or {}),
    }


def _quality_scvi(path: str, epochs: int, val_file: str, n_latent: int) -> dict:
    import logging

    import anndata as ad
    import lightning.pytorch as pl
    import scvi

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    scvi.settings.seed = 0
    scvi.settings.verbosity = logging.ERROR
    counts = _load(path)
    n = counts.shape[0]
    data = _meta(path)
    adata = ad.AnnData(X=counts)
    adata.obs_names = [f"c{i}" for i in range(n)]
    adata.var_names = data["genes"] if data else [f"g{g}" for g in range(counts.shape[1])]
    batch_key = None
    if data and data.get("batch"):
        adata.obs["batch"] = data["batch"]
        batch_key = "batch"  # the decoder's covariate, as ours
    val = np.asarray(json.loads(Path(val_file).read_text()), dtype=int)
    train = np.setdiff1d(np.arange(n), val)
    scvi.model.LinearSCVI.setup_anndata(adata, batch_key=batch_key)
    model = scvi.model.LinearSCVI(
        adata,
        n_hidden=HIDDEN,
        n_latent=n_latent,
        n_layers=N_LAYERS,
        dropout_rate=DROPOUT,
        use_observed_lib_size=True,
    )

    class Clock(pl.Callback):
        def __init__(self):
            self.times = []

        def on_validation_epoch_end(self, trainer, pl_module):
            if not trainer.sanity_checking:
                self.times.append((sw.wall(), sw.cpu()))

    clock = Clock()
    sw = Stopwatch()
    model.train(
        max_epochs=epochs or None,
        batch_size=BATCH_SIZE,
        accelerator="cpu",
        devices=1,
        datasplitter_kwargs={"external_indexing": [train, val, np.array([], dtype=int)]},
        enable_progress_bar=False,
        check_val_every_n_epoch=1,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[clock],
    )
    train_s, cpu_s = sw.wall(), sw.cpu()
    load = _load_average()
    elbo = model.history["elbo_validation"].iloc[:, 0].to_numpy()
    times = np.asarray(clock.times)
    k = min(len(elbo), len(times))
    return {
        "side": f"scvi-tools {scvi.__version__} (LinearSCVI, its defaults)",
        "train_s": train_s,
        "cpu_s": cpu_s,
        "epochs": int(len(elbo)),
        "max_epochs": int(model.history["elbo_validation"].index.max() + 1),
        "clock": times[-k:, 0].tolist(),
        "cpu_clock": times[-k:, 1].tolist(),
        "elbo": elbo[-k:].tolist(),
        "load": load,
        "n_latent": n_latent,
    }


def _quality(
    python: str, path: str, epochs: list[int], threads: int | None, model: str, overrides
) -> dict:
    """Time to the peer's final validation loss: one run per side, ours first. The peer's
    run is kept beside the data (``*.scvi.json``) and reused for the same cells, epochs,
    validation split and latent units. Returns both runs and ours' first epoch at or below
    the peer's final -ELBO (``reached``: None where never)."""
    cmd = [
        python,
        "-m",
        "benchmarks.train_throughput",
        "--counts",
        path,
        "--threads",
        str(threads or 0),
    ]
    extra = ["--model", model] + [f"--set={k}={v}" for k, v in overrides.items()]
    ours = _call(cmd + ["--worker", "quality_ours", "--epochs", str(epochs[0])] + extra)
    n_latent = ours["n_sets"] + N_DENOVO
    cached = Path(f"{path}.e{epochs[-1]}.t{threads or 0}.scvi.json")
    peer = json.loads(cached.read_text()) if cached.exists() else None
    if peer is None or peer.get("val_idx") != ours["val_idx"] or peer.get("n_latent") != n_latent:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(ours["val_idx"], fh)
        peer = _call(
            cmd
            + ["--worker", "quality_scvi", "--epochs", str(epochs[-1]), "--val", fh.name]
            + ["--n-latent", str(n_latent)]
        )
        os.unlink(fh.name)
        peer["val_idx"] = ours["val_idx"]
        cached.write_text(json.dumps(peer))
    else:
        print(f"(peer run reused from {cached}; its load then: {peer.get('load')})")
    ours["load"] = _load_average()
    target = peer["elbo"][-1]
    clock, elbo = np.asarray(ours["clock"]), np.asarray(ours["elbo"])
    reached = np.flatnonzero(elbo <= target)
    for r in (ours, peer):
        print(
            f"{r['side']:<48} | {r['n_latent']} units | {r['epochs']:>4} epochs (max "
            f"{r['max_epochs']}) | {r['train_s']:7.1f} s wall, {r['cpu_s']:7.1f} CPU-s | "
            f"validation -ELBO first {r['elbo'][0]:.1f}, best {min(r['elbo']):.1f}, final "
            f"{r['elbo'][-1]:.1f}",
            flush=True,
        )
    hit = None
    if reached.size:
        t, c = float(clock[reached[0]]), float(ours["cpu_clock"][reached[0]])
        hit = {"epoch": int(reached[0]) + 1, "wall_s": t, "cpu_s": c}
        print(
            f"ours reaches the peer's final validation -ELBO {target:.1f} at epoch "
            f"{reached[0] + 1}: {t:.1f} s wall = {t / peer['train_s']:.2f} of the peer's "
            f"{peer['train_s']:.1f} s, {c:.1f} CPU-s = {c / peer['cpu_s']:.2f} of the peer's "
            f"{peer['cpu_s']:.1f} (target <= 0.5); load {ours['load']}"
        )
    else:
        print(
            f"ours does not reach the peer's final validation -ELBO {target:.1f} (best "
            f"{elbo.min():.1f}); load {ours['load']}"
        )
    return {"ours": ours, "peer": peer, "reached": hit}


def quality_rows(res: dict, dataset: str, model: str, overrides: dict, threads) -> list[dict]:
    """One ``--quality`` run as the harness's rows (benchmark ``train_quality``, metric
    ``wall_s``, lower is better): the peer's whole training and ours' wall time to the
    peer's final validation -ELBO (``None`` where ours never reaches it); beside each,
    its -ELBO (final, best), epochs and whole training's wall and CPU seconds."""
    ours, peer, hit = res["ours"], res["peer"], res["reached"]
    case = f"time to LinearSCVI's final validation -ELBO, {threads or 'default'} thread(s)"
    method = model + "".join(f"+{k}={v}" for k, v in overrides.items())

    def common(r: dict) -> dict:
        return {
            "neg_elbo_final": r["elbo"][-1],
            "neg_elbo_best": min(r["elbo"]),
            "epochs": r["epochs"],
            "n_latent": r["n_latent"],
            "train_wall_s": r["train_s"],
            "train_cpu_s": r["cpu_s"],
        }

    target = peer["elbo"][-1]
    # the claim is the program VAE's at the workflow's defaults: the headline's
    # "ours"; ldvae and --set variants are rows without a role
    role = "ours" if model == "program_vae" and not overrides else None
    rows = [
        harness.row(
            "train_quality", case, dataset, "scvi_linearscvi", "wall_s", peer["train_s"],
            harness.Measure(peer["train_s"], peer["cpu_s"], None),
            load=float(str(peer.get("load", "nan")).split()[0]), role="peer", **common(peer),
        ),
        harness.row(
            "train_quality", case, dataset, method, "wall_s", hit and hit["wall_s"],
            harness.Measure(hit["wall_s"], hit["cpu_s"], None) if hit else None,
            load=float(ours["load"].split()[0]), role=role, **common(ours),
            target_neg_elbo=target, reached_epoch=hit and hit["epoch"],
            wall_ratio=hit and hit["wall_s"] / peer["train_s"],
            cpu_ratio=hit and hit["cpu_s"] / peer["cpu_s"],
        ),
    ]  # fmt: skip
    return rows


def merge_rows(rows: list[dict], path: Path) -> Path:
    """``rows`` into the results file at ``path``: rows of the same benchmark, case,
    dataset and method that it held before are replaced, the others kept (one file
    gathers the runs of several invocations: models, datasets, --set variants)."""
    key = lambda r: (r["benchmark"], r["case"], r["dataset"], r["method"])  # noqa: E731
    new = {key(r) for r in rows}
    old = harness.read_results(path) if path.exists() else []
    return harness.write_results([r for r in old if key(r) not in new] + rows, path)


def _overrides(items: list[str]) -> dict:
    import yaml

    return {k: yaml.safe_load(v) for k, _, v in (i.partition("=") for i in items)}


def _call(cmd: list[str]) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[3:6]} worker failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run_worker(python: str, side: str, path: str, epochs: int, threads: int | None) -> dict:
    cmd = [python, "-m", "benchmarks.train_throughput", "--worker", side, "--counts", path]
    cmd += ["--epochs", str(epochs)]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} worker failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> list[dict] | None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case, seconds (tests/test_benchmarks_smoke.py)",
    )
    p.add_argument("--cells", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        default=None,
        help="epochs per size (default: 2 at <= 20k cells, else 1)",
    )
    p.add_argument("--sides", nargs="+", default=["ours", "scvi"], choices=["ours", "scvi"])
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads on both sides (0: torch's default, one per core)",
    )
    p.add_argument("--repeats", type=int, default=1, help="interleaved runs per side and size")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "scinterp-bench"))
    p.add_argument(
        "--quality",
        action="store_true",
        help="time to the peer's final validation loss (--epochs: ours' max, the peer's; "
        "0: each side's own default)",
    )
    p.add_argument(
        "--worker",
        choices=["ours", "scvi", "quality_ours", "quality_scvi"],
        help=argparse.SUPPRESS,
    )
    p.add_argument("--model", nargs="+", default=["program_vae"], help="--quality: ours' model(s)")
    p.add_argument(
        "--data",
        nargs="+",
        default=["synthetic"],
        choices=["synthetic", *PROGRAM_DATA],
        help="--quality: the counts (synthetic: --cells of Poisson counts, 16 random gene "
        "sets; gp_*: benchmarks.datasets' gene-program data and its GMT)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        help="--quality: train key=value over the workflow's defaults (e.g. kl_weight=1); "
        "init.<key>=value: the model's init keyword (e.g. init.free_bits=0.25)",
    )
    p.add_argument("--counts", help=argparse.SUPPRESS)
    p.add_argument("--val", help=argparse.SUPPRESS)
    p.add_argument("--n-latent", type=int, help=argparse.SUPPRESS)
    p.add_argument(
        "--out", type=Path, default=OUT, help="results.json (--quality: quality.json) goes here"
    )
    args = p.parse_args(argv)
    if args.smoke:  # ours only: the peer (scvi-tools) is a benchmark-only extra
        args.cells, args.genes, args.epochs, args.sides = [300], 50, [1], ["ours"]

    if args.worker:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        if args.worker == "quality_scvi":
            res = _quality_scvi(args.counts, args.epochs[0], args.val, args.n_latent)
            print(json.dumps(res))
            return
        if args.worker == "quality_ours":
            res = _quality_ours(args.counts, args.epochs[0], args.model[0], _overrides(args.set))
            print(json.dumps(res))
            return
        work = {"ours": _worker_ours, "scvi": _worker_scvi}
        print(json.dumps(work[args.worker](args.counts, args.epochs[0])))
        return

    sides = list(args.sides)
    if "scvi" in sides:
        try:
            import scvi  # noqa: F401
        except ImportError:
            print("scvi-tools is not importable here: peer skipped (see benchmarks/README.md)")
            sides.remove("scvi")
    epochs = args.epochs or [2 if n <= 20_000 else 1 for n in args.cells]
    if len(epochs) == 1:
        epochs = epochs * len(args.cells)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    threads = args.threads or "default"
    print(
        f"machine: {os.cpu_count()} cores, torch threads {threads}; load average {_load_average()}"
    )
    if args.quality:
        overrides = _overrides(args.set)
        cases = []  # (path, the rows' dataset)
        for data in args.data:
            if data in PROGRAM_DATA:
                path = program_counts(data, cache)
                m, n = sp.load_npz(path).shape
                cases.append((path, f"{data} ({m:,} x {n:,}, its GMT)"))
                continue
            for n_cells in args.cells:
                path = cache / f"counts_{n_cells}x{args.genes}.npz"
                if not path.exists():
                    sp.save_npz(path, synthetic_counts(n_cells, args.genes), compressed=False)
                cases.append(
                    (path, f"synthetic Poisson, 8 types ({n_cells:,} x {args.genes:,}, "
                     f"{N_GENE_SETS} random sets)")
                )  # fmt: skip
        rows = []
        for path, dataset in cases:
            for model in args.model:
                print(f"{dataset}: {model} ({path})", flush=True)
                res = _quality(
                    sys.executable, str(path), args.epochs or [0], args.threads, model, overrides
                )
                rows += quality_rows(res, dataset, model, overrides, args.threads)
        # the peer's row once per dataset (each model's run reuses the one peer run)
        rows = list({(r["dataset"], r["method"]): r for r in rows}.values())
        print(f"rows: {merge_rows(rows, args.out / 'quality.json')}")
        return rows
    rows = []
    for n_cells, n_epochs in zip(args.cells, epochs, strict=True):
        path = cache / f"counts_{n_cells}x{args.genes}.npz"
        if not path.exists():
            sw = Stopwatch()
            sp.save_npz(path, synthetic_counts(n_cells, args.genes), compressed=False)
            print(f"generated {path} in {sw.wall():.0f} s")
        for r in range(args.repeats):
            # Alternate who goes first so slow drifts in machine load hit both sides.
            order = sides if r % 2 == 0 else sides[::-1]
            for side in order:
                res = _run_worker(sys.executable, side, str(path), n_epochs, args.threads)
                res.update(cells=n_cells, epochs=n_epochs, load=_load_average())
                res["cells_per_s"] = res["n_train"] * n_epochs / res["train_s"]
                res["cells_per_cpu_s"] = res["n_train"] * n_epochs / res["cpu_s"]
                res["peak_above_input_mb"] = (res["peak_kb"] * 1024 - res["input_bytes"]) / 1e6
                res["peak_added_mb"] = (res["peak_kb"] - res["rss_before_kb"]) / 1024
                rows.append(res)
                print(
                    f"{n_cells:>7} cells x {args.genes} genes, {n_epochs} epoch(s) | "
                    f"{res['side']:<38} | {res['cells_per_s']:>7.0f} cells/s "
                    f"({res['cells_per_cpu_s']:.0f} per CPU-s) | "
                    f"train {res['train_s']:6.1f} s (setup {res['setup_s']:.1f} s) | "
                    f"peak RSS {res['peak_kb'] / 1024:6.0f} MB, input {res['input_bytes'] / 1e6:.0f} MB, "
                    f"added by training {res['peak_added_mb']:.0f} MB, process peak incl. "
                    f"loading {max(res['peak_kb'], res['peak_setup_kb']) / 1024:.0f} MB | "
                    f"loss {res['final_train_loss']:.1f} | load {res['load']}",
                    flush=True,
                )
    print("\nsummary (median over repeats)")
    for n_cells in args.cells:
        med = {}
        for side in sides:
            sel = [
                r
                for r in rows
                if r["cells"] == n_cells
                and r["side"].startswith("ours" if side == "ours" else "scvi")
            ]
            if sel:
                med[side] = (
                    float(np.median([r["cells_per_s"] for r in sel])),
                    float(np.median([r["peak_kb"] for r in sel])) / 1024,
                    float(np.median([r["peak_added_mb"] for r in sel])),
                    float(np.median([r["cells_per_cpu_s"] for r in sel])),
                )
        line = f"{n_cells:>7} cells: " + "; ".join(
            f"{s} {v[0]:.0f} cells/s ({v[3]:.0f} per CPU-s), peak {v[1]:.0f} MB "
            f"(+{v[2]:.0f} MB in training)"
            for s, v in med.items()
        )
        if "ours" in med and "scvi" in med:
            line += (
                f"; speed-up {med['ours'][0] / med['scvi'][0]:.2f}x wall, "
                f"{med['ours'][3] / med['scvi'][3]:.2f}x CPU"
            )
        print(line)
    results = [result_row(r, args.genes, args.threads) for r in rows]
    print(f"rows: {harness.write_results(results, args.out)}")
    return results


def result_row(run: dict, n_genes: int, threads: int) -> dict:
    """One worker's run as the harness's row: cells/s of training, its wall and CPU
    seconds and its process's peak RSS."""
    ours = run["side"].startswith("ours")
    return harness.row(
        "train_throughput", f"{threads or 'default'} thread(s)",
        f"{run['cells']:,} x {n_genes:,}, {run['epochs']} epoch(s)",
        "program_vae" if ours else "scvi_linearscvi", "cells_per_s", run["cells_per_s"],
        harness.Measure(run["train_s"], run["cpu_s"], run["peak_kb"] / 1024),
        load=float(run["load"].split()[0]), role="ours" if ours else "peer",
    )  # fmt: skip


if __name__ == "__main__":
    main()
