import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from weixi.churn import metrics
from weixi.churn.calibrate import apply_calibrator, fit_calibrator, prior_correct
from weixi.churn.drift import _bin, psi


def test_lift_counts_ties_at_their_average_rate():
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    coarse = np.array([2, 2, 2, 2, 1, 1, 1, 1, 1, 1])  # 4 tied at the top, 2 churners among them
    # top 10 % = 1 line; expected churners = 0.5, base rate = 0.2 -> lift 2.5
    assert metrics.top_fraction_lift(y, coarse, 0.1) == pytest.approx(2.5)
    assert metrics.top_fraction_lift(y, -np.arange(10.0), 0.1) == pytest.approx(5.0)


def test_ece_and_gains():
    rng = np.random.default_rng(0)
    p = rng.random(20000) * 0.2
    y = (rng.random(20000) < p).astype(int)
    assert metrics.ece(y, p) < 0.01
    assert metrics.ece(y, np.clip(p + 0.1, 0, 1)) > 0.09
    gains = metrics.gains_table(y, p)
    assert [g["decile"] for g in gains] == list(range(1, 11))
    assert gains[-1]["cum_capture"] == pytest.approx(1.0)
    assert gains[0]["lift"] > gains[-1]["lift"]
    assert sum(g["n"] for g in gains) == 20000


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_fixes_a_biased_score(method):
    rng = np.random.default_rng(1)
    true = rng.random(30000) * 0.1
    y = (rng.random(30000) < true).astype(int)
    raw = np.sqrt(true)  # monotone but badly calibrated
    cal = fit_calibrator(raw, y, method)
    fixed = apply_calibrator(cal, raw)
    assert metrics.ece(y, raw) > 0.1
    assert metrics.ece(y, fixed) < 0.01
    assert cal.model_dump()["method"] == method  # JSON-able


def test_prior_correction_undoes_negative_downsampling():
    rng = np.random.default_rng(2)
    y = (rng.random(200000) < 0.02).astype(int)
    keep = (y == 1) | (rng.random(len(y)) < 0.1)
    trained_rate = y[keep].mean()  # what a model sees after keeping 10 % of negatives
    assert prior_correct(np.array([trained_rate]), 0.1)[0] == pytest.approx(0.02, rel=0.05)


def test_psi():
    assert psi(np.array([10, 20, 70]), np.array([10, 20, 70])) == pytest.approx(0.0)
    assert psi(np.array([50, 50]), np.array([90, 10])) > 0.2


def test_drift_counts_read_the_branch_from_arrow_as_from_numpy():
    """Scoring hands each batch's Arrow branch column to the drift counts: the same counts as
    through a NumPy array, a missing branch and one the reference never saw counted in no
    branch (the whole-base row still has every line)."""
    import pyarrow as pa

    from weixi.churn.drift import psi_counts, psi_rows, reference

    rng = np.random.default_rng(1)
    n = 3000
    X = rng.normal(size=(n, 2))
    X[rng.random((n, 2)) < 0.1] = np.nan
    X[:, 1] = np.where(np.isnan(X[:, 1]), np.nan, rng.integers(0, 3, n))
    names, score = ["usage", "level"], rng.random(n)
    branch = rng.choice(np.array(["HZ", "NB", "WZ"], dtype=object), n)
    ref = reference(X, names, {"level": 3}, branch, score)
    later = branch.copy()
    later[:100], later[100:150] = None, "QZ"  # missing, and a branch new since the reference
    arrow = pa.array(later.tolist(), pa.string())
    got = psi_counts(ref, X, names, arrow, score)
    want = psi_counts(ref, X, names, later, score)
    assert got.keys() == want.keys() == {"usage", "level", "__score__"}
    for name in got:
        np.testing.assert_array_equal(got[name], want[name])
        assert got[name].sum() == n - 150
    chunked = psi_counts(ref, X, names, pa.chunked_array([arrow[:1000], arrow[1000:]]), score)
    np.testing.assert_array_equal(chunked["usage"], got["usage"])
    # scoring hands over the features-major matrix's transpose (a column is a contiguous row)
    by_feature = np.ascontiguousarray(X.T)
    transposed = psi_counts(ref, by_feature.T, names, arrow, score)
    for name in got:
        np.testing.assert_array_equal(transposed[name], got[name])
    rows = psi_rows(ref, got)
    assert set(rows["branch_id"]) >= {"HZ", "NB", "WZ"}


