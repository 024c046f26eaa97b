"""The one metrics module on hand-made cases, and against scikit-learn."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from scinterp.evaluate.metrics import (
    auroc,
    average_precision,
    early_precision,
    labels_and_scores,
    precision_at_k,
    random_precision,
)


def test_precision_at_k():
    assert precision_at_k(*labels_and_scores(["a", "b", "c", "d"], {"a", "c"}), k=2) == 0.5
    assert precision_at_k(*labels_and_scores(["a"], {"a"}), k=4) == 0.25  # short lists miss
    # a group of four tied across the 2nd place, one hit among them: 1 + 1/4 of 2 places
    assert precision_at_k([1, 0, 1, 0, 0], [5, 3, 3, 3, 3], k=2) == pytest.approx(0.625)
    assert precision_at_k([1, 1], [1.0, -np.inf], k=2) == 0.5  # -inf is never retrieved
    with pytest.raises(ValueError):
        precision_at_k([True], [1.0], k=0)


def test_auroc_perfect_inverse_ties_and_universe():
    assert auroc(*labels_and_scores({"a": 3, "b": 2, "c": 1}, {"a"})) == 1.0
    assert auroc(*labels_and_scores({"a": 1, "b": 2, "c": 3}, {"a"})) == 0.0
    assert auroc(*labels_and_scores({"a": 1, "b": 1}, {"a"})) == 0.5
    # Unranked positive 'z' is tied last with unranked negative 'y': 3 of 4 pairs right + 1/2.
    labels, scores = labels_and_scores({"a": 2, "b": 1}, {"a", "z"}, universe=["a", "b", "y", "z"])
    assert auroc(labels, scores) == pytest.approx(0.625)
    assert auroc(*labels_and_scores(["a", "b", "c"], {"b"})) == 0.5  # ranked list, best first
    assert math.isnan(auroc(*labels_and_scores({"a": 1}, set())))
    assert auroc([False, True, True, False], [0.1, 0.9, 0.8, 0.2]) == 1.0
    assert auroc([False, True, True], [0.1, np.nan, 0.8]) == 1.0  # NaN scores are dropped
    assert math.isnan(auroc([True, True], [1, 2]))


def test_average_precision():
    labels, scores = labels_and_scores(["a", "b", "c"], {"a", "c"})
    assert average_precision(labels, scores) == pytest.approx((1 + 2 / 3) / 2)
    # an unranked positive adds no precision
    assert average_precision(*labels_and_scores({"a": 1}, {"a", "q"}, universe=["a", "q"])) == 0.5
    # ties form one threshold, whatever the listed order
    assert average_precision([0, 1], [1.0, 1.0]) == average_precision([1, 0], [1.0, 1.0]) == 0.5
    assert math.isnan(average_precision([False, False], [1.0, 2.0]))


def test_early_precision_and_random_precision():
    # k = 2 positives; the 2nd place is tied with the 3rd: 2 hits in 3 items
    assert early_precision([1, 0, 1, 0], [4.0, 3.0, 3.0, 1.0]) == pytest.approx(2 / 3)
    assert early_precision([1, 0, 1], [2.0, 1.0, -np.inf]) == 0.5  # unlisted is not ranked
    assert early_precision([0, 0], [1.0, 2.0]) == 0.0
    assert random_precision([1, 0, 0, 0]) == 0.25


@pytest.mark.parametrize("seed", range(20))
def test_curves_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    scores = rng.integers(0, 8, n).astype(float) if seed % 2 else rng.normal(size=n)
    labels = rng.random(n) < 0.3
    labels[:2] = [True, False]
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(labels, scores) == pytest.approx(
        average_precision_score(labels, scores), abs=1e-12
    )
