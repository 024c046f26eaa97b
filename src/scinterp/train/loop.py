"""One training loop for every model: device, seeds, mixed precision, early stopping,
per-epoch checkpoints and resume.

Any ``nn.Module`` with ``loss(batch: dict[str, Tensor]) -> dict[str, Tensor]`` (key
``"loss"`` plus components to log) trains here. Datasets are map-style; a dataset may
build whole minibatches itself with ``__getitems__`` (see :class:`scinterp.data.cells.CellDataset`),
otherwise per-item dicts are stacked with the default collate.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sys
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from scinterp.data.cells import collate_batch
from scinterp.device import resolve_device
from scinterp.io import atomic_path

__all__ = ["fit", "resolve_device", "seed_everything"]

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"
#: Seconds of training between two checkpoints (the first epoch's is always written): a
#: killed job loses at most this much. Every epoch was ~5% of a job on the demo (program
#: VAE: 238 checkpoints in 79 CPU-s).
CHECKPOINT_EVERY_S = 30.0
HISTORY = "history.tsv"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (code we call may use the legacy global RNG)
    torch.manual_seed(seed)


def _set_deterministic(mode: bool) -> None:
    """``torch.use_deterministic_algorithms(mode)`` without its import of torch._inductor.

    That function imports the compiler stack (dynamo, inductor, sympy: several CPU-seconds
    on first use) only to copy the flag into inductor's config. The loop runs eagerly, so
    set the ATen flag alone unless inductor is already loaded.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode)
    else:
        torch._C._set_deterministic_algorithms(mode)


def _batch_size_of(batch: dict[str, torch.Tensor]) -> int:
    return next(iter(batch.values())).shape[0]


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) for k, v in batch.items()}


