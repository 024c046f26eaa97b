"""Models by name: build, save (state dict + JSON) and load with ``weights_only=True``.

A model directory holds ``model.pt`` (the pure ``state_dict()``) and ``model.json``
(registry name, class import path, init kwargs, and free-form metadata such as feature,
class, program and TF names). Tensors among the init kwargs are stored compactly in the
JSON (index lists), so a model is rebuilt from ``model.json`` and filled from ``model.pt``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scinterp.errors import ScinterpInputError
from scinterp.io import atomic_path

__all__ = ["MODELS", "build_model", "load_model", "model_class", "register_model", "save_model"]

# name -> (import path "module:Class", default init kwargs). Imported lazily so that a
# model's module (e.g. the sequence CNN) loads only when that model is used.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "attention_classifier": ("scinterp.models.classifier:AttentionClassifier", {}),
    "mlp_classifier": ("scinterp.models.classifier:MLPClassifier", {}),
    "capsule_classifier": ("scinterp.models.capsule:CapsuleClassifier", {}),
    "program_vae": ("scinterp.models.programs:ProgramVAE", {"masked": True}),
    "ldvae": ("scinterp.models.programs:ProgramVAE", {"masked": False}),
    "grn_sem": ("scinterp.models.grn:GRNSEM", {}),
    "seq_cnn": ("scinterp.models.seqcnn:SeqCNN", {}),
}

FORMAT_VERSION = 1


def register_model(name: str, target: str, defaults: dict[str, Any] | None = None) -> None:
    """Add or replace a model: ``target`` is ``"package.module:ClassName"``."""
    if ":" not in target:
        raise ValueError(f"target must look like 'package.module:ClassName', got {target!r}")
    MODELS[name] = (target, dict(defaults or {}))


def _import(target: str) -> type[nn.Module]:
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def model_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return _import(MODELS[name][0])


def build_model(name: str, **init) -> nn.Module:
    """Instantiate a registered model; ``init`` overrides the registry defaults."""
    cls = model_class(name)
    kwargs = {**MODELS[name][1], **_decode(init)}
    return cls(**kwargs)


def _encode(value: Any) -> Any:
    """Init kwargs / metadata -> JSON-able values (tensors as compact index lists)."""
    if isinstance(value, torch.Tensor | np.ndarray):
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        if arr.dtype == bool and arr.ndim == 2:
            cols = [np.flatnonzero(arr[:, j]).tolist() for j in range(arr.shape[1])]
            return {"__bool_matrix__": list(arr.shape), "columns": cols}
        kind = "long" if np.issubdtype(arr.dtype, np.integer) else arr.dtype.name
        return {"__tensor__": kind, "data": arr.tolist()}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "__bool_matrix__" in value:
            shape = value["__bool_matrix__"]
            out = torch.zeros(shape, dtype=torch.bool)
            for j, rows in enumerate(value["columns"]):
                out[torch.as_tensor(rows, dtype=torch.long), j] = True
            return out
        if "__tensor__" in value:
            dtype = (
                torch.long if value["__tensor__"] == "long" else getattr(torch, value["__tensor__"])
            )
            return torch.as_tensor(value["data"], dtype=dtype)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _plain_defaults(cls: type) -> dict[str, Any]:
    """The constructor's keyword defaults that are plain JSON values."""
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.default is not inspect.Parameter.empty and (
            p.default is None or isinstance(p.default, bool | int | float | str)
        ):
            out[p.name] = p.default
    return out


def save_model(
    module: nn.Module,
    outdir: str | os.PathLike,
    name: str,
    init: dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write ``outdir/model.pt`` (state dict, CPU tensors) and ``outdir/model.json``.

    Parameters
    ----------
    module
        The trained model.
    outdir
        Directory to write into (created).
    name
        Registry name the model was built with (``build_model(name, **init)``).
    init
        The init kwargs it was built with (tensors allowed).
    meta
        JSON-able metadata: feature names, class names, program names, TF names, ...

    Returns
    -------
    Path
        The ``model.pt`` path.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    # Every constructor argument, defaults included: a later change of a default (an
    # architecture choice) must not change the model this file is rebuilt as.
    full_init = {**_plain_defaults(type(module)), **MODELS[name][1], **init}
    record = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "class": f"{type(module).__module__}:{type(module).__qualname__}",
        "init": _encode(full_init),
        "meta": _encode(meta or {}),
        "torch_version": torch.__version__,
    }
    with atomic_path(outdir / "model.pt") as tmp:
        torch.save(state, tmp)
    with atomic_path(outdir / "model.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return outdir / "model.pt"


def load_model(
    outdir: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict]:
    """Rebuild a model saved by :func:`save_model`, in eval mode on ``device``.

    Returns
    -------
    (module, meta)
        ``meta`` also holds ``"name"`` and ``"init"`` (decoded init kwargs).
    """
    outdir = Path(outdir)
    json_path, pt_path = outdir / "model.json", outdir / "model.pt"
    for p in (json_path, pt_path):
        if not p.exists():
            raise FileNotFoundError(
                f"{p} not found: is {outdir} a model directory from save_model?"
            )
    record = json.loads(json_path.read_text())
    init = _decode(record["init"])
    cls = _import(record["class"])
    defaults = MODELS.get(record["name"], ("", {}))[1]
    module = cls(**{**defaults, **init})
    state = torch.load(pt_path, map_location="cpu", weights_only=True)
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ScinterpInputError(
            f"the weights do not fit the {record['name']} model as this version of "
            f"scinterp builds it (saved by an older version with other defaults?): {err}",
            path=pt_path,
            fix=f"retrain it: snakemake --forcerun {pt_path}",
        ) from None
    module.to(device).eval()
    meta = _decode(record["meta"])
    meta = {**meta, "name": record["name"], "init": init}
    return module, meta
