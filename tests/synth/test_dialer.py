"""The simulated dialer: each customer's luck is their own (common random numbers)."""

from __future__ import annotations

import numpy as np

from weixi.synth.dialer import CONTACT_RATES, draw_outcomes


def _tasks(n: int, seed: int):
    rng = np.random.default_rng(seed)
    subs = np.array([f"S{i:010d}" for i in rng.choice(10 * n, n, replace=False)], dtype=object)
    channels = rng.choice(list(CONTACT_RATES), n).astype(object)
    p_accept = rng.uniform(0.05, 0.6, n)
    return subs, channels, p_accept


def test_a_customers_outcome_does_not_depend_on_the_other_tasks():
    """Dropping half the tasks and shuffling the rest leaves every remaining customer's
    outcome as it was; a higher acceptance probability never turns an acceptance into a
    refusal (the same draw decides)."""
    subs, channels, p_accept = _tasks(20_000, 1)
    full = draw_outcomes(subs, channels, p_accept, seed=7, share_worked=0.9)
    part = np.random.default_rng(2).permutation(len(subs))[: len(subs) // 2]
    sub = draw_outcomes(subs[part], channels[part], p_accept[part], seed=7, share_worked=0.9)
    for a, b in zip(full, sub, strict=True):
        assert np.array_equal(a[part], b)
    higher = draw_outcomes(subs, channels, np.minimum(p_accept * 1.5, 1), seed=7, share_worked=0.9)
    assert (higher[2] >= full[2]).all() and higher[2].sum() > full[2].sum()
    # another seed is another month's luck
    other = draw_outcomes(subs, channels, p_accept, seed=8, share_worked=0.9)
    assert not np.array_equal(other[1], full[1])


def test_the_draws_follow_the_configured_rates():
    subs, channels, p_accept = _tasks(60_000, 3)
    worked, reached, accepted, refusal = draw_outcomes(
        subs, channels, p_accept, seed=11, share_worked=0.8
    )
    assert abs(worked.mean() - 0.8) < 0.01
    for channel, rate in CONTACT_RATES.items():
        on = worked & (channels == channel)
        assert abs(reached[on].mean() - rate) < 0.02
    assert abs(accepted[reached].mean() - p_accept[reached].mean()) < 0.01
    assert not (accepted & ~reached).any() and not (reached & ~worked).any()
    _, counts = np.unique(refusal, return_counts=True)
    assert len(counts) == 4 and counts.min() > 0.23 * len(subs)
