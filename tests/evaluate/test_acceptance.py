"""Acceptance learned from reached customers' answers: who takes which offer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from weixi.errors import NotFoundError
from weixi.evaluate.acceptance import AcceptanceModel, fit_acceptance

# pure computations (an in-memory DuckDB at most): no operational database, one run
pytestmark = pytest.mark.one_db


def _answers(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    action = rng.choice(["handset_upgrade", "care_call"], n)
    # old handsets (x0) take the upgrade; the care call is taken by the unhappy (x1)
    logit = np.where(action == "handset_upgrade", -1.0 + 2.0 * X[:, 0], 0.5 + 1.5 * X[:, 1])
    p = 1 / (1 + np.exp(-logit))
    return X, action, rng.random(n) < p, p


def test_acceptance_model_learns_who_takes_which_offer():
    X, action, accepted, _ = _answers(8000, 0)
    m = fit_acceptance(X, action, accepted, feature_names=["x0", "x1", "x2"], min_contacted=100)
    assert m.actions == ["care_call", "handset_upgrade"]
    assert m.auc is not None and m.auc > 0.75
    Xt, at, yt, pt = _answers(4000, 1)
    for a in m.actions:
        rows = at == a
        pred = m.predict(Xt[rows], a)
        assert roc_auc_score(yt[rows], pred) > 0.72
        # calibrated on average: the predicted take rate matches the true one
        assert abs(pred.mean() - pt[rows].mean()) < 0.03
    # the same customer, two offers: each model follows its own driver
    old_handset = np.array([[2.0, -1.0, 0.0]])
    assert m.predict(old_handset, "handset_upgrade")[0] > m.predict(old_handset, "care_call")[0]
    again = AcceptanceModel.from_json(m.to_json())
    assert np.allclose(again.predict(Xt[:50], "care_call"), m.predict(Xt[:50], "care_call"))


def test_actions_with_few_answers_keep_their_configured_take_rate():
    X, action, accepted, _ = _answers(3000, 2)
    action[: len(action) - 150] = "care_call"  # 150 handset answers at most
    m = fit_acceptance(X, action, accepted, feature_names=["a", "b", "c"], min_contacted=200)
    assert m.actions == ["care_call"]
    with pytest.raises(NotFoundError):
        fit_acceptance(X[:100], action[:100], accepted[:100], feature_names=["a", "b", "c"])
