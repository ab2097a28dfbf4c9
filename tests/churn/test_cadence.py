"""The retrain cadence: the monthly job trains a challenger only when it is due."""

from __future__ import annotations

import pytest

from weixi.churn import cadence, service
from weixi.churn.params import RetrainParams


@pytest.fixture
def scored(history_con, fast_params):
    """A champion trained as of the second-to-last month, which scored that month."""
    con, months = history_con
    params = fast_params.model_copy(
        update={"monthly": fast_params.monthly.model_copy(update={"horizons": (1,)})}
    )
    return con, months, params


def _with(params, **retrain):
    return params.model_copy(update={"retrain": RetrainParams(**retrain)})


def test_no_champion_is_due(history_con, fast_params):
    con, months = history_con
    check = cadence.retrain_due(con, month=months[-1], params=fast_params)
    assert check == {"due": True, "reasons": ["no_model"], "figures": {}}


def test_a_fresh_champion_is_kept_then_due_by_age(scored):
    con, months, params = scored
    trained = service.train(con=con, month=months[-2], params=params)
    service.score(con=con, month=months[-2], params=params)
    check = cadence.retrain_due(con, month=months[-1], params=params)
    assert not check["due"] and check["reasons"] == []
    f = check["figures"]
    assert f["champion"] == trained["version"] and f["age_months"] == 1
    assert f["score_psi"] is not None and f["score_psi"] < params.retrain.score_psi
    # the champion's own scores of last month against who left: close to its validation AUC
    assert f["realized_month"] == months[-2].strftime("%Y-%m")
    # within noise of its validation AUC (a few dozen churners: ±0.03 on its own)
    assert f["realized_auc_upper"] >= f["validation_auc"] - params.retrain.auc_drop
    assert "kept" in cadence.describe(check, "en") and "保留" in cadence.describe(check, "zh-CN")
    # monthly cadence: due by age
    monthly = cadence.retrain_due(con, month=months[-1], params=_with(params, every_months=1))
    assert monthly["due"] and monthly["reasons"] == ["age"]
    assert "1 months old" in cadence.describe(monthly, "en")


def test_feature_drift_makes_a_retrain_due(scored):
    con, months, params = scored
    service.train(con=con, month=months[-2], params=params)
    # the month the champion scores moved: every ARPU five times larger
    con.execute("UPDATE snapshot SET arpu = arpu * 5 WHERE month = ?", [months[-2]])
    service.score(con=con, month=months[-2], params=params)
    check = cadence.retrain_due(con, month=months[-1], params=params)
    assert check["due"] and "feature_drift" in check["reasons"]
    assert check["figures"]["max_feature_psi"] >= params.retrain.feature_psi
    assert "arpu" in check["figures"]["max_psi_feature"]
    # the same check with drift switched off: not due
    off = _with(params, score_psi=0, feature_psi=0, auc_drop=0)
    assert not cadence.retrain_due(con, month=months[-1], params=off)["due"]


def test_a_champion_whose_ranking_decayed_is_due(scored):
    con, months, params = scored
    service.train(con=con, month=months[-2], params=params)
    service.score(con=con, month=months[-2], params=params)
    # its scores of last month no longer rank who left (as if the market changed)
    con.execute(
        "UPDATE churn_scores SET p_churn = hash(subscriber_id) % 1000 / 1000.0 WHERE month = ?",
        [months[-2]],
    )
    check = cadence.retrain_due(con, month=months[-1], params=params)
    assert check["due"] and check["reasons"] == ["auc_drop"]
    f = check["figures"]
    assert f["realized_auc"] < 0.6 < f["validation_auc"]
    assert f["realized_churners"] >= params.promotion.min_churners
    assert "AUC fell" in cadence.describe(check, "en")
