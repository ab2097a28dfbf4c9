"""One SQL definition on two engines: the md5 draws and keys agree, a chain of links runs the
same on DuckDB and Spark, and results come back to the store."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
import pytest

from weixi.dispatch.holdout import uniform
from weixi.store.analytics import connect
from weixi.store.sqlrun import DuckRun, SparkRun, hash_key_sql, uniform_sql

IDS = [f"S{i:010d}" for i in range(2000)]


def _store():
    con = connect(":memory:")
    con.execute(
        "CREATE TABLE lines AS SELECT 'S' || lpad(CAST(i AS VARCHAR), 10, '0') AS subscriber_id, "
        "i % 7 AS grp, i * 0.5 AS value FROM range(2000) t(i)"
    )
    return con


def _chain(run) -> tuple[list[tuple], pd.DataFrame]:
    run.create(
        "keyed",
        f"SELECT subscriber_id, grp, value, {hash_key_sql('subscriber_id')} AS sid, "
        f"{uniform_sql('subscriber_id', 'salt-1')} AS u FROM lines",
    )
    run.frame("weights", pd.DataFrame({"grp": range(7), "w": [float(g) for g in range(7)]}))
    run.create(
        "picked",
        "SELECT k.grp, arg_max(k.subscriber_id, (k.u, -k.sid)) AS top, count(*) AS n "
        "FROM keyed k JOIN weights USING (grp) WHERE k.u < 0.5 GROUP BY k.grp",
    )
    rows = run.rows("SELECT subscriber_id, sid, u FROM keyed ORDER BY subscriber_id")
    return rows, run.df("SELECT * FROM picked ORDER BY grp")


def test_the_draws_equal_their_python_reference():
    """``uniform_sql`` is :func:`weixi.dispatch.holdout.uniform`; ``hash_key_sql`` is the first
    60 bits of the md5 of the text (positive, so it fits a BIGINT)."""
    con = _store()
    rows, _ = _chain(DuckRun(con))
    assert [r[0] for r in rows] == IDS
    assert [r[2] for r in rows] == list(uniform(IDS, "salt-1"))
    assert [r[1] for r in rows] == [int(hashlib.md5(s.encode()).hexdigest()[:15], 16) for s in IDS]
    assert min(r[1] for r in rows) > 0 and len({r[1] for r in rows}) == len(IDS)


@pytest.mark.spark
def test_spark_runs_the_same_chain_as_duckdb(spark, tmp_path):
    """The same statements on Spark give the same keys, draws and aggregates; a link comes back
    to the store as the Parquet Spark wrote."""
    con = _store()
    duck_rows, duck_df = _chain(DuckRun(con))
    run = SparkRun(con, {"lines": "SELECT * FROM lines"})
    try:
        spark_rows, spark_df = _chain(run)
        assert spark_rows == duck_rows
        pd.testing.assert_frame_equal(spark_df, duck_df, check_dtype=False)
        back = con.execute(f"SELECT count(*), sum(n) FROM {run.relation('picked')}").fetchone()
        assert back == (7, sum(1 for r in duck_rows if r[2] < 0.5))
    finally:
        run.close()
    assert not run.folder.exists()


def test_the_plan_hands_spark_no_personal_data():
    """What a Spark plan is handed of the snapshot: the columns matching and the contact policy
    read, never the phone number, name or identity number the store holds."""
    from weixi.dispatch.service import plan_inputs

    con = connect(":memory:")  # the store's schema
    held = {r[0] for r in con.execute("DESCRIBE snapshot").fetchall()}
    assert {"phone", "name", "id_number", "arpu"} <= held
    inputs = plan_inputs(con, dt.date(2026, 3, 1))
    assert {"snapshot", "segments", "churn_scores"} <= set(inputs)
    cols = [d[0] for d in con.execute(inputs["snapshot"]).description]
    assert cols[:3] == ["month", "subscriber_id", "arpu"]
    assert set(cols) <= {"month", "subscriber_id", "arpu", "do_not_disturb", "credit_list"}
