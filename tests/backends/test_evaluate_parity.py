"""Parity: a month's campaign outcomes built on Spark are the rows DuckDB builds, so the
evaluation (lifts, bootstrap intervals, verdicts) gives identical figures."""

from __future__ import annotations

import pytest

from tests.evaluate.test_service import _load
from weixi.evaluate import service
from weixi.store.months import parse_month

M = parse_month("2026-02")


@pytest.mark.spark
def test_outcomes_and_evaluation_identical_on_duckdb_and_spark(spark, fresh_con, settings):
    con = _load(fresh_con, n=3000)
    con.execute(
        "CREATE OR REPLACE TABLE segments AS SELECT month, subscriber_id, "
        "'G' || CAST(hash(subscriber_id) % 4 AS VARCHAR) AS stability_group, "
        "CASE WHEN hash(subscriber_id) % 3 = 0 THEN 'high' END AS urgency, FALSE AS excluded "
        "FROM snapshot"
    )
    rows = "SELECT * FROM evaluation_outcomes WHERE month = ? ORDER BY campaign_id, subscriber_id"
    report = {}
    built = {}
    for engine in ("duckdb", "spark"):
        report[engine] = service.evaluate_month(
            con=con, month=M, rebuild=True, engine=engine, n_boot=200
        )
        built[engine] = con.execute(rows, [M]).fetchall()
    assert built["duckdb"] == built["spark"]
    assert len(built["duckdb"]) == 1000
    assert report["duckdb"] == report["spark"]
    # the figures mean something: churners in both arms, a breakdown by segment
    overall = report["duckdb"]["overall"]
    assert overall["n_treated"] > 700 and overall["n_control"] > 150
    assert 0 < overall["churn_rate_control"] < 1
    assert len(report["duckdb"]["by"]["segment"]) == 4
