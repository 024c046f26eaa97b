"""scinterp.attribution: thin wrappers over Captum with one entry point, :func:`attribute`.

:mod:`scinterp.attribution.core` holds the methods, one :class:`Method` class each in a
registry (:func:`register_method`); :mod:`scinterp.attribution.stage` the pieces of the
workflow's ``attribute`` rule (cell sampling, per-model targets, sanity checks, the
output AnnData).
"""

from scinterp.attribution.core import (
    BASELINES,
    METHOD_CLASSES,
    METHODS,
    TARGETS,
    AttributionResult,
    Method,
    attribute,
    make_baseline,
    register_method,
    resolve_targets,
)

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
