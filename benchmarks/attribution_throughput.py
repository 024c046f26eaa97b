"""Attribution throughput of integrated gradients on the MLP classifier (issues 4, 32).

On synthetic log-normalized expression (20,000 cells x 2,000 genes, sparse), three things
are measured in one process, close in time so that the machine's load hits them alike:

1. ``scinterp.attribution.attribute(model, X, "integrated_gradients", "predicted")``, the
   whole call (targets, blocks of cells, convergence deltas included), as
   cells x genes x IG-steps per second;
2. the machine's own float32 GEMM rate: ``torch.matmul`` of the shapes IG's dominant
   layer runs (block x steps rows by genes, times genes x hidden, and the input-gradient
   product back), best of several tries before and after (1); IG's achieved FLOP/s (its
   counted forward + input-gradient FLOPs, below) as a fraction of that rate;
3. the naive way: one ``captum.attr.IntegratedGradients.attribute`` call per cell, on a
   subsample, extrapolated to all cells, as cells/s beside ours;
4. Captum's own batched call on the same model, cells, targets, baseline and steps:
   ``IntegratedGradients(model).attribute(X, ..., internal_batch_size=r)`` for each
   ``--captum-rows`` r (rows per forward/backward pass), its best time beside ours
   (alternating runs), and the largest difference of the values (relative to the
   largest attribution) and of the convergence deltas.

FLOPs per cell per IG step, for an MLP ``G -> H1 -> H2 -> C``: forward ``2 (G H1 + H1 H2 +
H2 C)``, backward to the input (Captum asks autograd for input gradients only, no weight
gradients) the same again: ``4 (G H1 + H1 H2 + H2 C)`` in all; LayerNorm, ReLU and the
interpolation are left out (not GEMM work, so they count against us).

Run::

    python -m benchmarks.attribution_throughput                # 20k cells, 32 steps
    python -m benchmarks.attribution_throughput --threads 0    # torch's default threads
    python -m benchmarks.attribution_throughput --cells 5000 --naive-cells 0  # quick

Rows (:func:`benchmarks.harness.row`, cells/s) go to ``<out>/results.json``: ours
(``integrated_gradients``), the peers (``captum_batched``, ``captum_per_cell_loop``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from benchmarks import harness
from benchmarks.harness import Measure, Stopwatch

OUT = harness.REPO / "benchmarks" / "out" / "attribution_throughput"


def synthetic_expression(n_cells: int, n_genes: int, n_types: int, seed: int = 0):
    """Log-normalized expression (CSR float32, ~19% non-zero) of
    :func:`benchmarks.train_throughput.synthetic_counts` and a cell type per cell."""
    from benchmarks.train_throughput import synthetic_counts

    counts, labels = synthetic_counts(n_cells, n_genes, seed, n_types=n_types, with_labels=True)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    x = sp.diags((1e4 / np.maximum(totals, 1)).astype(np.float32)) @ counts
    x.data = np.log1p(x.data)
    return x.astype(np.float32).tocsr(), labels


def train_classifier(X, labels, n_types: int, hidden, epochs: int):
    """A briefly trained MLPClassifier (so that "predicted" targets mean something)."""
    import tempfile

    from scinterp.data.cells import CellDataset, split_indices
    from scinterp.models import MLPClassifier
    from scinterp.train import fit

    torch.manual_seed(0)
    model = MLPClassifier(X.shape[1], n_types, hidden=hidden)
    ds = CellDataset(X, y=labels)
    tr, va = split_indices(X.shape[0], 0.1, seed=0, stratify=labels)
    with tempfile.TemporaryDirectory() as outdir:
        hist = fit(
            model,
            ds.subset(tr),
            ds.subset(va),
            outdir=outdir,
            max_epochs=epochs,
            batch_size=256,
            lr=1e-3,
            patience=epochs + 1,
            seed=0,
            device="cpu",
            progress=False,
        )
    return model.eval(), float(hist["val_accuracy"].iloc[-1])


def ig_flops_per_cell_step(model) -> int:
    """Forward + input-gradient GEMM FLOPs of one IG step for one cell."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    return sum(4 * m.in_features * m.out_features for m in linears)


