import json

import numpy as np
import pytest

from weixi.churn import registry, service
from weixi.churn.reasons import describe
from weixi.errors import ModelError, NotFoundError
from weixi.store.months import churn_label_sql


def test_train_score_promote_and_drift(history_con, settings, fast_params):
    con, months = history_con
    as_of = months[-2]
    info = service.train(con=con, month=as_of, params=fast_params)
    assert info["active"] and info["horizons"] == [1, 2, 3]
    # time-honest: the training window ends before the month whose outcome is unknown at as_of
    assert info["window"][1] < f"{as_of:%Y-%m}"
    folder = settings.models_dir / "churn" / info["version"]
    assert (folder / "h1.txt").exists() and (folder / "meta.json").exists()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["horizons"]["1"]["calib_months"] == [months[-3].isoformat()]
    assert meta["config"]["monthly"]["horizons"] == [1, 2, 3]

    res = service.score(con=con, month=as_of, engine="lightgbm", params=fast_params)
    assert res["model_version"] == info["version"]
    n_live = con.execute(
        "SELECT count(*) FROM snapshot WHERE month = ? AND status <> 'cancelled'", [as_of]
    ).fetchone()[0]
    rows = con.execute(
        "SELECT subscriber_id, model_version, p_churn, p_churn_2m, p_churn_3m, reasons "
        "FROM churn_scores WHERE month = ?",
        [as_of],
    ).fetchall()
    assert len(rows) == n_live == res["n"]
    p = np.array([r[2:5] for r in rows], dtype=float)
    assert ((p >= 0) & (p <= 1)).all()
    assert (p[:, 0] <= p[:, 1]).all() and (p[:, 1] <= p[:, 2]).all()
    assert {r[1] for r in rows} == {info["version"]}
    top = max(rows, key=lambda r: r[2])
    reasons = json.loads(top[5])
    assert 1 <= len(reasons) <= 3
    assert all(r["contribution"] > 0 for r in reasons)
    zh = describe(reasons[0], "zh-CN")
    assert zh and zh != describe(reasons[0], "en")
    # mean predicted churn is close to the observed rate of the next month
    observed = con.execute(f"SELECT avg(churned) FROM ({churn_label_sql(as_of)})").fetchone()[0]
    assert abs(res["mean_p_churn"] - observed) < 0.015

    # re-scoring replaces the month; drift rows exist for the score and every feature
    service.score(con=con, month=as_of, engine="lightgbm", params=fast_params)
    assert con.execute("SELECT count(*) FROM churn_scores").fetchone()[0] == n_live
    feats = con.execute(
        "SELECT count(DISTINCT feature) FROM churn_drift WHERE branch_id = '*'"
    ).fetchone()[0]
    assert feats == len(meta["features"]) + 1

    # a second model is registered but not active until promoted
    one = fast_params.model_copy(
        update={"monthly": fast_params.monthly.model_copy(update={"horizons": (1,)})}
    )
    second = service.train(con=con, month=months[-1], params=one)
    assert second["horizons"] == [1]
    assert not second["active"] and registry.get_active(con) == info["version"]
    registry.promote(con, second["version"])
    assert registry.get_active(con) == second["version"]
    with pytest.raises(NotFoundError):
        registry.promote(con, "churn-000000-999")


def test_backtest_beats_rule_and_is_calibrated(history_con, fast_params):
    con, months = history_con
    # keep 30 % of the stayers when training: the prior correction must keep it calibrated
    sampled = fast_params.model_copy(
        update={"monthly": fast_params.monthly.model_copy(update={"negative_rate": 0.3})}
    )
    bt = service.backtest(con=con, month=months[-2], params=sampled)
    assert bt["train_months"][-1] < bt["calibration_months"][0] < bt["month"]
    assert bt["model"]["top_decile_lift"] > bt["rule_c"]["top_decile_lift"]
    assert bt["model"]["auc"] > 0.7
    assert bt["model"]["ece"] <= 0.02
    assert len(bt["gains"]) == 10 and len(bt["branches"]) >= 2
    assert bt["rule_c_rates"]["C1"]["churn_rate"] > bt["rule_c_rates"]["C3"]["churn_rate"]


def test_errors_say_what_to_do(history_con):
    con, months = history_con
    with pytest.raises(NotFoundError, match="needs"):
        service.backtest(con=con, month=months[-1])
    with pytest.raises(ModelError, match="two consecutive months"):
        service.fit_as_of(con=con, as_of=months[0])
    with pytest.raises(NotFoundError, match="train"):
        service.score(con=con, month=months[-1])


def test_segment_codes_are_used_when_every_month_has_them(history_con, fast_params):
    con, months = history_con
    con.execute(
        "CREATE OR REPLACE TABLE segments AS SELECT month, subscriber_id, "
        "CASE WHEN contract_type = 'none' THEN 'A2' ELSE 'A3' END AS a, 'B3' AS b, "
        "CASE WHEN complaints > 0 THEN 'C1' ELSE 'C2' END AS c, 'blue' AS urgency FROM snapshot"
    )
    models = service.fit_as_of(con=con, as_of=months[-2], horizons=(1,), params=fast_params)
    assert models.with_segments and {"seg_a", "seg_c"} <= set(models.names)
    assert models.levels["seg_c"] == ["C1", "C2"]
    con.execute("DELETE FROM segments WHERE month = ?", [months[1]])
    assert not service.fit_as_of(
        con=con, as_of=months[-2], horizons=(1,), params=fast_params
    ).with_segments