def test_drift_bins_and_counts_as_counted_one_by_one():
    """A column's reference edges are the deciles of its non-missing values (the column left
    as it was), and the counts per (branch, bin) those a plain tally gives — every branch
    known, some unknown (-1, left out), and no rows."""
    from collections import Counter

    from weixi.churn.drift import _bin, _counts, _edges

    rng = np.random.default_rng(4)
    x = np.round(rng.gamma(2.0, 10.0, 5000))  # ties, as usage figures have
    x[rng.random(5000) < 0.1] = np.nan
    before = x.copy()
    edges = _edges(x, 10)
    np.testing.assert_array_equal(x, before)
    ok = x[~np.isnan(x)]
    assert edges == sorted(set(np.quantile(ok, np.linspace(0, 1, 11)[1:-1]).tolist()))
    bins = _bin(x, edges)
    n_bins = len(edges) + 2
    for branch in (rng.integers(0, 3, 5000), rng.integers(-1, 3, 5000)):
        got = _counts(bins, branch, 3, n_bins)
        tally = Counter((int(b), int(k)) for b, k in zip(branch, bins, strict=True) if b >= 0)
        want = np.zeros((3, n_bins), dtype=np.int64)
        for (b, k), c in tally.items():
            want[b, k] = c
        np.testing.assert_array_equal(got, want)
    empty = np.array([], dtype=np.int64)
    assert _counts(empty.astype(np.int8), empty, 3, n_bins).sum() == 0
    assert _edges(np.array([np.nan]), 10) == []


def test_drift_reference_in_threads_equals_one_column_at_a_time():
    """Binning the reference's columns on two threads gives the reference one thread gives,
    from the matrix and from a function handing out its columns."""
    from weixi.churn.drift import reference

    rng = np.random.default_rng(6)
    n = 4000
    X = rng.gamma(2.0, 5.0, size=(n, 5))
    X[rng.random((n, 5)) < 0.1] = np.nan
    X[:, 2] = np.where(np.isnan(X[:, 2]), np.nan, rng.integers(0, 4, n))
    names = ["a", "b", "lvl", "c", "d"]
    branch = rng.choice(np.array(["HZ", "NB", "WZ"], dtype=object), n)
    score = rng.random(n)
    one = reference(X, names, {"lvl": 4}, branch, score)
    assert set(one["features"]) == {*names, "__score__"}
    assert reference(X, names, {"lvl": 4}, branch, score, threads=2) == one
    assert reference(lambda j: X[:, j].copy(), names, {"lvl": 4}, branch, score, threads=2) == one


def test_paired_bootstrap_matches_the_point_metrics_and_is_deterministic():
    from sklearn.metrics import roc_auc_score

    from weixi.churn.metrics import paired_bootstrap, top_fraction_lift

    rng = np.random.default_rng(5)
    y = (rng.random(4000) < 0.08).astype(int)
    better = np.round(y * 0.6 + rng.random(4000), 2)  # rounded: many tied scores
    worse = np.round(y * 0.3 + rng.random(4000), 1)
    r = paired_bootstrap(y, better, worse, resamples=200, seed=3)
    assert r["auc_new"] == pytest.approx(roc_auc_score(y, better), abs=1e-12)
    assert r["auc_old"] == pytest.approx(roc_auc_score(y, worse), abs=1e-12)
    assert r["lift_old"] == pytest.approx(top_fraction_lift(y, worse, 0.1), abs=1e-12)
    assert r["d_auc"] == pytest.approx(r["auc_new"] - r["auc_old"])
    assert 0 < r["d_auc_lo"] < r["d_auc"] < r["d_auc_hi"]
    assert r["d_lift_lo"] < r["d_lift"] < r["d_lift_hi"]
    # fixed seed: the same interval every time; another seed: another (close) interval
    assert paired_bootstrap(y, better, worse, resamples=200, seed=3) == r
    other = paired_bootstrap(y, better, worse, resamples=200, seed=4)
    assert other["d_auc_lo"] != r["d_auc_lo"] and abs(other["d_auc_lo"] - r["d_auc_lo"]) < 0.01
    # the same scores: the difference is exactly zero in every resample
    same = paired_bootstrap(y, better, better, resamples=50)
    assert same["d_auc_lo"] == same["d_auc_hi"] == same["d_lift_lo"] == 0.0