def gemm_rate(rows: int, n_genes: int, hidden: int, tries: int = 3) -> tuple[float, float]:
    """Best float32 FLOP/s, by wall-clock and by process CPU time, of (rows x genes) @
    (genes x hidden) and the input-gradient product (rows x hidden) @ (hidden x genes)."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(rows, n_genes, generator=g)
    w = torch.randn(n_genes, hidden, generator=g)
    d = torch.randn(rows, hidden, generator=g)
    torch.matmul(a, w)  # warm up
    flops = 2 * rows * n_genes * hidden * 2
    best_wall = best_cpu = 0.0
    for _ in range(tries):
        sw = Stopwatch()
        for _ in range(4):
            torch.matmul(a, w)
            torch.matmul(d, w.T)
        wall, cpu = sw.wall(), sw.cpu()
        best_wall, best_cpu = max(best_wall, 4 * flops / wall), max(best_cpu, 4 * flops / cpu)
    return best_wall, best_cpu


def naive_per_cell(model, X, targets, n_steps: int, n_cells: int) -> tuple[float, float]:
    """cells/s (wall) and cells per CPU-s of one Captum IntegratedGradients.attribute
    call per cell."""
    from captum.attr import IntegratedGradients

    ig = IntegratedGradients(model)
    idx = np.arange(n_cells)
    dense = torch.as_tensor(X[idx].toarray())
    base = torch.zeros(1, X.shape[1])
    sw = Stopwatch()
    for i in idx:
        ig.attribute(dense[i : i + 1], baselines=base, target=int(targets[i]), n_steps=n_steps)
    return n_cells / sw.wall(), n_cells / sw.cpu()


def captum_batched(model, X, targets, n_steps: int, rows: int):
    """Captum's own batched call on every cell: values, deltas, wall and CPU seconds."""
    from captum.attr import IntegratedGradients

    dense = torch.as_tensor(X.toarray() if sp.issparse(X) else X)
    sw = Stopwatch()
    values, delta = IntegratedGradients(model).attribute(
        dense,
        baselines=torch.zeros(1, X.shape[1]),
        target=torch.as_tensor(targets),
        n_steps=n_steps,
        internal_batch_size=rows,
        return_convergence_delta=True,
    )
    wall, cpu = sw.wall(), sw.cpu()
    return values.numpy(), delta.numpy(), wall, cpu


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest case, seconds (tests/test_benchmarks_smoke.py)",
    )
    p.add_argument("--cells", type=int, default=20_000)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--types", type=int, default=8)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 128])
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=256, help="attribute(batch_size=...)")
    p.add_argument("--naive-cells", type=int, default=200)
    p.add_argument("--train-epochs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2, help="timed attribute() calls")
    p.add_argument(
        "--captum-rows",
        type=int,
        nargs="*",
        default=[2048, 8192],
        help="internal_batch_size of Captum's batched call (rows per pass); none: skip it",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (0: torch's default, one per core)"
    )
    p.add_argument("--out", type=Path, default=OUT, help="results.json goes here")
    args = p.parse_args(argv)
    if args.smoke:
        args.cells, args.genes, args.types, args.hidden, args.steps = 300, 50, 3, [16], 4
        args.naive_cells, args.repeats, args.captum_rows = 3, 1, [256]

    from scinterp.attribution import attribute, resolve_targets

    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    sw = Stopwatch()
    X, labels = synthetic_expression(args.cells, args.genes, args.types)
    model, acc = train_classifier(X, labels, args.types, tuple(args.hidden), args.train_epochs)
    print(
        f"data: {args.cells} cells x {args.genes} genes, {X.nnz / np.prod(X.shape):.0%} non-zero; "
        f"MLP {args.genes}-{'-'.join(map(str, args.hidden))}-{args.types}, val accuracy "
        f"{acc:.2f} ({sw.wall():.0f} s to make)"
    )

    flops_cell_step = ig_flops_per_cell_step(model)
    work = args.cells * args.genes * args.steps
    # Both the rows of one of our IG passes on this machine and batch_size x steps rows:
    # the reference is the better of the two.
    shapes = sorted(
        {min(args.batch_size * args.steps, (1 << 22) // args.genes), args.batch_size * args.steps}
    )
    gemm = [[gemm_rate(r, args.genes, args.hidden[0]) for r in shapes]]
    runs, captum_runs = [], []
    targets = resolve_targets(model, X, "predicted", torch.device("cpu"))
    for r in range(args.repeats):
        # Captum's batched call alternates with ours, so that load drifts hit both.
        for n in args.captum_rows if r % 2 == 1 else ():
            captum_runs.append((n, *captum_batched(model, X, targets, args.steps, n)))
        sw = Stopwatch()
        res = attribute(
            model,
            X,
            "integrated_gradients",
            "predicted",
            n_steps=args.steps,
            batch_size=args.batch_size,
            device="cpu",
            return_delta=True,
        )
        runs.append((sw.wall(), sw.cpu()))
        gemm.append([gemm_rate(r, args.genes, args.hidden[0]) for r in shapes])
        for n in args.captum_rows if r % 2 == 0 else ():
            captum_runs.append((n, *captum_batched(model, X, targets, args.steps, n)))
    ig_s, ig_cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    dataset = f"synthetic {args.cells:,} x {args.genes:,}"
    case = f"{args.steps} steps, {torch.get_num_threads()} thread(s)"

    def result(method, role, cells_per_s, wall, cpu):
        return harness.row(
            "attribution_throughput", case, dataset, method, "cells_per_s", cells_per_s,
            Measure(wall, cpu, harness.peak_rss_mb()), role=role,
        )  # fmt: skip

    rows = [result("integrated_gradients", "ours", args.cells / ig_s, ig_s, ig_cpu)]
    gemm_wall = max(g[0] for row in gemm for g in row)
    gemm_cpu = max(g[1] for row in gemm for g in row)
    flops = args.cells * args.steps * flops_cell_step
    rel_delta = np.abs(res.delta) / np.maximum(np.abs(res.output_gap), 1e-6)
    print(
        f"ours, attribute(integrated_gradients, n_steps={args.steps}, batch_size="
        f"{args.batch_size}): {ig_s:.1f} s wall, {ig_cpu:.1f} CPU-s (runs: "
        f"{', '.join(f'{w:.1f}/{c:.1f}' for w, c in runs)}) = {args.cells / ig_s:.0f} cells/s = "
        f"{work / ig_s / 1e6:.1f} M cell-gene-steps/s; median |delta|/|gap| "
        f"{np.median(rel_delta):.1e}"
    )
    print(
        f"GEMM float32 ({' and '.join(map(str, shapes))} x {args.genes} x {args.hidden[0]}, "
        f"forward and input-gradient products): best {gemm_wall / 1e9:.1f} GFLOP/s wall, "
        f"{gemm_cpu / 1e9:.1f} GFLOP per CPU-s"
    )
    print(
        f"IG achieved {flops / ig_s / 1e9:.1f} GFLOP/s wall = {flops / ig_s / gemm_wall:.0%} "
        f"of the GEMM rate; by CPU time {flops / ig_cpu / 1e9:.1f} GFLOP per CPU-s = "
        f"{flops / ig_cpu / gemm_cpu:.0%} ({flops_cell_step / 1e6:.2f} MFLOP per cell-step)"
    )
    if captum_runs:
        best = min(captum_runs, key=lambda c: c[3])
        n_rows, values, delta, c_wall, c_cpu = best
        rows.append(result("captum_batched", "peer", args.cells / c_wall, c_wall, c_cpu))
        scale = float(np.abs(values).max())
        diff = float(np.abs(res.values - values).max())
        print(
            f"Captum's batched IntegratedGradients.attribute on the same {args.cells} cells "
            f"(internal_batch_size {', '.join(map(str, args.captum_rows))}; best "
            f"{n_rows}): {c_wall:.1f} s wall, {c_cpu:.1f} CPU-s (runs: "
            f"{', '.join(f'{c[0]}: {c[3]:.1f}/{c[4]:.1f}' for c in captum_runs)}); ours is "
            f"{c_wall / ig_s:.2f}x faster by wall time, {min(c[4] for c in captum_runs) / ig_cpu:.2f}x "
            f"by CPU time; values: max |ours - Captum| = {diff:.1e} ({diff / scale:.1e} of "
            f"the largest attribution), deltas: max difference "
            f"{float(np.abs(res.delta - delta).max()):.1e}, Captum's median |delta|/|gap| "
            f"{np.median(np.abs(delta) / np.maximum(np.abs(res.output_gap), 1e-6)):.1e}"
        )
    if args.naive_cells:
        rate, rate_cpu = naive_per_cell(model, X, targets, args.steps, args.naive_cells)
        rows.append(result(  # extrapolated to all cells
            "captum_per_cell_loop", "peer", rate, args.cells / rate, args.cells / rate_cpu
        ))  # fmt: skip
        print(
            f"naive per-cell Captum loop ({args.naive_cells} cells, extrapolated to "
            f"{args.cells}): {rate:.0f} cells/s ({rate_cpu:.0f} per CPU-s), "
            f"{args.cells / rate:.0f} s; ours {args.cells / ig_s:.0f} cells/s "
            f"({args.cells / ig_cpu:.0f} per CPU-s) is {args.cells / ig_s / rate:.1f}x faster "
            f"({args.cells / ig_cpu / rate_cpu:.1f}x by CPU time)"
        )
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"rows: {harness.write_results(rows, args.out)}")
    return rows


if __name__ == "__main__":
    main()
