"""One entry point, :func:`attribute`, over Captum's attribution methods.

Every method is a thin wrapper (:class:`Method`) around one Captum class, registered by
name (:func:`register_method`): it says how to build the Captum object, which keyword
arguments (baselines, steps, samples, masks) its ``attribute`` call takes, and what it
accepts (a reference sample, per-cell references, feature groups, a custom attribution
function) as class attributes. :func:`attribute` tests no method names: it validates,
batches and dispatches, the same for every method. Cells are streamed in blocks (dense per block, so a sparse matrix is never
densified whole), each block goes to Captum in one call on the model's device, and the
integrated-gradients steps of a block run in one forward/backward pass of
``block x n_steps`` rows. Blocks are sized so that a pass holds at most ``max_rows`` rows
(on the CPU also at most about 4 million input values, to stay in cache); when one cell's
steps alone exceed that, Captum's ``internal_batch_size`` splits them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from captum import attr as captum_attr
from torch import Tensor, nn

from scinterp.device import resolve_device

__all__ = [
    "BASELINES",
    "METHODS",
    "METHOD_CLASSES",
    "TARGETS",
    "AttributionResult",
    "Method",
    "attribute",
    "make_baseline",
    "register_method",
    "resolve_targets",
]

BASELINES = ("zeros", "mean", "reference")
#: On the CPU, one forward/backward pass holds at most this many input values (rows x
#: features; 16 MB of float32): the interpolated inputs, their gradients and the first
#: layer's operands then stay in the last-level cache. Larger passes run the same GEMMs
#: but wait on memory for the elementwise steps around them (about 1.4x slower for IG
#: on 2,000 genes, benchmarks/attribution_throughput.py). GPUs keep ``max_rows``.
_CPU_PASS_VALUES = 1 << 22
TARGETS = ("predicted",)  # named targets; ints and per-cell index arrays are accepted too


def _rows(X, start: int, stop: int) -> np.ndarray:
    block = X[start:stop]
    if sp.issparse(block):
        block = block.toarray()
    return np.ascontiguousarray(block, dtype=np.float32)


@dataclass
class AttributionResult:
    """Attributions plus the completeness check of methods that have one.

    Attributes
    ----------
    values
        cells x features, float32.
    delta
        Per cell ``sum(attributions) - (f(x) - f(baseline))`` for the target output
        (Captum's convergence delta; averaged over a reference sample or the cell's
        references where the method uses several), or None for methods without a
        completeness property and under a ``custom_attribution_func``.
    output_gap
        Per cell ``f(x) - f(baseline)`` of the target output (same availability as
        ``delta``), to put ``delta`` on a relative scale.
    targets
        The output index attributed, per cell.
    """

    values: np.ndarray
    delta: np.ndarray | None
    output_gap: np.ndarray | None
    targets: np.ndarray


class Method:
    """Shared base: one Captum class, called on blocks of cells.

    A subclass sets ``name`` and ``captum_class``, overrides :meth:`kwargs` (the
    method-specific arguments of Captum's ``attribute``) and :meth:`rows_per_cell`, and
    states what it makes of the inputs :func:`attribute` validates (the class attributes
    below); :func:`register_method` makes it a method of :func:`attribute`, which tests
    no method names. ``settings`` holds ``n_steps``, ``n_samples``, ``max_rows``,
    ``feature_mask`` (a tensor of group ids or None), ``sample_size`` (the rows of a
    reference sample the method takes whole, else 1), ``custom_attribution_func`` (or
    None) and ``seed`` (for a method's random draws).
    """

    name: ClassVar[str]
    captum_class: ClassVar[type]
    #: Completeness: Captum's convergence delta ``sum(attr) - (f(x) - f(baseline))``.
    has_delta: ClassVar[bool] = False
    #: False for methods that ignore the baseline (gradients at the input).
    uses_baseline: ClassVar[bool] = True
    #: What the method makes of a baseline of several rows (``baseline="reference"`` or an
    #: array of rows): ``"whole"``, Captum takes the whole sample for every cell;
    #: ``"pair"``, each cell is paired with one row drawn with ``seed`` (for methods that
    #: take one baseline per cell); ``"mean"``, the rows' mean replaces them.
    reference_sample: ClassVar[str] = "whole"
    #: Takes one baseline per input row, so that each cell can be attributed against
    #: references of its own (a baseline array of cells x k x features).
    per_cell_references: ClassVar[bool] = True
    #: Takes ``feature_mask`` (features attributed in groups).
    takes_feature_mask: ClassVar[bool] = False
    #: Takes Captum's ``custom_attribution_func(multipliers, inputs, baselines)``.
    custom_attribution: ClassVar[bool] = False
    #: The workflow explains a classifier's class probabilities, not its logits, with this
    #: method (``probabilities=True``).
    classifier_probabilities: ClassVar[bool] = False

    def __init__(self, model: nn.Module, settings: dict[str, Any]):
        self.model = model
        self.settings = settings
        self.explainer = self.captum_class(model)

    def kwargs(self, x: Tensor, baseline: Tensor) -> dict[str, Any]:
        return {}

    def rows_per_cell(self) -> int:
        """Rows per cell in one forward pass (steps, samples, references): block sizing."""
        return 1

    def pass_width(self, features: int) -> int:
        """Values per row of a forward/backward pass (``features`` per input row): block
        sizing on the CPU."""
        return features

    def __call__(self, x: Tensor, target: Tensor, baseline: Tensor, delta: bool = False):
        """Attributions of one block, and the per-row convergence delta when ``delta``
        (only asked of methods with ``has_delta``), else None."""
        kw = self.kwargs(x, baseline)
        if delta:
            values, delta = self.explainer.attribute(
                x, target=target, return_convergence_delta=True, **kw
            )
            # Methods with a reference sample give one delta per (cell, sample): average.
            delta = delta.reshape(x.shape[0], -1).mean(dim=1)
            return values, delta
        return self.explainer.attribute(x, target=target, **kw), None


#: The registry :func:`attribute` dispatches on: method name -> :class:`Method` subclass.
METHOD_CLASSES: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Add a :class:`Method` subclass to the registry under ``cls.name`` (a decorator).

    Raises
    ------
    ValueError
        A method of that name is registered already.
    """
    if cls.name in METHOD_CLASSES:
        raise ValueError(f"attribution method {cls.name!r} is registered already")
    if cls.reference_sample not in ("whole", "pair", "mean"):
        raise ValueError(
            f"{cls.__name__}.reference_sample must be 'whole', 'pair' or 'mean', "
            f"got {cls.reference_sample!r}"
        )
    METHOD_CLASSES[cls.name] = cls
    return cls


def split_input_linear(model: nn.Module) -> tuple[nn.Linear, nn.Module] | None:
    """``(first, rest)`` with ``model(x) == rest(first(x))`` and ``first`` an
    ``nn.Linear`` of the input, from the model's ``split_input_linear()``; None when the
    model has none (its first operation is not one linear map of the whole input)."""
    if isinstance(model, _Softmax):  # probabilities: softmax after the rest
        inner = split_input_linear(model.model)
        return None if inner is None else (inner[0], _Softmax(inner[1]))
    split = getattr(model, "split_input_linear", None)
    if split is None:
        return None
    first, rest = split()
    if not isinstance(first, nn.Linear):
        raise TypeError(
            f"{type(model).__name__}.split_input_linear() must return (nn.Linear, module), "
            f"got {type(first).__name__}"
        )
    return first, rest


@register_method
class IntegratedGradients(Method):
    """Integrated gradients; with a reference sample each cell is paired with one
    reference cell (Captum takes one baseline per cell).

    A ``custom_attribution_func`` gets the path-averaged gradients as its multipliers
    (Captum's ``multiply_by_inputs=False``), as DeepLIFT's does its multipliers.

    A model whose first layer is a linear map of the input (``split_input_linear``:
    the MLP classifier, the program VAE's encoder) has Captum integrate the rest of the
    network along the path between the first layer's outputs at the baseline and at the
    cell, which is the image of the input path: ``W (b + a (x - b)) + c = h_b + a (h_x -
    h_b)``. The path-averaged gradient at the input is then that at the first layer's
    output times ``W`` (chain rule), one product per cell instead of one per step and
    no gradient through the widest layer: the same attributions (to float rounding;
    tests/attribution) at a fraction of the work on thousands of genes.
    """

    name = "integrated_gradients"
    captum_class = captum_attr.IntegratedGradients
    has_delta = True
    reference_sample = "pair"
    custom_attribution = True

    def __init__(self, model, settings):
        super().__init__(model, settings)
        self.func = settings.get("custom_attribution_func")
        if self.func is not None:
            self.explainer = self.captum_class(model, multiply_by_inputs=False)
        split = split_input_linear(model)
        self.first, self.path = None, None
        if split is not None:
            self.first = split[0]
            self.path = self.captum_class(split[1], multiply_by_inputs=False)

    def pass_width(self, features: int) -> int:
        """Values per row of a forward/backward pass: the first layer's outputs when
        Captum integrates past it, else the input's features."""
        return features if self.first is None else self.first.out_features

    def rows_per_cell(self) -> int:
        return self.settings["n_steps"]

    def kwargs(self, x, baseline):
        # One forward/backward over block x n_steps rows unless that exceeds max_rows.
        rows = x.shape[0] * self.settings["n_steps"]
        internal = None if rows <= self.settings["max_rows"] else self.settings["max_rows"]
        return {
            "baselines": baseline,
            "n_steps": self.settings["n_steps"],
            "internal_batch_size": internal,
        }

    def _multipliers(self, x, target, baseline):
        """Path-averaged gradients at the input, cells x features."""
        if self.first is None:
            return self.explainer.attribute(x, target=target, **self.kwargs(x, baseline))
        with torch.no_grad():
            h, h_base = self.first(x), self.first(baseline)
        grads = self.path.attribute(h, target=target, **self.kwargs(h, h_base))
        return grads @ self.first.weight.detach()

    def __call__(self, x, target, baseline, delta=False):
        if self.first is None and self.func is None:
            return super().__call__(x, target, baseline, delta)
        grads = self._multipliers(x, target, baseline)
        if self.func is not None:
            (values,) = self.func((grads,), (x,), (baseline,))
            return values, None
        values = grads * (x - baseline)
        if not delta:
            return values, None
        return values, self.explainer.compute_convergence_delta(values, baseline, x, target=target)


@register_method
class DeepLift(Method):
    """DeepLIFT against one baseline; DeepLiftShap against a reference sample."""

    name = "deeplift"
    captum_class = captum_attr.DeepLift
    has_delta = True
    custom_attribution = True

    def __init__(self, model, settings):
        super().__init__(model, settings)
        if settings["sample_size"] > 1:
            self.explainer = captum_attr.DeepLiftShap(model)

    def rows_per_cell(self) -> int:
        return self.settings["sample_size"]

    def kwargs(self, x, baseline):
        func = self.settings.get("custom_attribution_func")
        return {"baselines": baseline, **({"custom_attribution_func": func} if func else {})}


@register_method
class GradientShap(Method):
    """Expected gradients: random points between the cell and baselines from a sample."""

    name = "gradient_shap"
    captum_class = captum_attr.GradientShap
    has_delta = True
    per_cell_references = False  # draws each cell's baselines from the whole sample

    def __init__(self, model, settings):
        super().__init__(model, settings)
        # Captum draws the points and baselines with numpy's global RNG: the draws get a
        # state of their own, seeded, and the caller's global state is put back after.
        self.np_state = np.random.RandomState(settings["seed"]).get_state()

    def __call__(self, x, target, baseline, delta=False):
        outer = np.random.get_state()  # noqa: NPY002 (Captum's global RNG)
        np.random.set_state(self.np_state)  # noqa: NPY002 (Captum's global RNG)
        try:
            return super().__call__(x, target, baseline, delta)
        finally:
            self.np_state = np.random.get_state()  # noqa: NPY002 (Captum's global RNG)
            np.random.set_state(outer)  # noqa: NPY002 (Captum's global RNG)

    def rows_per_cell(self) -> int:
        return self.settings["n_samples"]

    def kwargs(self, x, baseline):
        return {"baselines": baseline, "n_samples": self.settings["n_samples"]}


@register_method
class Saliency(Method):
    """Signed gradients (``abs=False``): the sign tells up- from down-weighting genes,
    which the cell-identity ranking needs; take ``abs`` for the classic saliency map."""

    name = "saliency"
    captum_class = captum_attr.Saliency
    uses_baseline = False

    def kwargs(self, x, baseline):
        return {"abs": False}


@register_method
class InputXGradient(Method):
    name = "input_x_gradient"
    captum_class = captum_attr.InputXGradient
    uses_baseline = False


@register_method
class Ablation(Method):
    """Feature ablation: replace a feature group by the baseline, record the output drop.

    ``feature_mask`` (one group id per feature) groups features, e.g. gene sets; without
    it every feature is its own group. Several groups are ablated per forward pass
    (``perturbations_per_eval``) so that one pass holds about ``max_rows`` rows. A
    reference sample is replaced by its mean: a feature is ablated to one value.
    """

    name = "ablation"
    captum_class = captum_attr.FeatureAblation
    reference_sample = "mean"
    takes_feature_mask = True
    classifier_probabilities = True  # the drop in class probability

    def kwargs(self, x, baseline):
        mask = self.settings.get("feature_mask")
        per_eval = max(1, self.settings["max_rows"] // max(1, x.shape[0]))
        kw = {"baselines": baseline, "perturbations_per_eval": per_eval}
        if mask is not None:
            kw["feature_mask"] = mask
        return kw


#: The built-in methods, in registration order (the config schema's
#: ``attribution.methods`` enum).
METHODS = tuple(METHOD_CLASSES)


class _Softmax(nn.Module):
    """Model output as class probabilities (ablation: the drop in class probability)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(self.model(x), dim=1)


def make_baseline(
    kind: str | np.ndarray,
    X,
    reference: np.ndarray | None = None,
    n_reference: int = 16,
    seed: int = 0,
) -> np.ndarray:
    """The reference input(s) as a float32 array.

    Parameters
    ----------
    kind
        ``"zeros"`` (1 x features), ``"mean"`` (mean of ``reference`` if given, else of
        ``X``; 1 x features), ``"reference"`` (``reference`` if given, else
        ``n_reference`` cells of ``X`` drawn with ``seed``; n x features), or an array:
        rows of features (one baseline or a reference sample), or per-cell references,
        cells x k x features (one more dimension than ``X``), returned as they are.
    X
        cells x features (dense or sparse); features may have a shape of their own
        (e.g. ``(n, 4, length)`` one-hot sequences), which the baselines then share.
    reference
        Optional reference cells (n x features).

    Raises
    ------
    ValueError
        Unknown kind, or an array of the wrong shape.
    """
    feat = tuple(X.shape[1:])
    if isinstance(kind, np.ndarray | Tensor):
        arr = np.asarray(kind, dtype=np.float32)
        if arr.ndim == len(X.shape) + 1:
            if arr.shape[0] != X.shape[0] or arr.shape[2:] != feat:
                raise ValueError(
                    f"per-cell references must be cells x k x features {(X.shape[0], 'k', *feat)}"
                    f", got shape {arr.shape}"
                )
            return arr
        return arr.reshape(-1, *feat)
    if kind == "zeros":
        return np.zeros((1, *feat), dtype=np.float32)
    if kind == "mean":
        src = reference if reference is not None else X
        return np.asarray(src.mean(axis=0), dtype=np.float32).reshape(1, *feat)
    if kind == "reference":
        if reference is not None:
            return _rows(reference, 0, reference.shape[0])
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(X.shape[0], size=min(n_reference, X.shape[0]), replace=False))
        return _rows(X[idx], 0, len(idx))
    raise ValueError(
        f"unknown baseline {kind!r}; valid baselines: {', '.join(BASELINES)} (or an array)"
    )


def resolve_targets(model: nn.Module, X, target, device, batch_size: int = 1024) -> np.ndarray:
    """Per-cell output indices from ``target``.

    ``target`` is an int (the same output for every cell), a per-cell sequence of ints,
    or ``"predicted"`` (each cell's largest output, e.g. its predicted class).

    Raises
    ------
    ValueError
        Unknown target name, wrong length, or an index outside the model's outputs.
    """
    n = X.shape[0]
    with torch.no_grad():
        n_out = model(torch.as_tensor(_rows(X, 0, 1), device=device)).shape[1]
    if isinstance(target, str):
        if target not in TARGETS:
            raise ValueError(
                f"unknown target {target!r}; valid targets: an output index, one index per "
                f"cell, or one of {', '.join(TARGETS)}"
            )
        out = []
        with torch.no_grad():
            for s in range(0, n, batch_size):
                xb = torch.as_tensor(_rows(X, s, s + batch_size), device=device)
                out.append(model(xb).argmax(dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
    if target is None:
        if n_out != 1:
            raise ValueError(
                f"target is None but the model has {n_out} outputs; give an output index, "
                f"one index per cell, or one of {', '.join(TARGETS)}"
            )
        target = 0
    arr = np.asarray(target)
    if arr.ndim == 0:
        arr = np.full(n, int(arr))
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"target must be an int, {n} ints (one per cell) or one of {', '.join(TARGETS)}; "
            f"got shape {arr.shape}, dtype {arr.dtype}"
        )
    if n and (arr.min() < 0 or arr.max() >= n_out):
        raise ValueError(f"target indices must lie in [0, {n_out}) (the model's outputs)")
    return arr.astype(np.int64)


def attribute(
    model: nn.Module,
    X,
    method: str,
    target: int | Sequence[int] | np.ndarray | str | None = "predicted",
    *,
    baseline: str | np.ndarray = "zeros",
    reference: np.ndarray | None = None,
    n_steps: int = 32,
    n_samples: int = 32,
    n_reference: int = 16,
    batch_size: int = 256,
    max_rows: int = 16384,
    feature_mask: np.ndarray | None = None,
    custom_attribution_func: Callable | None = None,
    probabilities: bool = False,
    device: str | torch.device = "auto",
    seed: int = 0,
    return_delta: bool = False,
) -> np.ndarray | AttributionResult:
    """Attribute a model's output to its input features with Captum.

    Parameters
    ----------
    model
        ``nn.Module`` with ``forward(x) -> cells x outputs``; moved to ``device`` and put in
        eval mode.
    X
        cells x features, numpy array, torch tensor or scipy sparse matrix; a dense input
        may have more dimensions (cells x ..., e.g. one-hot sequences ``(n, 4, length)``).
    method
        A registered method (:data:`METHOD_CLASSES`; the built-in ones are
        :data:`METHODS`): ``integrated_gradients``, ``deeplift`` (DeepLiftShap with a
        reference sample), ``gradient_shap``, ``saliency`` (signed gradients),
        ``input_x_gradient``, ``ablation``.
    target
        Output explained per cell: an index, one index per cell, or ``"predicted"``.
    baseline
        ``"zeros"``, ``"mean"`` or ``"reference"`` (see :func:`make_baseline`), or an array
        of baseline rows. Several rows are a reference sample, which each method takes its
        own way (:attr:`Method.reference_sample`): integrated gradients pairs each cell
        with one row drawn with ``seed``; DeepLiftShap and GradientSHAP use the whole
        sample; ablation replaces features by the sample's mean. An array with one more
        dimension than ``X`` (cells x k x features) gives each cell k references of its
        own (e.g. shuffled sequences): the cell is attributed against each and the
        attributions averaged (methods with :attr:`Method.per_cell_references`).
    reference
        Reference cells for ``"mean"`` / ``"reference"`` (default: drawn from ``X``).
    n_steps
        Integrated-gradients steps.
    n_samples
        GradientSHAP samples per cell.
    n_reference
        Reference cells drawn from ``X`` when ``reference`` is None.
    batch_size
        Most cells per Captum call (fewer where ``max_rows`` asks for it).
    max_rows
        Most rows (cells x references x steps, or cells x ablated groups) in one
        forward/backward pass. On the CPU it is further capped at about 4 million values
        (rows x features), the size that stays in cache. Only the random draws of
        GradientSHAP depend on it.
    feature_mask
        Methods with feature groups (ablation): one integer group id per feature (e.g.
        gene sets); default one group per feature.
    custom_attribution_func
        Captum's ``func(multipliers, inputs, baselines) -> attributions`` (tuples of
        tensors), for methods with :attr:`Method.custom_attribution` (DeepLIFT, integrated
        gradients), e.g. hypothetical contributions of DNA bases. No convergence delta.
    probabilities
        Explain softmax probabilities instead of the raw outputs (classifiers).
    device
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
    seed
        Seeds reference sampling and the random draws of GradientSHAP.
    return_delta
        Return an :class:`AttributionResult` (values, convergence delta, targets).

    Returns
    -------
    numpy.ndarray or AttributionResult
        float32 attributions, the shape of ``X``.

    Raises
    ------
    ValueError
        Unknown method, target or baseline, or an argument the method does not take.
    """
    cls = _method_class(method)
    X = _as_cells(X)
    _check_method_arguments(cls, method, feature_mask, custom_attribution_func)
    dev = resolve_device(device)
    model = model.to(dev).eval()
    net = _Softmax(model) if probabilities else model
    targets = resolve_targets(net, X, target, dev)
    feat = tuple(X.shape[1:])
    base = make_baseline(baseline, X, reference, n_reference, seed)
    base, refs = _references(cls, method, base, X, seed)
    settings = {
        "n_steps": n_steps,
        "n_samples": n_samples,
        "sample_size": base.shape[0] if refs is None else 1,
        "max_rows": max_rows,
        "feature_mask": _group_mask(feature_mask, feat, dev),
        "custom_attribution_func": custom_attribution_func,
        "seed": seed,
    }
    runner = cls(net, settings)
    step = _cells_per_call(runner, settings, dev, feat, batch_size, refs)
    want_delta = return_delta and cls.has_delta and custom_attribution_func is None
    base_t = torch.as_tensor(base, device=dev)
    torch.manual_seed(seed)  # torch's global RNG is left seeded, as it always was
    values, deltas, gaps = _attribute_blocks(
        runner, net, X, targets, base_t, refs, step, dev, want_delta
    )
    if return_delta:
        return AttributionResult(values=values, delta=deltas, output_gap=gaps, targets=targets)
    return values


def _cells_per_call(runner: Method, settings: dict, device, feat: tuple, batch_size, refs) -> int:
    """Cells per Captum call: bounded by ``batch_size`` and by ``max_rows`` over the rows
    a cell takes (its references times the method's steps or samples; IG: when one
    cell's steps exceed ``max_rows``, Captum splits them, internal_batch_size). On the
    CPU ``settings["max_rows"]``, which the runner reads, is first capped at
    ``_CPU_PASS_VALUES`` over the width of a pass."""
    max_rows = settings["max_rows"]
    if device.type == "cpu":
        width = runner.pass_width(int(np.prod(feat)))
        settings["max_rows"] = max_rows = min(max_rows, max(1, _CPU_PASS_VALUES // max(1, width)))
    k = 1 if refs is None else refs.shape[1]
    return max(1, min(batch_size, max_rows // max(1, runner.rows_per_cell() * k)))


def _method_class(method: str) -> type[Method]:
    cls = METHOD_CLASSES.get(method)
    if cls is None:
        raise ValueError(
            f"unknown attribution method {method!r}; valid methods: {', '.join(METHOD_CLASSES)}"
        )
    return cls


def _as_cells(X):
    """``X`` as a float32 array (a sparse matrix stays sparse), at least cells x features."""
    if isinstance(X, Tensor):
        X = X.detach().cpu().numpy()
    if not sp.issparse(X):
        X = np.asarray(X, dtype=np.float32)
    if X.ndim < 2:
        raise ValueError(f"X must be cells x features (2-D or more), got shape {X.shape}")
    return X


def _check_method_arguments(cls, method, feature_mask, custom_attribution_func) -> None:
    """Refuse an argument that the method does not take."""
    for arg, given, takes in (
        ("feature_mask", feature_mask, "takes_feature_mask"),
        ("custom_attribution_func", custom_attribution_func, "custom_attribution"),
    ):
        if given is not None and not getattr(cls, takes):
            which = [m for m, c in METHOD_CLASSES.items() if getattr(c, takes)]
            raise ValueError(f"{arg} is for methods {', '.join(which)}, not {method!r}")


def _references(cls, method, base: np.ndarray, X, seed: int):
    """The baseline rows as the method takes them, and ``refs``: each cell's rows of the
    returned baseline (cells x k), or None where the baseline serves every cell."""
    n, feat = X.shape[0], tuple(X.shape[1:])
    if base.ndim == X.ndim + 1:  # per-cell references
        if not cls.uses_baseline:
            return base[0, :1], None  # ignored
        if not cls.per_cell_references:
            which = [m for m, c in METHOD_CLASSES.items() if c.per_cell_references]
            raise ValueError(
                f"per-cell references (cells x k x features) are for methods "
                f"{', '.join(which)}, not {method!r}"
            )
        refs = np.arange(base.shape[0] * base.shape[1]).reshape(base.shape[:2])
        return base.reshape(-1, *feat), refs
    if base.shape[0] > 1 and cls.reference_sample == "mean":
        return make_baseline("mean", X, base), None
    if base.shape[0] > 1 and cls.reference_sample == "pair":
        return base, np.random.default_rng(seed).integers(base.shape[0], size=n)[:, None]
    return base, None


def _group_mask(feature_mask, feat: tuple, device) -> Tensor | None:
    """Captum's feature mask: the groups of ``feature_mask`` numbered 0, 1, ..."""
    if feature_mask is None:
        return None
    fm = np.asarray(feature_mask)
    if fm.shape != feat:
        raise ValueError(f"feature_mask needs one group id per feature {feat}, got {fm.shape}")
    return torch.as_tensor(np.unique(fm, return_inverse=True)[1].reshape(1, *feat), device=device)


def _attribute_blocks(runner, net, X, targets, base_t, refs, step, dev, want_delta):
    """The attributions of ``step`` cells at a time (each cell's references averaged),
    and with ``want_delta`` the convergence deltas and output gaps, or None."""
    n, feat = X.shape[0], tuple(X.shape[1:])
    k = 1 if refs is None else refs.shape[1]
    values = np.empty(X.shape, dtype=np.float32)
    deltas = np.empty(n, dtype=np.float32) if want_delta else None
    gaps = np.empty(n, dtype=np.float32) if want_delta else None
    for s in range(0, n, step):
        xb = torch.as_tensor(_rows(X, s, s + step), device=dev)
        tb = torch.as_tensor(targets[s : s + step], device=dev)
        b = xb.shape[0]
        if refs is None:
            xr, tr, bb = xb, tb, base_t
        else:  # one row per (cell, reference)
            bb = base_t[torch.as_tensor(refs[s : s + step].ravel(), device=dev)]
            xr = xb if k == 1 else xb.repeat_interleave(k, dim=0)
            tr = tb if k == 1 else tb.repeat_interleave(k)
        vb, db = runner(xr, tr, bb, delta=want_delta)
        vb = vb.detach().float().cpu().numpy()
        values[s : s + b] = vb if k == 1 else vb.reshape(b, k, *feat).mean(axis=1)
        if want_delta:
            db = db.detach().float().cpu().numpy()
            deltas[s : s + b] = db if k == 1 else db.reshape(b, k).mean(axis=1)
            gaps[s : s + b] = _output_gap(net, xb, tb, bb, tr, refs, b, k)
    return values, deltas, gaps


def _output_gap(net, xb, tb, bb, tr, refs, b: int, k: int) -> np.ndarray:
    """Each cell's output minus its baseline's (the mean output of its own references,
    or of the baseline sample shared by all cells)."""
    with torch.no_grad():
        fx = net(xb).gather(1, tb[:, None])[:, 0]
        ob = net(bb)
        if refs is not None:  # each cell's own references: their mean output
            fb = ob.gather(1, tr[:, None])[:, 0]
            fb = fb if k == 1 else fb.reshape(b, k).mean(dim=1)
        else:  # one baseline or a sample shared by all cells: its mean output
            fb = ob.mean(dim=0)[tb]
        return (fx - fb).float().cpu().numpy()
