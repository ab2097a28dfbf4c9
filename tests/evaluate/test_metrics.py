"""Lift intervals, KPIs and the A/A test (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weixi.evaluate import metrics

# pure computations (an in-memory DuckDB at most): no operational database, one run
pytestmark = pytest.mark.one_db


def test_newcombe_matches_published_example():
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339
    iv = metrics.rate_diff_ci(56, 70, 48, 80)
    assert float(iv.low) == pytest.approx(0.0524, abs=1e-4)
    assert float(iv.high) == pytest.approx(0.3339, abs=1e-4)


def test_exact_interval_matches_clopper_pearson_edges():
    iv = metrics.exact_ci(np.array([0, 10]), np.array([10, 10]))
    assert iv.low[0] == 0.0 and iv.high[1] == 1.0
    assert iv.high[0] == pytest.approx(0.3085, abs=1e-4)  # 1 - 0.025 ** (1/10)


def test_intervals_cover_the_truth_at_the_nominal_rate():
    rng = np.random.default_rng(3)
    k = 4000
    n_t, n_c = 400, 120
    x_t = rng.binomial(n_t, 0.9, k)
    x_c = rng.binomial(n_c, 0.85, k)
    iv = metrics.rate_diff_ci(x_t, n_t, x_c, n_c)
    cover = ((iv.low <= 0.05) & (iv.high >= 0.05)).mean()
    assert 0.93 <= cover <= 0.975


def test_bootstrap_interval_is_vectorized_per_group_and_covers():
    rng = np.random.default_rng(0)
    n = 6000
    g = rng.integers(0, 3, n)
    tr = rng.random(n) < 0.8
    effect = np.array([0.0, 2.0, -1.0])
    v = rng.normal(0, 5, n) + tr * effect[g]
    iv = metrics.bootstrap_diff_ci(v, tr, g, n_boot=500, seed=1)
    assert iv.estimate.shape == (3,)
    for j in range(3):
        assert iv.low[j] < effect[j] < iv.high[j]
    assert iv.low[1] > 0 and iv.high[2] < 0


def test_bootstrap_reproducible_and_empty_arm_is_nan():
    v = np.arange(10.0)
    tr = np.array([True] * 10)
    iv = metrics.bootstrap_diff_ci(v, tr, n_boot=50)
    assert np.isnan(iv.estimate[0])
    a = metrics.bootstrap_diff_ci(np.r_[v, v + 1], np.r_[tr, ~tr], n_boot=100, seed=5)
    b = metrics.bootstrap_diff_ci(np.r_[v, v + 1], np.r_[tr, ~tr], n_boot=100, seed=5)
    assert a.low[0] == b.low[0]


def test_lift_summary_kpis_and_small_groups_inconclusive():
    rng = np.random.default_rng(1)
    n = 5000
    g = np.where(np.arange(n) < 60, 1, 0)  # group 1 is tiny
    tr = rng.random(n) < 0.8
    stayed = (rng.random(n) < np.where(tr, 0.95, 0.85)).astype(float)
    before = np.full(n, 100.0)
    after = stayed * 100.0
    contacted = tr & (rng.random(n) < 0.7)
    accepted = contacted & (rng.random(n) < 0.4)
    out = metrics.lift_summary(
        stayed,
        tr,
        before,
        after,
        planned_cost=np.where(tr, 5.0, 0.0),
        actual_cost=np.where(contacted, 4.0, 0.0) + np.where(accepted, 10.0, 0.0),
        contacted=contacted,
        accepted=accepted,
        groups=g,
        n_boot=300,
    )
    assert out["retention_lift"][0] == pytest.approx(0.10, abs=0.03)
    assert out["significant"][0] and not out["inconclusive"][0]
    assert out["inconclusive"][1] and not out["significant"][1]
    assert out["value_lift"][0] == pytest.approx(10.0, abs=3.0)
    assert out["contact_rate"][0] == pytest.approx(0.7, abs=0.03)
    assert out["success_rate"][0] == pytest.approx(0.4, abs=0.04)
    assert out["retained_revenue"][0] == pytest.approx(out["value_lift"][0] * out["n_treated"][0])
    # ROI and net value from what execution spent, not from the plan's price
    actual = (4.0 * contacted + 10.0 * accepted)[g == 0].sum()
    assert out["actual_cost"][0] == pytest.approx(actual)
    assert out["planned_cost"][0] == pytest.approx(5.0 * (tr & (g == 0)).sum())
    assert out["net_value"][0] == pytest.approx(out["retained_revenue"][0] - actual)
    assert out["roi"][0] == pytest.approx((out["retained_revenue"][0] - actual) / actual)
    assert out["churn_rate_control"][0] == pytest.approx(1 - out["retention_control"][0])


def test_unrecorded_execution_leaves_actual_cost_and_roi_unknown():
    tr = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    s = np.ones(200)
    g = np.r_[np.zeros(50), np.ones(50), np.zeros(50), np.ones(50)].astype(int)
    actual = np.where(tr, 2.0, 0.0)
    actual[:50] = np.nan  # group 0: no execution record for its treated customers
    out = metrics.lift_summary(
        s,
        tr,
        np.full(200, 50.0),
        np.full(200, 50.0),
        planned_cost=np.where(tr, 3.0, 0.0),
        actual_cost=actual,
        groups=g,
        n_boot=50,
    )
    assert out["planned_cost"].tolist() == [150.0, 150.0]
    assert np.isnan(out["actual_cost"][0]) and out["actual_cost"][1] == 100.0
    assert np.isnan(out["roi"][0]) and out["roi"][1] == pytest.approx(-1.0)
    none = metrics.lift_summary(s, tr, np.full(200, 50.0), np.full(200, 50.0), n_boot=50)
    assert np.isnan(none["actual_cost"][0]) and np.isnan(none["roi"][0])


def test_aa_test_over_many_seeds_shows_no_lift():
    """A/A: a treatment that does nothing is significant in about 5 % of seeds at most."""
    rng = np.random.default_rng(0)
    p = np.clip(rng.lognormal(np.log(0.03), 0.9, 20_000), 0, 0.9)
    out = metrics.aa_false_positive_rate(p, n_seeds=1000, holdout=0.1, seed=11)
    assert out["positive_share"] <= 0.05  # significant *lift* (interval above zero)
    assert out["significant_share"] <= 0.065  # either direction: nominal 5 %, binomial slack
    assert abs(out["mean_lift"]) < 0.001


def test_one_set_of_draws_serves_every_breakdown():
    """The evaluation bootstraps overall, by action, by channel … from one set of Poisson
    draws: each breakdown gets exactly the interval it would get bootstrapped alone."""
    rng = np.random.default_rng(3)
    n = 3000
    v = rng.normal(0, 5, n)
    tr = rng.random(n) < 0.8
    by_action, by_branch = rng.integers(0, 4, n), rng.integers(0, 7, n)
    # a breakdown by person has about as many groups as rows: it is summed from the rows'
    # weights, apart from the finest cells of the others
    by_person = rng.integers(0, 900, n)
    groupings = [None, by_action, by_branch, by_person]
    # every row resampled (the overall treated arm, 2 400 rows, would take its normal limit)
    shared = metrics.bootstrap_diff_cis(v, tr, groupings, n_boot=300, seed=2, normal_rows=None)
    for groups, got in zip(groupings, shared, strict=True):
        alone = metrics.bootstrap_diff_cis(v, tr, [groups], n_boot=300, seed=2, normal_rows=None)[0]
        np.testing.assert_allclose(got.low, alone.low, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.high, alone.high, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got.estimate, alone.estimate, rtol=1e-9, atol=1e-12)
    assert len(shared[2].low) == 7 and np.all(shared[2].low < shared[2].high)


@given(
    n=st.integers(0, 3000),
    k=st.integers(1, 9),
    block=st.integers(1, 700),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60, deadline=None)
def test_poisson_weights_are_the_cdf_inverse_of_one_stream_of_uniforms(n, k, block, seed):
    """Block by block, the weights are exactly the Poisson(1) CDF inverse of the uniforms one
    ``rng.random((n, k), dtype=np.float32)`` call draws: the bootstrap's figures do not depend
    on the blocks."""
    from weixi.evaluate.metrics import _POISSON1_CDF, _poisson1

    u = np.random.default_rng(seed).random((n, k), dtype=np.float32)
    want = (u[..., None] > _POISSON1_CDF.astype(np.float32)).sum(axis=-1).astype(np.float64)
    got = _poisson1(np.random.default_rng(seed), (n, k), block=block)
    assert np.array_equal(got, want)


def test_bootstrap_through_the_finest_cells_equals_summing_each_grouping(monkeypatch):
    """Summing each replicate into the finest cells (all groupings × arm) and adding those up
    per grouping gives the intervals of summing the rows per grouping (to rounding)."""
    rng = np.random.default_rng(3)
    n = 20_000
    values = rng.normal(0, 4, n)
    treated = rng.random(n) < 0.9
    groupings = [None, rng.integers(0, 5, n), rng.integers(0, 3, n), rng.integers(0, 7, n)]
    fine, first = metrics._finest_cells(
        [(np.zeros(n, np.int64), 1), *[(g, int(g.max()) + 1) for g in groupings[1:]]],
        treated.astype(np.int64),
        n,
    )
    assert fine is not None and len(first) <= 2 * 5 * 3 * 7
    got = metrics.bootstrap_diff_cis(values, treated, groupings, n_boot=130, seed=4)
    monkeypatch.setattr(metrics, "_finest_cells", lambda coded, arm, n: (None, np.arange(n)))
    want = metrics.bootstrap_diff_cis(values, treated, groupings, n_boot=130, seed=4)
    for a, b in zip(got, want, strict=True):
        for f in ("estimate", "low", "high"):
            np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-9, atol=1e-12)


def _arpu_changes(rng, n: int) -> np.ndarray:
    """Month-on-month ARPU changes as an operator's outcomes have them: small moves for most
    lines, minus the whole ARPU (gamma, mean 60 yuan) for the 3 % who left — a skewed value."""
    arpu = rng.gamma(2.0, 30.0, n)
    left = rng.random(n) < 0.03
    return np.where(left, -arpu, rng.normal(0.0, 5.0, n))


def test_large_arms_through_their_normal_limit_give_the_bootstrap_interval():
    """Arms of ≥ ``normal_rows`` rows drawn from their normal limit give the intervals of
    resampling every row, within the replicates' Monte Carlo error, for every grouping — with
    large treated arms, small control arms, and a grouping whose arms are all small."""
    rng = np.random.default_rng(7)
    n = 80_000
    tr = rng.random(n) < 0.93  # 74 400 treated, 5 600 controls
    values = _arpu_changes(rng, n) + np.where(tr, 0.4, 0.0)
    by_branch = rng.integers(0, 3, n)  # treated ≈ 24 800 a branch: normal; controls ≈ 1 870: not
    by_staff = rng.integers(0, 60, n)  # ≈ 1 240 treated a person: resampled row by row
    groupings = [None, by_branch, by_staff]
    fast = metrics.bootstrap_diff_cis(values, tr, groupings, n_boot=2000, seed=1)
    exact = metrics.bootstrap_diff_cis(values, tr, groupings, n_boot=2000, seed=2, normal_rows=None)
    for a, b in zip(fast, exact, strict=True):
        np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-9, atol=1e-9)
        width = b.high - b.low
        assert np.all(np.abs(a.low - b.low) < 0.08 * width)
        assert np.all(np.abs(a.high - b.high) < 0.08 * width)
    # the overall interval covers the true shift (0.4) and is as wide as the exact one
    assert fast[0].low[0] < 0.4 < fast[0].high[0]
    assert abs((fast[0].high - fast[0].low)[0] / (exact[0].high - exact[0].low)[0] - 1) < 0.05


def test_the_normal_limit_is_drawn_with_the_poisson_bootstraps_moments():
    """A single large arm (one group, no controls needed): the replicate mean's spread is the
    Poisson bootstrap's, √(Σ(v − v̄)²)/m — checked on the treated-minus-control difference with
    a control arm of constant values (no spread of its own)."""
    rng = np.random.default_rng(3)
    m = 50_000
    values = np.r_[_arpu_changes(rng, m), np.zeros(3000)]
    tr = np.r_[np.ones(m, bool), np.zeros(3000, bool)]
    iv = metrics.bootstrap_diff_cis(values, tr, [None], n_boot=4000, seed=5, level=0.6827)[0]
    se = values[:m].std() / np.sqrt(m)
    assert (iv.high[0] - iv.low[0]) / 2 == pytest.approx(se, rel=0.05)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(0, 6),
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    level=st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99, 1.0]),
)
def test_row_quantiles_are_numpys(rows, n, seed, level):
    """The bootstrap's interval ends are NumPy's ``nanquantile`` of each replicate row, to the
    bit: rows without NaN, with some, all NaN (NaN, no warning), ties, infinities, one column."""
    import warnings

    from weixi.evaluate.metrics import row_nanquantiles

    rng = np.random.default_rng(seed)
    a = np.round(rng.normal(size=(rows, n)), int(rng.integers(0, 3)))
    kind = rng.integers(0, 4, rows)
    for r in range(rows):
        if kind[r] == 1:
            a[r, rng.random(n) < 0.3] = np.nan
        elif kind[r] == 2:
            a[r] = np.nan
        elif kind[r] == 3:
            a[r, rng.integers(0, n)] = rng.choice([np.inf, -np.inf])
    qs = ((1 - level) / 2, 1 - (1 - level) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # NumPy's all-NaN-slice warning
        got = row_nanquantiles(a, qs)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        want = [np.nanquantile(a, q, axis=1) if rows else np.empty(0) for q in qs]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
