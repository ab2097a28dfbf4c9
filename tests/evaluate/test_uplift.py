"""Uplift learners, Qini and deciles on data with a known effect."""

from __future__ import annotations

import numpy as np
import pytest

from weixi.errors import ModelError
from weixi.evaluate.uplift import (
    UpliftModel,
    UpliftParams,
    fit_uplift,
    qini_coefficient,
    qini_curve,
    uplift_by_decile,
)

# pure computations (an in-memory DuckDB at most): no operational database, one run
pytestmark = pytest.mark.one_db


def _data(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    arm = rng.choice(np.array(["", "care_call", "prepay_data"]), n, p=[0.4, 0.3, 0.3])
    true = np.where(arm == "care_call", 0.15 * (X[:, 0] > 0), 0.0) + np.where(
        arm == "prepay_data", 0.1 * (X[:, 1] > 0), 0.0
    )
    y = (rng.random(n) < 0.75 + true).astype(float)
    return X, arm, y


@pytest.mark.parametrize("learner", ["t", "x"])
def test_learners_recover_who_responds_to_which_action(learner):
    X, arm, y = _data()
    m = fit_uplift(X, arm, y, params=UpliftParams(learner=learner, n_estimators=40))
    assert m.actions == ["care_call", "prepay_data"]
    u = m.predict(X)
    pos0 = X[:, 0] > 0
    assert u[pos0, 0].mean() - u[~pos0, 0].mean() > 0.07
    pos1 = X[:, 1] > 0
    assert u[pos1, 1].mean() - u[~pos1, 1].mean() > 0.025
    again = UpliftModel.from_json(m.to_json())
    assert np.allclose(again.predict(X[:50]), u[:50])


def test_fit_uplift_needs_a_control_group():
    X, arm, y = _data(2000)
    with pytest.raises(ModelError, match="control"):
        fit_uplift(X[arm != ""], arm[arm != ""], y[arm != ""])


def test_qini_and_deciles_rank_a_good_score_above_a_random_one():
    X, arm, y = _data(20_000, seed=2)
    keep = arm != "prepay_data"
    X, arm, y = X[keep], arm[keep], y[keep]
    treated = arm == "care_call"
    good = (X[:, 0] > 0).astype(float) + 0.01 * X[:, 0]
    rand = np.random.default_rng(1).random(len(y))
    q_good, q_rand = qini_coefficient(good, treated, y), qini_coefficient(rand, treated, y)
    assert q_good > 0.004 and q_good > 3 * abs(q_rand)
    dec = uplift_by_decile(good, treated, y)
    assert dec["observed_uplift"][:4].mean() > dec["observed_uplift"][-4:].mean() + 0.08
    assert dec["n_treated"].sum() + dec["n_control"].sum() == len(y)
    frac, q = qini_curve(good, treated, y)
    assert frac[0] == 0 and frac[-1] == 1 and len(frac) == len(q)


def test_each_action_learns_against_its_own_controls():
    # the plan gives care_call to customers who churn a lot untreated (hidden from X) and
    # prepay_data to loyal ones; the control is drawn among each action's planned customers.
    # Both actions add 5 pp of retention.
    rng = np.random.default_rng(4)
    n = 30_000
    risky = rng.random(n) < 0.5
    planned = np.where(risky, "care_call", "prepay_data")
    arm = np.where(rng.random(n) < 0.2, "", planned)
    y = (rng.random(n) < np.where(risky, 0.6, 0.9) + 0.05 * (arm != "")).astype(float)
    X = rng.normal(size=(n, 3))
    p = UpliftParams(n_estimators=15, num_leaves=4)
    own = fit_uplift(X, arm, y, params=p, control_action=planned).predict(X).mean(axis=0)
    assert own.tolist() == pytest.approx([0.05, 0.05], abs=0.02)
    # pooled controls confound the effect with who got the action
    pooled = fit_uplift(X, arm, y, params=p).predict(X).mean(axis=0)
    assert pooled[0] < -0.05 and pooled[1] > 0.15
