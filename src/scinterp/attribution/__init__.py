"""scinterp.attribution: thin wrappers over Captum with one entry point, :func:`attribute`.

:mod:`scinterp.attribution.core` holds the methods; :mod:`scinterp.attribution.stage`
the pieces of the workflow's ``attribute`` rule (cell sampling, per-model targets,
sanity checks, the output AnnData).
"""

from scinterp.attribution.core import (
    BASELINES,
    METHODS,
    TARGETS,
    AttributionResult,
    attribute,
    make_baseline,
    resolve_targets,
)

__all__ = [
    "BASELINES",
    "METHODS",
    "TARGETS",
    "AttributionResult",
    "attribute",
    "make_baseline",
    "resolve_targets",
]
