"""Models by name: one :class:`ModelSpec` per model, build, save (state dict + JSON) and
load with ``weights_only=True``.

Each model declares itself next to its class (``scinterp/models/classifier.py`` ...) with a
:class:`ModelSpec`: its kind, what it needs from the data, whether the ``attribute`` rule
explains it, its settings (:class:`Setting`: hyperparameters with their defaults, set per
model in the config's ``train.<model>`` section, see :mod:`scinterp.train.settings`), the
constructor arguments a sweep may set, and a builder from prepared data. Training,
attribution, the programs branch, the sweep and the workflow's input functions read these
specs instead of lists of model names, so a new model is one file ending in
``register_model(ModelSpec(...))`` (plus its name in the config schema's enums and its
``train.<model>`` section, which ``tests/test_config.py`` checks against this registry).

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scinterp.errors import ScinterpInputError
from scinterp.io import atomic_path

__all__ = [
    "KINDS",
    "MODELS",
    "ROLES",
    "ModelSpec",
    "Setting",
    "build_model",
    "load_model",
    "model_class",
    "model_names",
    "model_spec",
    "models_providing",
    "register_model",
    "save_model",
]

KINDS = ("classifier", "latent", "grn", "sequence")
# What a model may need (or use) from the data: a GMT of gene sets, a TF list, cell labels,
# raw counts (layers["counts"]), a batch column, ATAC peaks with their genome FASTA.
DATA_NEEDS = ("gene_sets", "tfs", "labels", "counts", "batch", "atac")
# What a branch may read from a model (scinterp.interpret.branches.Branch.reads): the cell
# types a classifier tells apart, its attention weights over genes, gene programs (latent
# units or capsules), a regulatory network, what a sequence model learned from DNA, marker
# genes read off an interpretable classifier's parameters (logistic_classifier). A
# branch finds its models by role, so a second model of a role is read without touching
# the branch.
ROLES = ("cell_types", "attention", "programs", "network", "sequence", "markers")
# the roles a kind provides when the spec names none
_KIND_ROLES = {
    "classifier": ("cell_types",),
    "latent": (),
    "grn": ("network",),
    "sequence": ("sequence",),
}


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


@dataclass(frozen=True)
class Setting:
    """One hyperparameter of a model, with its one default.

    The config's ``train.<model>`` section sets it (``train: {program_vae: {kl_weight:
    0.5}}``); :mod:`scinterp.train.settings` checks the section against the spec's
    settings before any job and resolves them; config/README.md lists them.

    Parameters
    ----------
    default
        The value when the config does not set it.
    description
        What it does and why this default (config/README.md shows it).
    schema
        JSON-schema keywords the value must meet (``{"minimum": 0}``); ``type`` follows
        the default's (an int default is an ``integer``) unless given here
        (``{"type": "number"}``, ``{"type": ["integer", "null"]}``).
    training
        False: an argument of the spec's ``build(data, **settings)``. True: read by the
        training instead (the loop, the data it trains on): the model's own value of a
        shared ``train`` key of the same name (``grn_sem``'s ``learning_rate``), or a
        training-only one (``seq_cnn``'s ``shift``).
    legacy
        The flat ``train`` key that set it before the per-model sections
        (``grn_learning_rate``); still read, the schema marks it deprecated.
    """

    default: Any
    description: str
    schema: dict[str, Any] = field(default_factory=dict)
    training: bool = False
    legacy: str | None = None

    def json_schema(self) -> dict[str, Any]:
        """The setting as a JSON-schema property (type, constraints, default, description)."""
        kind = next((t for cls, t in _JSON_TYPES if isinstance(self.default, cls)), None)
        out: dict[str, Any] = {} if kind is None else {"type": kind}
        return {**out, **self.schema, "default": self.default, "description": self.description}


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of scinterp knows about one model.

    Parameters
    ----------
    name
        Registry name: ``train.models`` in the config, ``results/{dataset}/models/{name}``.
    cls
        The ``nn.Module`` class (``forward(x)`` and ``loss(batch)``).
    kind
        ``classifier`` (logits over cell types), ``latent`` (latent units, e.g. gene
        programs), ``grn`` (a regulatory network) or ``sequence`` (peak DNA in).
    needs
        Data it cannot train without (:data:`DATA_NEEDS`): ``labels`` (a classifier's cell
        types), ``gene_sets``, ``tfs``, ``counts``, ``atac`` (peaks and genome). A model
        that needs ``atac`` trains on peak sequences, every other one on cells x genes;
        one that needs ``tfs`` sees every TF and the most variable other genes, the
        others the highly variable genes and the genes of their gene sets.
    uses
        Data it reads when given but can do without (``gene_sets``, ``batch``).
    attributed
        The workflow's ``attribute`` rule explains it (classifiers: each cell's own class;
        latent models: each cell's most active prior unit).
    program_vae
        A gene-program VAE: the programs branch reads its latent units (``encode``,
        ``decoder_weights``; ``meta["programs"]``, ``meta["n_prior"]``).
    settings
        Its hyperparameters: name -> :class:`Setting` (default, description, allowed
        values). The config's ``train.<model>`` section overrides the defaults; ``build``
        receives those that are not ``training`` ones as keyword arguments.
    sweep_kwargs
        Constructor arguments a sweep column may set (models without any cannot be swept).
    defaults
        Constructor arguments the registry adds (``ldvae``: ``masked=False``).
    build
        ``build(data, **settings) -> init kwargs`` from the prepared data (a
        :class:`scinterp.train.prepare.CellData` or, for ``atac`` models,
        :class:`scinterp.train.run.PeakData`) and the model's settings (those of
        ``settings`` that are not ``training`` ones); it may add its own keys to
        ``data.meta``.
    finish
        Optional ``finish(module, data)`` after the model is built: fills buffers that
        depend on the training data (standardization, biases) or adds ``data.meta`` keys
        that need the module.
    auto_passes
        Cell passes (epochs x training cells) that ``max_epochs: auto`` allows this
        model; None: the shared budget (:data:`scinterp.train.loop.AUTO_CELL_PASSES`).
        A model whose pass over a cell costs much more than a classifier's bounds its own.
    provides
        What branches may read from it (:data:`ROLES`); None (the default): what its kind
        provides (a classifier ``cell_types``, a ``grn`` model ``network``, a
        ``sequence`` model ``sequence``), plus ``programs`` for a ``program_vae``. The
        capsule classifier names ``cell_types`` and ``programs`` (its capsules are gene
        sets); the attention classifier ``cell_types`` and ``attention``.
    threads
        CPU threads of its training jobs (rules ``train_model``, ``train_members_<model>`` and
        ``sweep_train``):
        a model whose operations are too small to keep a second thread busy asks for
        one, so that its ensemble members train side by side.
    attribute_threads
        CPU threads of its ``attribute`` jobs (one per method): most of such a job is
        starting Python and reading the data, so one unless the model's own passes keep
        a second thread busy.
    """

    name: str
    cls: type[nn.Module]
    kind: str
    build: Callable[[Any], dict[str, Any]]
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    attributed: bool = False
    program_vae: bool = False
    settings: dict[str, Setting] = field(default_factory=dict)
    sweep_kwargs: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    finish: Callable[[nn.Module, Any], None] | None = None
    auto_passes: int | None = None
    threads: int = 2
    attribute_threads: int = 1
    provides: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"model {self.name!r}: kind must be one of {KINDS}, not {self.kind!r}")
        unknown = (set(self.needs) | set(self.uses)) - set(DATA_NEEDS)
        if unknown:
            raise ValueError(
                f"model {self.name!r}: unknown data needs {sorted(unknown)}; "
                f"known: {', '.join(DATA_NEEDS)}"
            )
        for key in ("threads", "attribute_threads"):
            if getattr(self, key) < 1:
                raise ValueError(
                    f"model {self.name!r}: {key} must be >= 1, not {getattr(self, key)}"
                )
        self._check_settings()
        if self.provides is None:
            roles = _KIND_ROLES[self.kind] + (("programs",) if self.program_vae else ())
            object.__setattr__(self, "provides", roles)
        unknown = set(self.provides) - set(ROLES)
        if unknown:
            raise ValueError(
                f"model {self.name!r}: unknown roles {sorted(unknown)}; known: {', '.join(ROLES)}"
            )

    def _check_settings(self) -> None:
        # that each default meets its own schema is a test (tests/models/test_registry.py):
        # jsonschema is not in every job's env
        for key, setting in self.settings.items():
            if not isinstance(setting, Setting) or not key.isidentifier():
                raise ValueError(
                    f"model {self.name!r}: settings maps names to Setting(...), not "
                    f"{key!r}: {setting!r}"
                )

    @property
    def target(self) -> str:
        """The class as ``"package.module:ClassName"`` (written to ``model.json``)."""
        return f"{self.cls.__module__}:{self.cls.__qualname__}"

    def reads(self, what: str) -> bool:
        """Whether the model needs or uses ``what`` (one of :data:`DATA_NEEDS`)."""
        return what in self.needs or what in self.uses


# name -> spec, in registration order (the built-in models register themselves when
# scinterp.models is imported: classifier, capsule, programs, grn, seqcnn).
MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add (or replace) a model; returns ``spec``. Call it next to the model's class."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register_model takes a ModelSpec, got {type(spec).__name__}")
    MODELS[spec.name] = spec
    return spec


def model_spec(name: str) -> ModelSpec:
    """The spec registered under ``name`` (``ValueError`` naming the known models)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_names(**where: Any) -> list[str]:
    """Registered model names, in registration order, whose spec fields equal ``where``
    (``model_names(kind="classifier")``, ``model_names(attributed=True)``)."""
    return [s.name for s in MODELS.values() if all(getattr(s, k) == v for k, v in where.items())]


def models_providing(role: str) -> list[str]:
    """Registered model names, in registration order, that provide ``role``
    (:data:`ROLES`): the models a branch that reads ``role`` may read."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; known roles: {', '.join(ROLES)}")
    return [s.name for s in MODELS.values() if role in s.provides]


def _import(target: str) -> type[nn.Module]:
    module_name, _, class_name = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)


def model_class(name: str) -> type[nn.Module]:
    """The class registered under ``name``."""
    return model_spec(name).cls


def build_model(name: str, **init) -> nn.Module:
    """Instantiate a registered model; ``init`` overrides the registry defaults."""
    spec = model_spec(name)
    return spec.cls(**{**spec.defaults, **_decode(init)})


FORMAT_VERSION = 1


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
    spec = model_spec(name)
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    # Every constructor argument, defaults included: a later change of a default (an
    # architecture choice) must not change the model this file is rebuilt as.
    full_init = {**_plain_defaults(type(module)), **spec.defaults, **init}
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
    spec = MODELS.get(record["name"])
    defaults = spec.defaults if spec is not None else {}
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
