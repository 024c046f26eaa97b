"""Benjamini-Hochberg adjusted p-values of scinterp.interpret.programs."""

import numpy as np
import pytest

from scinterp.interpret.stats import benjamini_hochberg


def test_matches_the_step_up_rule_and_keeps_nan():
    p = [0.01, np.nan, 0.04, 0.03, 0.5]
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, min(0.06, 0.0533), 0.0533, 0.5
    np.testing.assert_allclose(
        benjamini_hochberg(p), [0.04, np.nan, 0.16 / 3, 0.16 / 3, 0.5], rtol=1e-12
    )
    assert benjamini_hochberg([]).size == 0
    assert np.isnan(benjamini_hochberg([np.nan])).all()
    assert benjamini_hochberg([0.2]) == pytest.approx([0.2])
