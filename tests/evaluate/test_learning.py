"""The closed loop's evaluation side: learned uplift in the library's unit, the adjustment's
segment posteriors and its "what changed" report rebuilt for the web app."""

from __future__ import annotations

import numpy as np
import pytest

from tests.evaluate.test_service import _load
from weixi.evaluate import service
from weixi.evaluate.uplift import UpliftParams
from weixi.store.months import parse_month
from weixi.strategy.library import load_preset

M2, M3 = parse_month("2026-02"), parse_month("2026-03")


@pytest.fixture
def loaded(fresh_con):
    return _load(fresh_con, n=3000)


def test_adjustment_writes_library_units_and_the_report_rebuilds(loaded):
    con = loaded
    lib = load_preset()
    out = service.adjust_plan(
        con=con,
        month=M2,
        prior_uplift={a.key: a.uplift for a in lib.actions},
        channel_effect={c.key: c.effect for c in lib.channels},
        uplift_range=(0.0, 0.9),
    )
    df = con.execute("SELECT * FROM plan_adjustments WHERE month = ?", [M3]).df()
    assert set(df["action"]) == {"care_call", "prepay_credit", "package_fit"}
    # every treated customer was planned through the call center (effect 0.8)
    expect = np.clip(df["lift_mean"] / (df["churn_control"] * 0.8), 0.0, 0.9)
    assert np.allclose(df["uplift"], expect)
    assert ((df["churn_control"] > 0) & (df["churn_control"] < 0.5)).all()
    # the report is rebuilt from the table, in either language
    en = service.plan_changes(con=con, month=M3, locale="en")
    assert en["report"] == out["report"] and en["evaluated_month"] == "2026-02"
    zh = service.plan_changes(con=con, locale="zh-CN")
    assert zh["month"] == "2026-03" and "细分群" in zh["report"][0]
    assert {r["segment"] for r in en["segments"]} == set(df["segment"])
    assert service.plan_changes(con=con, month=parse_month("2030-01")) is None


def test_the_adjustment_divides_by_the_reach_matching_multiplies_by(loaded):
    """Matching multiplies a segment posterior's uplift by the channel's measured reach once
    reach is learned, so the adjustment must divide the measured lift by that reach — not by
    the configured one (which would inflate the uplift by their ratio)."""
    from weixi.dispatch.schemas import default_campaign
    from weixi.evaluate.acceptance import channel_effects
    from weixi.flows import _adjust

    con = loaded
    service.build_outcomes(con=con, month=M2)
    # the call center (configured effect 0.8) reached only 40 % of the treated
    con.execute(
        "UPDATE evaluation_outcomes SET contacted = (hash(subscriber_id) % 10) < 4 "
        "WHERE NOT is_control"
    )
    lib = load_preset()
    configured = {c.key: c.effect for c in lib.channels}
    measured = channel_effects(
        con=con, months=service.evaluated_months(con=con, up_to=M2), configured=configured
    )["call_center"]["effect"]
    assert measured < 0.6
    _adjust(con=con, month=M2, spec=default_campaign(M3), lib=lib, locale="en")
    df = con.execute("SELECT * FROM plan_adjustments WHERE month = ?", [M3]).df()
    expect = np.clip(df["lift_mean"] / (df["churn_control"] * measured), 0.0, 0.9)
    assert np.allclose(df["uplift"], expect)
    inflated = np.clip(df["lift_mean"] / (df["churn_control"] * 0.8), 0.0, 0.9)
    assert not np.allclose(df["uplift"], inflated)


