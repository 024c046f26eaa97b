"""scinterp.models: pure ``nn.Module`` models with ``forward(x)`` and ``loss(batch)``.

Each model module registers its models' :class:`~scinterp.models.registry.ModelSpec` when
imported; importing this package registers the built-in ones, in this order.
"""

# The import order is the registration order, the order of every derived model list.
# isort: off
from scinterp.models.classifier import AttentionClassifier, MLPClassifier
from scinterp.models.capsule import CapsuleClassifier
from scinterp.models.programs import ProgramVAE
from scinterp.models.grn import GRNSEM
from scinterp.models.seqcnn import SeqCNN
from scinterp.models.logistic import LogisticClassifier

# isort: on
from scinterp.models.registry import (
    MODELS,
    ModelSpec,
    build_model,
    load_model,
    model_names,
    model_spec,
    register_model,
    save_model,
)

__all__ = [
    "GRNSEM",
    "LogisticClassifier",
    "MODELS",
    "AttentionClassifier",
    "CapsuleClassifier",
    "MLPClassifier",
    "ModelSpec",
    "ProgramVAE",
    "SeqCNN",
    "build_model",
    "load_model",
    "model_names",
    "model_spec",
    "register_model",
    "save_model",
]
