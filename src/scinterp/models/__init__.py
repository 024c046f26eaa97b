"""scinterp.models: pure ``nn.Module`` models with ``forward(x)`` and ``loss(batch)``.

The sequence CNN (``scinterp.models.seqcnn``) is imported lazily through the registry.
"""

from scinterp.models.classifier import AttentionClassifier, MLPClassifier
from scinterp.models.grn import GRNSEM
from scinterp.models.programs import ProgramVAE
from scinterp.models.registry import MODELS, build_model, load_model, register_model, save_model

__all__ = [
    "GRNSEM",
    "MODELS",
    "AttentionClassifier",
    "MLPClassifier",
    "ProgramVAE",
    "build_model",
    "load_model",
    "register_model",
    "save_model",
]
