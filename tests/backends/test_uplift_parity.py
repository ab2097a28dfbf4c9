"""Parity: the uplift learners' models score a month on the Spark executors (``mapInArrow``)
with the same rows as on DuckDB (learned uplift, delta_p and take rates within 1e-9)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.evaluate.test_service import _load
from weixi.evaluate import acceptance, service
from weixi.evaluate.uplift import UpliftParams
from weixi.store.months import parse_month
from weixi.strategy.library import load_preset

M3 = parse_month("2026-03")


def _uplift_rows(con) -> list[tuple]:
    return con.execute(
        "SELECT subscriber_id, action, uplift, delta_p, take_rate, model_version FROM uplift "
        "WHERE month = ? ORDER BY subscriber_id, action",
        [M3],
    ).fetchall()


def _close(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x[:2] == y[:2] and x[5] == y[5], (x, y)
        for u, v in zip(x[2:5], y[2:5], strict=True):
            assert (u is None and v is None) or abs(u - v) <= 1e-9, (x, y)


@pytest.mark.spark
def test_uplift_and_take_rates_on_spark_executors_match_duckdb(spark, fresh_con, settings):
    con = _load(fresh_con, n=3000)
    for m in ("2026-01", "2026-02"):
        service.build_outcomes(con=con, month=parse_month(m))
    months = service.evaluated_months(con=con)
    meta = service.train_uplift(con=con, params=UpliftParams(n_estimators=30, min_arm_size=100))
    model, _ = service.get_uplift_model(meta["version"])
    # month 3's lines: segments (some excluded) and churn scores, some below the floor
    con.execute(
        "CREATE OR REPLACE TABLE segments AS SELECT month, subscriber_id, line_type, "
        "hash(subscriber_id) % 13 = 0 AS excluded FROM snapshot WHERE month = DATE '2026-03-01'"
    )
    con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'm1' AS "
        "model_version, CASE WHEN hash(subscriber_id) % 5 = 0 THEN 0.001 "
        "ELSE (hash(subscriber_id) % 1000) / 5000.0 END AS p_churn FROM segments"
    )
    # an acceptance model on the treated customers' features (answers drawn from them)
    df, X, _arm, _y = service.uplift_training_frame(con=con, months=months)
    treated = ~df["is_control"].to_numpy(bool)
    rng = np.random.default_rng(1)
    p_accept = 1 / (1 + np.exp(-(X[:, 0] - X[:, 0].mean()) / (X[:, 0].std() + 1e-9)))
    take_model = acceptance.fit_acceptance(
        X[treated],
        df["action"].astype(str).to_numpy()[treated],
        rng.random(treated.sum()) < p_accept[treated],
        feature_names=list(service.UPLIFT_FEATURES),
        min_contacted=100,
        rounds=40,
    )
    lib = load_preset()
    kinds = {a.key: a.line_type for a in lib.actions}

    def run(engine: str) -> tuple[dict, dict, list[tuple]]:
        up = service.score_uplift(
            con=con,
            month=M3,
            model=model,
            version=meta["version"],
            action_line_types=kinds,
            mean_effect={"care_call": 0.8, "prepay_credit": 0.7},
            skip_actions=["package_fit"],
            prior_uplift={a.key: a.uplift for a in lib.actions},
            n_treated={"care_call": 300, "prepay_credit": 250},
            shrink_treated=200,
            engine=engine,
        )
        take = acceptance.write_take_rates(
            con=con,
            month=M3,
            model=take_model,
            version="acc-1",
            action_line_types=kinds,
            engine=engine,
        )
        return up, take, _uplift_rows(con)

    duck_up, duck_take, duck = run("duckdb")
    sprk_up, sprk_take, sprk = run("spark")
    _close(duck, sprk)
    assert duck_up == sprk_up and duck_take == sprk_take
    # the month means something: learned rows, take-only rows, excluded lines left out
    assert duck_up["rows"] > 1000 and duck_up["lines"] > 2000
    learned = {r[1] for r in duck if r[2] is not None}
    assert learned == set(model.actions) & set(kinds) - {"package_fit"} and learned
    assert any(r[2] is None and r[4] is not None for r in duck)
    excluded = {
        r[0] for r in con.execute("SELECT subscriber_id FROM segments WHERE excluded").fetchall()
    }
    assert excluded and not excluded & {r[0] for r in sprk}
