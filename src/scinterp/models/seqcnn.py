"""Sequence CNN (scBasset-like): peak DNA -> accessibility of that peak in every cell.

one-hot (batch, 4, L) -> motif-detector convolution -> (optional conv tower) ->
global pool over positions -> bottleneck vector (batch, bottleneck) -> one linear unit
per cell -> logits (batch, n_cells). The per-cell weights are cell embeddings; the
first-layer filters are motif detectors.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scinterp.models.registry import ModelSpec, Setting, register_model

__all__ = ["SeqCNN"]


class Exp(nn.Module):
    """Exponential activation (Koo & Ploenzke 2021): sharper, more motif-like filters."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.exp(x.clamp(max=10.0))


_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "softplus": nn.Softplus, "exp": Exp}


def _conv_block(c_in: int, c_out: int, width: int, pool: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv1d(c_in, c_out, width, padding=width // 2, bias=False),
        nn.BatchNorm1d(c_out),
        _ACTIVATIONS[activation](),  # a fresh module per use: Captum's DeepLift hooks need that
    ]
    if pool > 1:
        layers.append(nn.MaxPool1d(pool))
    return nn.Sequential(*layers)


class SeqCNN(nn.Module):
    """scBasset-like CNN predicting a peak's accessibility in each cell from its sequence.

    Parameters
    ----------
    n_cells
        Cells to predict (outputs).
    seq_len
        Input sequence length (the peak width).
    n_filters
        First-layer filters (motif detectors).
    filter_width
        First-layer filter width in bp (odd; long enough for most TF motifs).
    first_pool
        Max-pool size after the first layer.
    n_tower
        Convolution blocks after the first layer, each followed by max-pool 2. The
        default 0 feeds the pooled motif detectors straight to the global pool: with the
        exponential first activation and the mean, each filter's output is then a soft
        count of its motif in the peak, and the bottleneck combines the counts. Every
        filter has to be a whole motif (Koo & Eddy 2019: what sits between the filters
        and the output decides how much of a motif one filter learns). On the demo this
        learned all six planted motifs in three of three seeds, including the weakest
        (TBX21); with one tower block it learned TBX21 in one run of more than ten.
    tower_filters
        Filters per tower block.
    tower_width
        Filter width of the tower blocks.
    bottleneck
        Size of the peak embedding; also the size of each cell embedding.
    dropout
        Dropout on the bottleneck.
    both_strands
        Average the logits of the sequence and its reverse complement (the prediction
        is then strand-symmetric).
    train_both_strands
        With ``both_strands``, also run both strands in training steps (:meth:`loss` in
        train mode). Off by default: a training step reads each sequence on one strand
        and the data's random reverse complement (``PeakDataset(rc_augment=True)``)
        teaches the other, as scBasset/Basenji train; half the compute per step.
        Evaluation (validation loss, predictions, attributions) always averages both.
    activation
        ``"gelu"`` (scBasset) or ``"relu"`` (what Captum's DeepLift rescale rule supports;
        with GELU DeepLift falls back to gradients through the activations); also
        ``"softplus"`` or ``"exp"``. Used after the tower and bottleneck layers.
    first_activation
        Activation of the first (motif-detector) layer; None: ``activation``. The default
        ``"exp"`` (exponential, Koo & Ploenzke 2021) makes filters fire on whole motifs
        rather than parts of them and is what lets the model learn from a few thousand
        peaks (with ReLU/GELU there it learned far slower on the simulated demo).
    pool
        How the tower output becomes a vector: ``"mean"`` (global average over
        positions), ``"max"`` (global max) or ``"flatten"`` (scBasset's; keeps positions,
        needs many more peaks). Both global pools are position-invariant and learn from a
        few thousand peaks. The mean passes a gradient to every position, the max only to
        the winning one. So with the mean, a filter that only partly matches a rarer
        motif is still pulled toward it. On the demo the mean learned the erythroid NFE2
        motif in every run, the max in one of five. Captum's DeepLift rule for max-pools
        is approximate (its convergence delta is not ~0 with any max-pool here); the mean
        is linear and integrated gradients has no such gap.
    """

    def __init__(
        self,
        n_cells: int,
        seq_len: int,
        n_filters: int = 64,
        filter_width: int = 17,
        first_pool: int = 3,
        n_tower: int = 0,
        tower_filters: int = 32,
        tower_width: int = 5,
        bottleneck: int = 32,
        dropout: float = 0.2,
        both_strands: bool = True,
        train_both_strands: bool = False,
        activation: str = "gelu",
        pool: str = "mean",
        first_activation: str | None = "exp",
    ):
        super().__init__()
        first_activation = activation if first_activation is None else first_activation
        for act in (activation, first_activation):
            if act not in _ACTIVATIONS:
                raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {act!r}")
        if filter_width % 2 == 0 or tower_width % 2 == 0:
            raise ValueError("filter widths must be odd (centred 'same' padding)")
        self.n_cells = int(n_cells)
        self.seq_len = int(seq_len)
        self.both_strands = bool(both_strands)
        self.train_both_strands = bool(train_both_strands)
        blocks = [_conv_block(4, n_filters, filter_width, first_pool, first_activation)]
        length, channels = self.seq_len // first_pool, n_filters
        for _ in range(n_tower):
            if length < 2:
                break  # sequence too short for more pooling
            blocks.append(_conv_block(channels, tower_filters, tower_width, 2, activation))
            length, channels = length // 2, tower_filters
        if length < 1:
            raise ValueError(f"seq_len={seq_len} is too short for first_pool={first_pool}")
        if pool == "max":
            # MaxPool1d over the whole length, not AdaptiveMaxPool1d: DeepLift has a rule for it
            blocks.append(nn.MaxPool1d(length))
            length = 1
        elif pool == "mean":
            blocks.append(nn.AvgPool1d(length))
            length = 1
        elif pool != "flatten":
            raise ValueError(f"pool must be 'max', 'mean' or 'flatten', got {pool!r}")
        self.conv = nn.Sequential(*blocks)
        self.bottleneck = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * length, bottleneck),
            nn.BatchNorm1d(bottleneck),
            nn.Dropout(dropout),
            _ACTIVATIONS[activation](),
        )
        # weight (n_cells, bottleneck): cell embeddings; bias: per-cell depth/openness
        self.cells = nn.Linear(bottleneck, self.n_cells)

    def embed(self, x: Tensor) -> Tensor:
        """Peak embeddings (batch, bottleneck) of one-hot sequences (batch, 4, L), one strand."""
        if x.dim() != 3 or x.shape[1] != 4:
            raise ValueError(f"expected one-hot input of shape (batch, 4, L), got {tuple(x.shape)}")
        return self.bottleneck(self.conv(x))

    def forward(self, x: Tensor) -> Tensor:
        """Accessibility logits (batch, n_cells) of one-hot sequences (batch, 4, L)."""
        if not self.both_strands:
            return self.cells(self.embed(x))
        # Interleave each sequence with its reverse complement ([x0, rc0, x1, rc1, ...]):
        # one pass over a doubled batch, and the first and second halves of the batch stay
        # aligned, which Captum's DeepLift (inputs and baselines stacked) relies on.
        both = torch.stack([x, x.flip(dims=(1, 2))], dim=1).reshape(-1, *x.shape[1:])
        logits = self.cells(self.embed(both))
        return logits.reshape(x.shape[0], 2, -1).mean(dim=1)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Binary cross-entropy of ``forward(batch["x"])`` against ``batch["y"]`` (batch, n_cells).

        In train mode without ``train_both_strands`` the logits are those of the given
        strand only (see the class docstring).
        """
        if self.training and self.both_strands and not self.train_both_strands:
            logits = self.cells(self.embed(batch["x"])).float()
        else:
            logits = self(batch["x"]).float()
        y = batch["y"].float()
        loss = F.binary_cross_entropy_with_logits(logits, y)
        with torch.no_grad():
            acc = ((logits > 0).float() == (y > 0.5).float()).float().mean()
        return {"loss": loss, "accuracy": acc}

    @torch.no_grad()
    def init_cell_bias(self, accessibility_rate: Tensor) -> None:
        """Start each cell's bias at the logit of its observed accessibility rate (faster training)."""
        p = torch.as_tensor(accessibility_rate, dtype=self.cells.bias.dtype).clamp(1e-4, 1 - 1e-4)
        self.cells.bias.copy_(torch.log(p / (1 - p)).to(self.cells.bias.device))

    def cell_embeddings(self) -> Tensor:
        """Per-cell weights (n_cells, bottleneck), detached, on CPU."""
        return self.cells.weight.detach().cpu().clone()

    def cell_bias(self) -> Tensor:
        """Per-cell bias (n_cells,), detached, on CPU."""
        return self.cells.bias.detach().cpu().clone()

    def first_layer_filters(self) -> Tensor:
        """First-layer convolution weights (n_filters, 4, filter_width), channels A, C, G, T."""
        return self.conv[0][0].weight.detach().cpu().clone()

    def first_layer_activations(self, x: Tensor) -> Tensor:
        """First-layer activations (batch, n_filters, L) before pooling, forward strand only."""
        stem = self.conv[0]
        return stem[2](stem[1](stem[0](x)))

    def strands(self, x: Tensor) -> Tensor:
        """The batch as the model reads it: ``[x0, rc0, x1, rc1, ...]`` with both strands."""
        if not self.both_strands:
            return x
        return torch.stack([x, x.flip(dims=(1, 2))], dim=1).reshape(-1, *x.shape[1:])

    def first_block(self, x: Tensor) -> Tensor:
        """Pooled first-layer output (batch, n_filters, L // first_pool) of :meth:`strands`."""
        return self.conv[0](x)

    def from_first_block(self, h: Tensor) -> Tensor:
        """Logits (batch, n_cells) from :meth:`first_block` output of :meth:`strands` input.

        ``from_first_block(first_block(strands(x)))`` equals ``forward(x)``; in between a
        filter's output can be changed (filter influence, :mod:`scinterp.interpret.motifs`).
        """
        logits = self.cells(self.bottleneck(self.conv[1:](h)))
        if not self.both_strands:
            return logits
        return logits.reshape(-1, 2, logits.shape[1]).mean(dim=1)