def test_shift_prior_and_shifted_calibrators():
    from weixi.churn.calibrate import (
        apply_calibrator,
        fit_calibrator,
        oversampled,
        shift_calibrator,
        shift_prior,
    )

    rng = np.random.default_rng(0)
    raw = rng.random(4000)
    y = (rng.random(4000) < raw).astype(int)  # calibrated at a 50 % share
    moved = shift_prior(raw, 0.5, 0.05)
    assert np.all(np.diff(moved[np.argsort(raw)]) >= 0)  # same order
    # odds scaled by (0.05/0.95) / (0.5/0.5)
    odds = moved / (1 - moved)
    assert np.allclose(odds, raw / (1 - raw) * (0.05 / 0.95))
    for method in ("isotonic", "platt", "none"):
        cal = fit_calibrator(raw, y, method)
        shifted = shift_calibrator(cal, 0.5, 0.05)
        expected = shift_prior(apply_calibrator(cal, raw), 0.5, 0.05)
        assert np.allclose(apply_calibrator(shifted, raw), expected, atol=1e-6), method
    assert oversampled(0.5, 0.02) and not oversampled(0.26, 0.2)


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_weights_give_each_resample_its_own_auc_and_lift(ties):
    """The integer counts path gives, resample by resample, what scoring the resampled rows
    themselves gives (sklearn's AUC and the top-decile lift), ties and no churners included."""
    from sklearn.metrics import roc_auc_score

    from weixi.churn.metrics import _pooled, _weighted_auc_lift, top_fraction_lift

    rng = np.random.default_rng(7)
    n, m = 3000, 12
    y = (rng.random(n) < 0.04).astype(int)
    p = y * 0.4 + rng.random(n)
    p = np.round(p, 1) if ties else p
    idx = rng.integers(0, n, size=(m, n))
    w = np.stack([np.bincount(r, minlength=n) for r in idx]).astype(np.int32)
    auc, lift = _weighted_auc_lift(w, _pooled(y, p), 0.1)
    for r in range(m):
        assert auc[r] == pytest.approx(roc_auc_score(y[idx[r]], p[idx[r]]), abs=1e-12)
        assert lift[r] == pytest.approx(top_fraction_lift(y[idx[r]], p[idx[r]], 0.1), abs=1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        none_auc, none_lift = _weighted_auc_lift(w, _pooled(0 * y, p), 0.1)
    assert np.isnan(none_auc).all() and np.isnan(none_lift).all()


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-5, 5, allow_nan=False), st.sampled_from([0.0, 1.0, np.nan])),
        max_size=60,
    ),
    edges=st.lists(st.sampled_from([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0]), max_size=9),
)
def test_drift_bins_are_a_search_of_the_edges(values, edges):
    """Each value's bin is the number of edges at or below it (ties at an edge go right,
    repeated edges count each time); missing values take the last bin."""
    x = np.array(values, dtype=float)
    edges = sorted(edges)
    expected = np.where(
        np.isnan(x), len(edges) + 1, np.searchsorted(np.array(edges), x, side="right")
    )
    np.testing.assert_array_equal(_bin(x, edges), expected)
    strided = np.repeat(x, 2)[::2]  # a column of a row-major matrix
    np.testing.assert_array_equal(_bin(strided, edges), expected)
