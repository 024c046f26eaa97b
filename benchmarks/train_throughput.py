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

    /tmp/bench/bin/python benchmarks/train_throughput.py            # 10k and 100k cells
    python benchmarks/train_throughput.py --sides ours --cells 10000  # ours only
    /tmp/bench/bin/python benchmarks/train_throughput.py --threads 0  # torch default threads

cells/s = training cells x epochs / wall time of the training call (``fit`` or
``model.train``), validation passes and per-epoch bookkeeping included.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

N_GENE_SETS = 16  # prior programs of the program VAE
N_DENOVO = 4  # + de novo units = 20 latent units on both sides
HIDDEN = 128
N_LAYERS = 2  # our encoder has two hidden layers; LinearSCVI gets n_layers=2
BATCH_SIZE = 128
LR = 1e-3
VAL_FRACTION = 0.1
DROPOUT = 0.1


def synthetic_counts(n_cells: int, n_genes: int, seed: int = 0, chunk: int = 10_000):
    """Poisson counts of 8 cell types, ~2,000 UMIs per cell, ~19% non-zero: CSR float32.

    Built in chunks of rows so the generator never holds a dense cells x genes array.
    """
    rng = np.random.default_rng(seed)
    base = rng.lognormal(-1.0, 2.5, size=n_genes)
    effect = rng.lognormal(0.0, 0.8, size=(8, n_genes))
    labels = rng.integers(8, size=n_cells)
    library = rng.lognormal(np.log(2000), 0.4, size=n_cells)
    blocks = []
    for s in range(0, n_cells, chunk):
        e = min(n_cells, s + chunk)
        p = base * effect[labels[s:e]]
        p /= p.sum(axis=1, keepdims=True)
        blocks.append(sp.csr_matrix(rng.poisson(library[s:e, None] * p).astype(np.float32)))
    return sp.vstack(blocks, format="csr")


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

    t0 = time.perf_counter()
    module, _, meta, train_ds, val_ds = prepare(
        adata,
        "program_vae",
        gene_sets=gene_sets(n_genes),
        val_fraction=VAL_FRACTION,
        seed=0,
        n_latent_denovo=N_DENOVO,
        model_kwargs={"hidden": HIDDEN, "dropout": DROPOUT},
    )
    setup_s = time.perf_counter() - t0
    assert module.n_latent == N_GENE_SETS + N_DENOVO, module.n_latent
    # torch.optim imports torch's compiler stack on the first optimizer (seconds of CPU,
    # once per process); scvi-tools imports it with itself. Imported above on our side
    # too, so that neither timing holds that one-off import.
    rss_before, peak_setup = _rss_kb("VmRSS"), _rss_kb("VmHWM")
    reset = _reset_peak()
    with tempfile.TemporaryDirectory() as outdir:
        t0, c0 = time.perf_counter(), time.process_time()
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
        train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
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
        "peak_kb": _rss_kb("VmHWM")
        if reset
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
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

    t0 = time.perf_counter()
    scvi.model.LinearSCVI.setup_anndata(adata)
    model = scvi.model.LinearSCVI(
        adata,
        n_hidden=HIDDEN,
        n_latent=N_GENE_SETS + N_DENOVO,
        n_layers=N_LAYERS,
        dropout_rate=DROPOUT,
    )
    setup_s = time.perf_counter() - t0
    n_train = int(round(counts.shape[0] * (1 - VAL_FRACTION)))
    rss_before, peak_setup = _rss_kb("VmRSS"), _rss_kb("VmHWM")
    reset = _reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
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
    train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
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
        "peak_kb": _rss_kb("VmHWM")
        if reset
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "peak_reset": reset,
    }


def _run_worker(python: str, side: str, path: str, epochs: int, threads: int | None) -> dict:
    cmd = [python, __file__, "--worker", side, "--data", path, "--epochs", str(epochs)]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} worker failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    p.add_argument("--worker", choices=["ours", "scvi"], help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        work = _worker_ours if args.worker == "ours" else _worker_scvi
        print(json.dumps(work(args.data, args.epochs[0])))
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
    rows = []
    for n_cells, n_epochs in zip(args.cells, epochs, strict=True):
        path = cache / f"counts_{n_cells}x{args.genes}.npz"
        if not path.exists():
            t0 = time.perf_counter()
            sp.save_npz(path, synthetic_counts(n_cells, args.genes), compressed=False)
            print(f"generated {path} in {time.perf_counter() - t0:.0f} s")
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


if __name__ == "__main__":
    main()
