"""The synthetic daily feed's risk weighting."""

from __future__ import annotations

import warnings

import numpy as np

from weixi.synth.events import _risk_multiplier


def test_a_month_without_scores_weighs_every_line_alike_and_warns_nothing():
    """Before the first churn model every risk is NaN: each line counts as average (1.0), and
    numpy's "Mean of empty slice" warning no longer reaches the user's terminal."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _risk_multiplier(np.full(4, np.nan)).tolist() == [1.0] * 4
        got = _risk_multiplier(np.array([0.01, 0.03, np.nan]))
    assert got.tolist() == [0.5, 1.5, 1.0]