# ------------------------------------------------------------------ spec
# Its training differs from the cell models' (a few thousand peaks, motifs learned one
# after another): its own values of the shared loop keys, and the peaks' augmentation.
SEQ_CNN_SETTINGS = {
    "batch_size": Setting(
        64,
        "Peaks per minibatch of the sequence CNN (replaces train.batch_size for seq_cnn; "
        "small batches give the few thousand peaks of a typical data set enough "
        "optimisation steps).",
        schema={"minimum": 1},
        training=True,
        legacy="seq_batch_size",
    ),
    "learning_rate": Setting(
        0.01,
        "Adam learning rate of the sequence CNN (replaces train.learning_rate for "
        "seq_cnn); scBasset's rate. With mutate against memorising peaks it is stable.",
        schema={"type": "number", "exclusiveMinimum": 0},
        training=True,
        legacy="seq_learning_rate",
    ),
    "max_epochs": Setting(
        150,
        "Maximum epochs of the sequence CNN (replaces train.max_epochs for seq_cnn; early "
        "stopping with its patience usually ends it sooner). Its epochs are short and it "
        "learns motifs one after another: on the demo the best validation loss came at "
        "epoch 30, 93 and 114 with seeds 0, 1 and 2, past the cell models' 60.",
        schema={"minimum": 1},
        training=True,
        legacy="seq_max_epochs",
    ),
    "patience": Setting(
        25,
        "Epochs without validation improvement before the sequence CNN stops (replaces "
        "train.patience for seq_cnn). An epoch of a few thousand peaks is only a few dozen "
        "steps, and a CNN learns motifs one after another with plateaus of several epochs "
        "in between, on which the cell models' patience stops it early.",
        schema={"minimum": 1},
        training=True,
        legacy="seq_patience",
    ),
    "shift": Setting(
        3,
        "Training peaks of the sequence CNN are shifted by a random -shift..shift bp (and "
        "reverse-complemented at random) each epoch; 0 turns shifting off.",
        schema={"minimum": 0},
        training=True,
        legacy="seq_shift",
    ),
    "mutate": Setting(
        0.1,
        "Fraction of the bases of each training peak of the sequence CNN replaced by a "
        "random base each epoch (EvoAug's random mutation). A motif survives a few "
        "substitutions, the exact k-mers of single peaks do not: without it the CNN "
        "memorises the training peaks before it has learned all motifs. 0 turns it off.",
        schema={"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        training=True,
        legacy="seq_mutate",
    ),
}


def _build_seq_cnn(data) -> dict:
    return {"n_cells": data.n_cells, "seq_len": data.seq_len}


def _init_cell_bias(module: SeqCNN, data) -> None:
    # Each cell's bias starts at the logit of its open rate over the training peaks, so
    # the network spends its steps on what sequence adds to that rate.
    train = data.train_ds
    rate = np.asarray(train.peaks_by_cells[train.indices].mean(axis=0)).ravel()
    module.init_cell_bias(torch.from_numpy(rate))


register_model(
    ModelSpec(
        name="seq_cnn",
        cls=SeqCNN,
        kind="sequence",
        needs=("atac",),
        settings=SEQ_CNN_SETTINGS,
        build=_build_seq_cnn,
        finish=_init_cell_bias,
        # 2 threads gave 1.45x a core on the demo (68.5 CPU-s in 47.2 s wall), but on 2
        # cores a 2-thread job runs alone: at one thread it trains beside QC and
        # normalization (it reads the ATAC file only), at the head of the motif chain
        threads=1,
    )
)