def _loader(ds: Dataset, order, batch_size: int, num_workers: int, device: torch.device):
    return DataLoader(
        ds,
        batch_size=batch_size,
        sampler=order,
        collate_fn=collate_batch,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _save_checkpoint(path: Path, state: dict) -> None:
    """Write to a temporary file in the same directory, then rename: a job killed while
    writing leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _fingerprint(module: nn.Module, seed: int, batch_size: int, lr: float) -> dict:
    shapes = {k: list(v.shape) for k, v in module.state_dict().items()}
    return {
        "class": type(module).__qualname__,
        # the layers themselves (e.g. Sigmoid vs Tanh, which have no weights to tell them
        # apart): a checkpoint of other code starts over instead of being resumed
        "structure": repr(module),
        "shapes": shapes,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
    }


def _run_epoch(module, loader, device, optimizer, scaler, amp_dtype, train: bool):
    module.train(train)
    sums: dict[str, float] = defaultdict(float)
    n_total = 0
    autocast = (
        torch.autocast(device_type="cuda", dtype=amp_dtype)
        if amp_dtype is not None
        else nullcontext()
    )
    grad = torch.enable_grad() if train else torch.no_grad()
    with grad:
        for batch in loader:
            batch = _to(batch, device)
            n = _batch_size_of(batch)
            with autocast:
                out = module.loss(batch)
            loss = out["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{type(module).__name__}: loss is {loss.item()} "
                    f"({'training' if train else 'validation'}). "
                    "Fix: lower train.learning_rate, or check the input for NaN/inf values."
                )
            if train:
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            for k, v in out.items():
                sums[k] += float(v.detach()) * n
            n_total += n
    if n_total == 0:
        raise ValueError("empty dataset: no minibatch to train or validate on")
    return {k: v / n_total for k, v in sums.items()}


def fit(
    module: nn.Module,
    train_ds: Dataset,
    val_ds: Dataset | None,
    *,
    outdir: str | os.PathLike,
    max_epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    patience: int,
    seed: int,
    min_delta: float = 0.0,
    device: str | torch.device = "auto",
    num_workers: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``module`` with Adam, early stopping on validation loss; resume if interrupted.

    Every epoch writes ``outdir/history.tsv``, and the first epoch and then one every
    ``CHECKPOINT_EVERY_S`` seconds ``outdir/checkpoint.pt`` (model, optimizer, scaler,
    epoch, RNG states, best weights, history). If ``checkpoint.pt`` exists
    when ``fit`` is called (a killed job restarted with the same ``outdir``), training
    continues from it and ends in the same state as an uninterrupted run. On success the
    best weights are loaded into ``module`` and the checkpoint is removed; the caller saves
    the model (:func:`scinterp.models.registry.save_model`).

    Parameters
    ----------
    module
        Model with ``loss(batch) -> {"loss": ..., <components>}``.
    train_ds, val_ds
        Map-style datasets yielding dicts of tensors; ``val_ds`` may be None (then the
        training loss drives early stopping).
    outdir
        Directory for ``checkpoint.pt`` and ``history.tsv``.
    max_epochs, batch_size, lr, weight_decay, patience
        Optimization settings; stop after ``patience`` epochs without a better val loss.
    min_delta
        For patience, an epoch counts as better only when its validation loss undercuts
        the last such epoch's by more than ``min_delta`` times the progress made so far
        (the first epoch's loss minus that one), so that ever smaller gains on a
        converged model (a classifier's cross-entropy halving from 1e-4 to 5e-5) do not
        keep it training; 0: any decrease counts. Relative to the progress, it needs no
        knowledge of the loss's scale (a VAE's thousands per cell, a classifier's
        fractions of a nat). The weights of the lowest validation loss are restored
        either way.
    seed
        Seeds shuffling, initial RNG state (dropout, sampling); on CPU the run is
        deterministic (``torch.use_deterministic_algorithms``) given the seed.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``; on CUDA training uses mixed precision
        (bf16 where supported, else fp16 with gradient scaling).
    num_workers
        DataLoader worker processes.
    progress
        Show a tqdm bar (one step per epoch) on stderr.

    Returns
    -------
    pandas.DataFrame
        ``epoch, train_loss, val_loss, train_<component>..., val_<component>..., seconds``.
    """
    if max_epochs < 1 or batch_size < 1 or patience < 1:
        raise ValueError("max_epochs, batch_size and patience must be >= 1")
    if not 0 <= min_delta < 1:
        raise ValueError(f"min_delta must lie in [0, 1), got {min_delta}")
    dev = resolve_device(device)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    ckpt_path = outdir / CHECKPOINT

    prev_deterministic = torch.are_deterministic_algorithms_enabled()
    if dev.type == "cpu":
        _set_deterministic(True)
    try:
        return _fit(
            module,
            train_ds,
            val_ds,
            outdir=outdir,
            ckpt_path=ckpt_path,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            min_delta=min_delta,
            seed=seed,
            dev=dev,
            num_workers=num_workers,
            progress=progress,
        )
    finally:
        _set_deterministic(prev_deterministic)


@dataclass
class _Progress:
    """Where a training stands: what a checkpoint saves and a resumed run restores."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_val: float = math.inf  # the lowest loss: its weights are restored at the end
    ref_val: float = math.inf  # the last loss that improved by more than min_delta: patience
    best_state: dict | None = None
    bad_epochs: int = 0
    start_epoch: int = 0

    def record(self, row: dict[str, float], module: nn.Module, min_delta: float) -> None:
        """Add an epoch's row; keep the best weights; count epochs without progress."""
        self.history.append(row)
        monitor = _monitor(row)
        if monitor < self.best_val:
            self.best_val = monitor
            self.best_state = _cpu_state(module)
        if _improves(monitor, self.ref_val, _monitor(self.history[0]), min_delta):
            self.ref_val = monitor
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1

    def checkpoint(self, epoch, module, optimizer, scaler, fingerprint) -> dict:
        return {
            "fingerprint": fingerprint,
            "epoch": epoch,
            "model": _cpu_state(module),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": _rng_state(),
            "history": self.history,
            "best_val": self.best_val,
            "ref_val": self.ref_val,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
        }


def _adam(module: nn.Module, lr: float, weight_decay: float) -> torch.optim.Adam:
    # The fused kernel updates each parameter in one pass instead of about ten elementwise
    # ops; on small models the optimizer step is otherwise a sizeable part of a step.
    params = list(module.parameters())
    fused = bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params
    )
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def _resume(ckpt_path: Path, fingerprint: dict, module, optimizer, scaler, seed) -> _Progress:
    """The progress of a checkpoint of the same model and settings (its weights, optimizer
    and RNG states loaded), else a fresh start (the global generators seeded)."""
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ckpt.get("fingerprint") == fingerprint:
            module.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            _set_rng_state(ckpt["rng"])
            log.info("resuming from %s after epoch %d", ckpt_path, ckpt["epoch"])
            return _Progress(
                history=ckpt["history"],
                best_val=ckpt["best_val"],
                ref_val=ckpt.get("ref_val", ckpt["best_val"]),
                best_state=ckpt["best_state"],
                bad_epochs=ckpt["bad_epochs"],
                start_epoch=ckpt["epoch"] + 1,
            )
        log.warning("%s belongs to a different model or settings; starting from scratch", ckpt_path)
    seed_everything(seed)
    return _Progress()


@dataclass(frozen=True)
class _Steps:
    """What every epoch's steps use: device, optimizer, precision, batches."""

    dev: torch.device
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    batch_size: int
    num_workers: int
    seed: int

    def loader(self, ds: Dataset, order) -> DataLoader:
        return _loader(ds, order, self.batch_size, self.num_workers, self.dev)


def _epoch_row(epoch: int, module, train_ds, val_ds, steps: _Steps) -> dict[str, float]:
    """Train one epoch and validate: the history row (losses and their components)."""
    t0 = time.perf_counter()
    # The order depends only on (seed, epoch): a resumed run sees the same batches.
    order = np.random.default_rng([steps.seed, epoch]).permutation(len(train_ds)).tolist()
    train = _run_epoch(
        module,
        steps.loader(train_ds, order),
        steps.dev,
        steps.optimizer,
        steps.scaler,
        steps.amp_dtype,
        True,
    )
    if val_ds is not None and len(val_ds) > 0:
        val_loader = steps.loader(val_ds, list(range(len(val_ds))))
        val = _run_epoch(module, val_loader, steps.dev, None, None, steps.amp_dtype, False)
    else:
        val = {k: float("nan") for k in train}
    row = {"epoch": epoch + 1, "train_loss": train["loss"], "val_loss": val["loss"]}
    for k in train:
        if k != "loss":
            row[f"train_{k}"] = train[k]
            row[f"val_{k}"] = val[k]
    row["seconds"] = time.perf_counter() - t0
    return row


