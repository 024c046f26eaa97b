"""The training loop: determinism, resume after a kill, early stopping, devices."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import scinterp.train.loop as loop
from scinterp.models import ProgramVAE
from scinterp.train.loop import fit, resolve_device

SETTINGS = dict(max_epochs=6, batch_size=32, lr=1e-2, patience=10, progress=False)


def _vae(mask, init_seed=0):
    torch.manual_seed(init_seed)
    return ProgramVAE(mask.shape[0], mask, n_denovo=2, hidden=16, dropout=0.2)


def _same_history(a: pd.DataFrame, b: pd.DataFrame):
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def _same_weights(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_same_seed_same_run(vae_data, tmp_path):
    train, val, mask = vae_data
    m1, m2, m3 = _vae(mask), _vae(mask), _vae(mask)
    h1 = fit(m1, train, val, outdir=tmp_path / "a", seed=3, device="cpu", **SETTINGS)
    h2 = fit(m2, train, val, outdir=tmp_path / "b", seed=3, device="cpu", **SETTINGS)
    _same_history(h1, h2)
    _same_weights(m1, m2)
    h3 = fit(m3, train, val, outdir=tmp_path / "c", seed=4, device="cpu", **SETTINGS)
    assert not h3["train_loss"].equals(h1["train_loss"])

    assert list(h1.columns[:3]) == ["epoch", "train_loss", "val_loss"]
    assert h1.columns[-1] == "seconds" and "train_kl" in h1.columns
    on_disk = pd.read_csv(tmp_path / "a" / "history.tsv", sep="\t")
    assert list(on_disk.columns) == list(h1.columns) and len(on_disk) == 6
    assert not (tmp_path / "a" / "checkpoint.pt").exists()  # removed after success
    assert not torch.are_deterministic_algorithms_enabled()  # global flag restored


def test_resume_after_kill_equals_uninterrupted(vae_data, tmp_path, monkeypatch):
    train, val, mask = vae_data
    full = _vae(mask)
    h_full = fit(full, train, val, outdir=tmp_path / "full", seed=0, **SETTINGS)

    real_save = loop._save_checkpoint
    monkeypatch.setattr(loop, "CHECKPOINT_EVERY_S", 0.0)  # a checkpoint every epoch

    def save_then_die(path, state):
        real_save(path, state)
        if state["epoch"] == 2:  # the job is killed after its 3rd epoch's checkpoint
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(loop, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(_vae(mask), train, val, outdir=tmp_path / "run", seed=0, **SETTINGS)
    monkeypatch.setattr(loop, "_save_checkpoint", real_save)
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    assert len(pd.read_csv(tmp_path / "run" / "history.tsv", sep="\t")) == 3

    # Restart: a fresh process would build the model again (here with other weights, to
    # show that everything comes from the checkpoint), then fit the same outdir.
    resumed = _vae(mask, init_seed=99)
    h_resumed = fit(resumed, train, val, outdir=tmp_path / "run", seed=0, **SETTINGS)
    _same_history(h_full, h_resumed)
    _same_weights(full, resumed)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_checkpoints_are_written_every_30_seconds_not_every_epoch(vae_data, tmp_path, monkeypatch):
    # each checkpoint is a serialization of the model, the optimizer and the best weights:
    # a fast training writes the first epoch's only, then one every CHECKPOINT_EVERY_S
    train, val, mask = vae_data
    saved = []
    real_save = loop._save_checkpoint
    monkeypatch.setattr(loop, "_save_checkpoint", lambda p, st: saved.append(st["epoch"]))
    h = fit(_vae(mask), train, val, outdir=tmp_path / "a", seed=0, **SETTINGS)
    assert len(h) > 1 and saved == [0]
    clock = iter(range(0, 10_000, 20))  # 20 s an epoch: every second epoch
    monkeypatch.setattr(loop.time, "monotonic", lambda: float(next(clock)))
    saved.clear()
    fit(_vae(mask), train, val, outdir=tmp_path / "b", seed=0, **SETTINGS)
    assert saved[:3] == [0, 2, 4]
    monkeypatch.setattr(loop, "_save_checkpoint", real_save)


def test_checkpoint_of_other_layers_is_not_resumed(vae_data, tmp_path, monkeypatch, caplog):
    """Same weight shapes, other layers (an activation swapped in the code): start over."""
    train, val, mask = vae_data
    real_save = loop._save_checkpoint

    def save_then_die(path, state):
        real_save(path, state)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(loop, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fit(_vae(mask), train, val, outdir=tmp_path / "run", seed=0, **SETTINGS)
    monkeypatch.setattr(loop, "_save_checkpoint", real_save)
    other = _vae(mask)
    swapped = [n for n, m in other.named_modules() if isinstance(m, nn.ReLU | nn.Tanh)]
    assert swapped
    parent, _, leaf = swapped[0].rpartition(".")
    setattr(other.get_submodule(parent) if parent else other, leaf, nn.SiLU())
    with caplog.at_level("WARNING", logger="scinterp.train.loop"):
        h = fit(other, train, val, outdir=tmp_path / "run", seed=0, **SETTINGS)
    assert "starting from scratch" in caplog.text
    assert len(h) == SETTINGS["max_epochs"]


class _Pairs(Dataset):
    """Per-item dicts (no __getitems__): exercises the default collate path."""

    def __init__(self, slope: float, n: int = 64):
        self.x = torch.linspace(-1, 1, n).unsqueeze(1)
        self.y = slope * self.x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


class _Line(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, 1))

    def forward(self, x):
        return x @ self.w

    def loss(self, batch):
        return {"loss": (self(batch["x"]) - batch["y"]).pow(2).mean()}


def test_early_stopping_keeps_best_weights(tmp_path):
    # Training pulls w towards +1, validation wants -1: validation gets worse every epoch.
    model = _Line()
    hist = fit(
        model,
        _Pairs(1.0),
        _Pairs(-1.0),
        outdir=tmp_path,
        max_epochs=50,
        batch_size=16,
        lr=0.05,
        patience=3,
        seed=0,
        progress=False,
    )
    assert len(hist) == 4  # best at epoch 1, then 3 epochs without improvement
    assert hist["val_loss"].idxmin() == 0
    with torch.no_grad():
        val = _Pairs(-1.0)
        restored = model.loss({"x": val.x, "y": val.y})["loss"].item()
    assert restored == pytest.approx(hist["val_loss"].iloc[0], rel=1e-5)


def test_non_finite_loss_is_reported(tmp_path):
    model = _Line()
    with pytest.raises(FloatingPointError, match="learning_rate"):
        fit(
            model,
            _Pairs(float("nan")),
            None,
            outdir=tmp_path,
            max_epochs=2,
            batch_size=16,
            lr=0.1,
            patience=2,
            seed=0,
            progress=False,
        )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="CUDA is not available.*Fix"):
        resolve_device("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        fit(
            _Line(),
            _Pairs(1.0),
            None,
            outdir=tmp_path,
            max_epochs=1,
            batch_size=8,
            lr=0.1,
            patience=1,
            seed=0,
            device="cuda",
            progress=False,
        )


def test_auto_max_epochs_bounds_the_steps_not_the_small_data():
    from scinterp.train.loop import AUTO_CELL_PASSES, auto_max_epochs

    # small data sets keep the cap (the generalization benchmark's 234-3,815 cells)
    assert auto_max_epochs(234) == auto_max_epochs(3815) == 400
    # above 5,000 cells the cell passes stay flat instead of growing with the cells
    for n in (100_000, 300_000, 1_000_000):
        assert abs(auto_max_epochs(n) * n - AUTO_CELL_PASSES) <= n / 2
    assert auto_max_epochs(1_000_000) == 2
    assert auto_max_epochs(10_000_000) == 1


def test_auto_epochs_follow_the_models_own_pass_budget():
    from scinterp.models.registry import model_spec
    from scinterp.train.loop import auto_max_epochs

    passes = model_spec("grn_sem").auto_passes
    assert passes is not None and model_spec("mlp_classifier").auto_passes is None
    assert auto_max_epochs(18_000, passes=passes) == 28  # train.grn_max_cells' sample
    assert auto_max_epochs(18_000) == 111


class _Creep(nn.Module):
    """loss = exp(-w): Adam raises w by about lr a step, so the loss falls every epoch by
    the same factor, for ever ever smaller amounts (validation agrees with training)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def loss(self, batch):
        return {"loss": torch.exp(-self.w) * batch["x"].pow(2).mean()}


