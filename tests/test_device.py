"""Device resolution (scinterp.device), shared by training and attribution."""

import pytest
import torch

from scinterp.device import resolve_device


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")


def test_one_resolver_for_training_and_attribution():
    import scinterp.attribution.core as core
    import scinterp.train.loop as loop

    assert loop.resolve_device is resolve_device is core.resolve_device
