"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root (where the Snakefile lives)."""
    return REPO


@pytest.fixture(autouse=True, scope="session")
def _headless():
    os.environ.setdefault("MPLBACKEND", "Agg")