def test_min_delta_stops_a_model_that_only_creeps_and_restores_the_lowest(tmp_path):
    # Any decrease counting, the run goes to max_epochs; with min_delta it stops once the
    # gains are a small fraction of the progress made, and the weights of the lowest
    # validation loss come back.
    settings = dict(batch_size=16, lr=0.05, patience=3, seed=0, progress=False)
    creep = fit(
        _Creep(), _Pairs(1.0), _Pairs(1.0), outdir=tmp_path / "a", max_epochs=40, **settings
    )
    assert len(creep) == 40 and creep["val_loss"].is_monotonic_decreasing

    model = _Creep()
    hist = fit(
        model,
        _Pairs(1.0),
        _Pairs(1.0),
        outdir=tmp_path / "b",
        max_epochs=40,
        min_delta=0.01,
        **settings,
    )
    assert 5 < len(hist) < 40
    # the gains of the last `patience` epochs add up to less than 1% of the progress made
    first, ref = hist["val_loss"].iloc[0], hist["val_loss"].iloc[-4]
    assert ref - hist["val_loss"].iloc[-1] <= 0.01 * (first - ref)
    with torch.no_grad():
        val = _Pairs(1.0)
        restored = model.loss({"x": val.x})["loss"].item()
    # the lowest loss is the last epoch's (still falling), past the last counted gain
    assert restored == pytest.approx(hist["val_loss"].iloc[-1], rel=1e-5)
    assert restored < hist["val_loss"].iloc[-4]
    with pytest.raises(ValueError, match="min_delta"):
        fit(
            _Creep(),
            _Pairs(1.0),
            None,
            outdir=tmp_path / "c",
            max_epochs=2,
            min_delta=1.0,
            **settings,
        )
