"""The torch device of a job, from the config's ``train.device``: one place for training,
attribution and every branch that runs a model."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``; ``"cuda"`` (or ``"cuda:N"``).

    Raises
    ------
    RuntimeError
        When CUDA is requested but not available.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"train.device is '{device}' but CUDA is not available on this machine "
                f"(torch {torch.__version__}, cuda build: {torch.version.cuda}). "
                "Fix: set train.device to 'auto' or 'cpu', or run the job on a GPU node "
                "with a CUDA build of torch."
            )
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
