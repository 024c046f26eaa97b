"""Ranked-list metrics on hand-made cases."""

import math

import pytest

from scinterp.evaluate.ranking import auroc, average_precision, precision_at_k


def test_precision_at_k():
    assert precision_at_k(["a", "b", "c", "d"], {"a", "c"}, k=2) == 0.5
    assert precision_at_k(["a"], {"a"}, k=4) == 0.25  # short lists count misses
    with pytest.raises(ValueError):
        precision_at_k(["a"], {"a"}, k=0)


def test_auroc_perfect_inverse_ties_and_universe():
    assert auroc({"a": 3, "b": 2, "c": 1}, {"a"}) == 1.0
    assert auroc({"a": 1, "b": 2, "c": 3}, {"a"}) == 0.0
    assert auroc({"a": 1, "b": 1}, {"a"}) == 0.5
    # Unranked positive 'z' is tied last with unranked negative 'y': 3 of 4 pairs right + 1/2.
    assert auroc({"a": 2, "b": 1}, {"a", "z"}, universe=["a", "b", "y", "z"]) == pytest.approx(
        0.625
    )
    assert auroc(["a", "b", "c"], {"b"}) == 0.5  # ranked list, best first
    assert math.isnan(auroc({"a": 1}, set()))


def test_average_precision():
    assert average_precision(["a", "b", "c"], {"a", "c"}) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision({"a": 1}, {"a", "q"}, universe=["a", "q"]) == 0.5