def test_learned_uplift_is_scored_in_the_library_unit(loaded, settings, monkeypatch):
    from weixi.evaluate import scoring

    # the month is scored a batch at a time: many batches here, checked against the whole frame
    monkeypatch.setattr(scoring, "BATCH_ROWS", 97)
    con = loaded
    for m in ("2026-01", "2026-02"):
        service.build_outcomes(con=con, month=parse_month(m))
    months = service.evaluated_months(con=con)
    ev = service.learning_evidence(con=con, months=months)
    assert ev["months"] == 2 and ev["treated"] + ev["control"] == 2000
    assert set(ev["treated_by_action"]) == {"care_call", "prepay_credit", "package_fit"}
    meta = service.train_uplift(con=con, params=UpliftParams(n_estimators=30, min_arm_size=100))
    model, _ = service.get_uplift_model(meta["version"])
    # month 3's lines: segments (one excluded) and churn scores, some below the floor
    con.execute(
        "CREATE OR REPLACE TABLE segments AS SELECT month, subscriber_id, line_type, "
        "row_number() OVER (ORDER BY subscriber_id) = 1 AS excluded FROM snapshot "
        "WHERE month = DATE '2026-03-01'"
    )
    con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'm1' AS model_version, "
        "CASE WHEN hash(subscriber_id) % 5 = 0 THEN 0.001 ELSE 0.08 END AS p_churn "
        "FROM segments"
    )
    lib = load_preset()
    eff = service.mean_channel_effect(
        con=con, months=months, channel_effect={c.key: c.effect for c in lib.channels}
    )
    assert np.allclose(eff["effect"], 0.8)
    out = service.score_uplift(
        con=con,
        month=M3,
        model=model,
        version=meta["version"],
        action_line_types={a.key: a.line_type for a in lib.actions},
        mean_effect=dict(zip(eff["action"], eff["effect"], strict=True)),
        skip_actions=["prepay_credit"],
        uplift_range=(0.0, 0.9),
        p_churn_floor=0.01,
    )
    got = con.execute(
        "SELECT u.*, s.line_type, c.p_churn FROM uplift u "
        "JOIN segments s USING (subscriber_id) JOIN churn_scores c USING (subscriber_id)"
    ).df()
    assert len(got) == out["rows"] > 0
    targetable = con.execute("SELECT count(*) FROM segments WHERE NOT excluded").fetchone()[0]
    assert out["lines"] == targetable > 3 * 97
    assert (
        not got["subscriber_id"]
        .isin(
            con.execute("SELECT subscriber_id FROM segments WHERE excluded").df()["subscriber_id"]
        )
        .any()
    )
    # only learned actions that the line type allows; skipped actions keep the configured effect
    assert set(got["action"]) <= set(model.actions) - {"prepay_credit"}
    assert not ((got["action"] == "package_fit") & (got["line_type"] != "mobile")).any()
    # unit: delta P(stay) / (max(P(churn), floor) × mean channel effect), clipped
    expect = np.clip(got["delta_p"] / (np.maximum(got["p_churn"], 0.01) * 0.8), 0.0, 0.9)
    assert np.allclose(got["uplift"], expect)
    assert got["uplift"].between(0.0, 0.9).all()
    # the prediction is the model's, on the month's own features
    frame, X = service.uplift_scoring_frame(con=con, month=M3)
    pred = model.predict(X)[:, model.actions.index("care_call")]
    mine = dict(zip(frame["subscriber_id"], pred, strict=True))
    cc = got[got["action"] == "care_call"]
    assert np.allclose(cc["delta_p"], cc["subscriber_id"].map(mine))
    # shrinkage: n treated customers weigh n / (n + shrink) against the configured uplift
    shrunk = service.score_uplift(
        con=con,
        month=M3,
        model=model,
        version=meta["version"],
        action_line_types={"care_call": "any"},
        mean_effect=dict(zip(eff["action"], eff["effect"], strict=True)),
        prior_uplift={"care_call": 0.15},
        n_treated={"care_call": 300},
        shrink_treated=900,
    )
    assert shrunk["weights"] == {"care_call": 0.25}
    raw = cc.set_index("subscriber_id")["uplift"]
    new = con.execute("SELECT subscriber_id, uplift FROM uplift").df().set_index("subscriber_id")
    assert np.allclose(new["uplift"], 0.25 * raw.loc[new.index] + 0.75 * 0.15)
    # re-scoring replaces the month
    service.score_uplift(
        con=con,
        month=M3,
        model=model,
        version=meta["version"],
        action_line_types={"care_call": "any"},
        mean_effect={},
    )
    assert con.execute("SELECT count(DISTINCT action) FROM uplift").fetchone()[0] == 1