def _fit(
    module,
    train_ds,
    val_ds,
    *,
    outdir,
    ckpt_path,
    max_epochs,
    batch_size,
    lr,
    weight_decay,
    patience,
    min_delta,
    seed,
    dev,
    num_workers,
    progress,
):
    module.to(dev)
    amp_dtype = None
    if dev.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    optimizer = _adam(module, lr, weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    fingerprint = _fingerprint(module, seed, batch_size, lr)
    state = _resume(ckpt_path, fingerprint, module, optimizer, scaler, seed)
    steps = _Steps(dev, optimizer, scaler, amp_dtype, batch_size, num_workers, seed)
    stopped = state.bad_epochs >= patience
    saved_at = -math.inf
    bar = tqdm(
        total=max_epochs,
        initial=state.start_epoch,
        desc=type(module).__name__,
        unit="epoch",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        for epoch in range(state.start_epoch, max_epochs):
            if stopped:
                break
            row = _epoch_row(epoch, module, train_ds, val_ds, steps)
            state.record(row, module, min_delta)
            stopped = state.bad_epochs >= patience
            _write_history(state.history, outdir / HISTORY)
            if not stopped and time.monotonic() - saved_at >= CHECKPOINT_EVERY_S:
                _save_checkpoint(
                    ckpt_path, state.checkpoint(epoch, module, optimizer, scaler, fingerprint)
                )
                saved_at = time.monotonic()
            bar.set_postfix(
                train=f"{row['train_loss']:.4g}", val=f"{row['val_loss']:.4g}", refresh=False
            )
            bar.update(1)
            if stopped:
                log.info(
                    "early stop after epoch %d (best val loss %.4g)", epoch + 1, state.best_val
                )
    finally:
        bar.close()
    if not stopped:
        _warn_unconverged(module, state.history, max_epochs)
    if state.best_state is not None:
        module.load_state_dict(state.best_state)
    module.eval()
    frame = _write_history(state.history, outdir / HISTORY)
    ckpt_path.unlink(missing_ok=True)
    return frame


def _warn_unconverged(module, history, max_epochs) -> None:
    """Warn when a training that ran every epoch had its best one last."""
    if not history or len(history) < max_epochs:
        return
    best_epoch = min(history, key=lambda r: _monitor(r))["epoch"]
    if best_epoch == history[-1]["epoch"]:
        log.warning(
            "%s: the best validation loss came at the last epoch (%d of max_epochs %d): "
            "training had not converged; raise train.max_epochs (or its model's own key).",
            type(module).__name__,
            best_epoch,
            max_epochs,
        )


def _monitor(row) -> float:
    return row["val_loss"] if not math.isnan(row["val_loss"]) else row["train_loss"]


def _improves(monitor: float, ref: float, first: float, min_delta: float) -> bool:
    """Whether ``monitor`` beats ``ref`` by more than ``min_delta`` x the progress so
    far (``first - ref``; nothing to beat on the first epoch)."""
    if not math.isfinite(ref):
        return True
    return monitor < ref - min_delta * max(0.0, first - ref)


AUTO_CELL_PASSES = 2_000_000
"""Cell passes (epochs x training cells) that ``max_epochs: auto`` allows."""


def auto_max_epochs(n_train: int, *, cap: int = 400, passes: int = AUTO_CELL_PASSES) -> int:
    """Epochs for ``train.max_epochs: auto``: about ``passes`` cell passes (2M: 15,600
    minibatches of 128), at most ``cap`` and at least one epoch.

    Data sets of up to 5,000 training cells get the cap (400 epochs; early stopping
    usually ends training sooner), as under scvi-tools' rule (``20000 / n * 400``); above
    that the number of optimisation steps stays flat instead of growing with the cells
    (scvi-tools' rule gives 8M passes from 20k cells on, and the former floor of 20
    epochs 20M at 1M cells: 94 min per model on 2 cores), so an atlas of 1M cells trains
    2 epochs, as many steps as 100k cells train in 20. Every data set of the
    generalization benchmark (234 to 3,815 cells) trains as before.
    """
    return int(max(1, min(cap, round(passes / max(1, n_train)))))


def _write_history(history: list[dict[str, float]], path: Path) -> pd.DataFrame:
    frame = pd.DataFrame(history)
    if not frame.empty:
        cols = ["epoch", "train_loss", "val_loss"]
        cols += [c for c in frame.columns if c not in cols and c != "seconds"] + ["seconds"]
        frame = frame[cols]
        frame["epoch"] = frame["epoch"].astype(int)
    frame.to_csv(path, sep="\t", index=False)
    return frame
