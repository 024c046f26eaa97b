"""Which programs drive cell identity: logistic regression on activities + integrated gradients."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._stats import _as_labels

log = logging.getLogger(__name__)


def classifier_attribution(
    activity: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    programs: Sequence[str],
    epochs: int = 300,
    weight_decay: float = 1e-3,
    n_steps: int = 16,
    seed: int = 0,
) -> pd.DataFrame:
    """Which programs drive cell identity: logistic regression on activities + integrated
    gradients (:func:`scinterp.attribution.attribute`).

    Parameters
    ----------
    activity
        Cells x programs (oriented) activities.
    labels
        Cell type per cell.
    programs
        Program names.
    epochs, weight_decay
        Full-batch Adam steps and L2 penalty of the logistic regression.
    n_steps
        Integrated-gradients steps (the model is linear, so few suffice).
    seed
        Torch seed.

    Returns
    -------
    pandas.DataFrame
        ``program, cell_type, score, method, effect_size, n_cells`` where ``score`` is the
        mean attribution of the program to the true class over the cells of the type, and
        ``effect_size`` the logistic weight on the standardized activity.
    """
    import torch

    codes, classes = _as_labels(labels)
    a = np.asarray(activity, dtype=np.float64)
    mean, sd = a.mean(0), a.std(0)
    z = (a - mean) / np.where(sd > 0, sd, 1.0)
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(z, dtype=torch.float32)
    y = torch.as_tensor(codes)
    lin = torch.nn.Linear(x.shape[1], len(classes))
    with torch.no_grad():
        lin.weight.copy_(0.01 * torch.randn(lin.weight.shape, generator=gen))
        lin.bias.zero_()
    opt = torch.optim.Adam(lin.parameters(), lr=0.05, weight_decay=weight_decay)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(x), y)
        loss.backward()
        opt.step()
    lin.eval()
    with torch.no_grad():
        acc = float((lin(x).argmax(1) == y).float().mean())
    log.info("classifier on program activities: training accuracy %.3f", acc)
    attr = _integrated_gradients(lin, x, y, n_steps)
    rows = []
    w = lin.weight.detach().numpy()
    for t, cell_type in enumerate(classes):
        inside = codes == t
        if not inside.any():
            continue
        mean_attr = attr[inside].mean(0)
        for p, name in enumerate(programs):
            rows.append(
                (
                    name,
                    cell_type,
                    float(mean_attr[p]),
                    "classifier_attribution",
                    float(w[t, p]),
                    int(inside.sum()),
                )
            )
    return pd.DataFrame(
        rows, columns=["program", "cell_type", "score", "method", "effect_size", "n_cells"]
    )


def _integrated_gradients(model, x, y, n_steps: int) -> np.ndarray:
    """IG attributions to each cell's own class (baseline zeros = the mean cell).

    On the CPU: the model is a small logistic regression, and ``attribute`` moves it to
    the device it runs on (its weights are read as numpy afterwards).
    """
    from scinterp.attribution import attribute

    out = attribute(model, x, "integrated_gradients", target=y, n_steps=n_steps, device="cpu")
    return np.asarray(out, dtype=np.float64)
