"""scinterp.train: one training loop for every model (``fit``) and data preparation."""

from scinterp.train.loop import fit, resolve_device, seed_everything

__all__ = ["fit", "resolve_device", "seed_everything"]
