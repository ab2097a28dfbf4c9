"""``weixi run --engine spark`` against DuckDB on a generated month: the same imported rows,
the same segments, churn scores within 1e-9, the same plan assignments and the same evaluation
figures, and the JSON names the engine of every step."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from weixi.cli import app
from weixi.store.analytics import connect
from weixi.synth.demo import build_demo
from weixi.web import migrate

SUBSCRIBERS = 2500  # local[2] on a shared machine: the whole test stays within a few minutes
MONTH = "2026-08"


def _run(monkeypatch, home, engine: str, extra: list[str]) -> dict:
    monkeypatch.setenv("WEIXI_HOME", str(home))
    monkeypatch.setenv("WEIXI_DATABASE_URL", f"sqlite:///{home / 'weixi.sqlite'}")
    from weixi import config
    from weixi.store import db

    config.get_settings.cache_clear()
    db.get_engine.cache_clear()
    result = CliRunner().invoke(
        app, ["run", "--month", MONTH, "--engine", engine, "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _rows(home, sql: str) -> list[tuple]:
    con = connect(home / "weixi.duckdb")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.spark
def test_run_on_spark_matches_duckdb(spark, tmp_path, monkeypatch, settings):
    from weixi.store.db import session_scope

    base = tmp_path / "base"
    monkeypatch.setenv("WEIXI_HOME", str(base))
    from weixi import config

    config.get_settings.cache_clear()
    migrate.upgrade()
    con = connect()
    try:
        build_demo(
            con=con,
            session_scope=session_scope,
            out_dir=tmp_path,
            subscribers=SUBSCRIBERS,
            months=3,
            seed=3,
        )
    finally:
        con.close()
    homes = {}
    for engine in ("duckdb", "spark"):
        homes[engine] = tmp_path / engine
        shutil.copytree(base, homes[engine])
    # the month's export is imported again by the job itself, on each engine
    raw = tmp_path / "raw"
    extra = [
        "--input",
        str(raw / f"subscribers_{MONTH}.csv"),
        "--mapping",
        str(raw / "mapping.yaml"),
    ]
    reports = {engine: _run(monkeypatch, homes[engine], engine, extra) for engine in homes}

    for engine, rep in reports.items():
        ran = rep["engines"]
        for step in ("import", "evaluate", "segment", "churn_score", "uplift", "plan"):
            assert step in ran, (engine, step, ran)
        assert ran["import"] == engine and rep["steps"]["import"]["read"] > SUBSCRIBERS // 2
        assert ran["segment"] == ran["churn_score"] == engine
        assert ran["acceptance"] == ran["evaluate"] == engine
        # the default (response) learner's uplift step holds per-action reductions only: no
        # line is scored in it (the per-line take rates are the acceptance step's)
        assert rep["steps"]["acceptance"]["scored_on"] == engine
        assert "scored_on" not in rep["steps"]["uplift"] and ran["uplift"] == "duckdb"
        assert ran["plan"] == engine  # matching, cells and hand-back; HiGHS on the driver

    m = f"DATE '{MONTH}-01'"
    snap = f"SELECT * FROM snapshot WHERE month = {m} ORDER BY subscriber_id"
    assert _rows(homes["duckdb"], snap) == _rows(homes["spark"], snap)
    imp = {e: dict(r["steps"]["import"]) for e, r in reports.items()}
    for step in imp.values():
        for key in ("run_id", "started_at", "finished_at", "pid", "proc_start"):
            step.pop(key, None)
    assert imp["duckdb"] == imp["spark"]
    seg = "SELECT subscriber_id, code, excluded, priority_rank FROM segments WHERE month = "
    assert _rows(homes["duckdb"], f"{seg}{m} ORDER BY 1") == _rows(
        homes["spark"], f"{seg}{m} ORDER BY 1"
    )
    sc = "SELECT subscriber_id, p_churn, p_churn_2m FROM churn_scores WHERE month = "
    duck = _rows(homes["duckdb"], f"{sc}{m} ORDER BY 1")
    sprk = _rows(homes["spark"], f"{sc}{m} ORDER BY 1")
    assert len(duck) == len(sprk) > SUBSCRIBERS // 2
    for a, b in zip(duck, sprk, strict=True):
        assert a[0] == b[0] and abs(a[1] - b[1]) <= 1e-9, (a, b)
    # the riskiest lines' reasons, stored by both (the churn page's reasons chart reads them)
    why = (
        f"SELECT month, branch_id, code, n, n_contribution, round(sum_contribution, 6) "
        f"FROM rm_churn_reasons WHERE month = {m} ORDER BY 1, 2, 3"
    )
    assert _rows(homes["duckdb"], why) == _rows(homes["spark"], why)
    assert len(_rows(homes["spark"], why)) > 5
    dr = f"SELECT branch_id, feature, psi, warning FROM churn_drift WHERE month = {m} ORDER BY 1, 2"
    duck, sprk = _rows(homes["duckdb"], dr), _rows(homes["spark"], dr)
    assert len(duck) == len(sprk) > 10  # the drift the cadence reads, counted on the executors
    for a, b in zip(duck, sprk, strict=True):
        assert a[:2] == b[:2] and abs(a[2] - b[2]) <= 1e-9 and a[3] == b[3], (a, b)
    pa_sql = (
        "SELECT subscriber_id, action, channel, offer_id, is_control, round(expected_value, 9) "
        f"FROM plan_assignments WHERE month = {m} ORDER BY 1, 2"
    )
    assert _rows(homes["duckdb"], pa_sql) == _rows(homes["spark"], pa_sql)
    assert len(_rows(homes["duckdb"], pa_sql)) > 100
    assert reports["duckdb"]["steps"]["evaluate"] == reports["spark"]["steps"]["evaluate"]
    # last month's outcomes, built on each engine, row for row
    ev = "SELECT * FROM evaluation_outcomes ORDER BY month, campaign_id, subscriber_id"
    duck_ev, sprk_ev = _rows(homes["duckdb"], ev), _rows(homes["spark"], ev)
    assert duck_ev == sprk_ev and len(duck_ev) > 100
    # the learned take rates of the month (acceptance model scored on each engine)
    up = (
        "SELECT subscriber_id, action, uplift, take_rate FROM uplift WHERE month = "
        f"{m} ORDER BY 1, 2"
    )
    duck_up, sprk_up = _rows(homes["duckdb"], up), _rows(homes["spark"], up)
    assert len(duck_up) == len(sprk_up) > SUBSCRIBERS // 2
    for a, b in zip(duck_up, sprk_up, strict=True):
        assert a[:2] == b[:2] and abs(a[3] - b[3]) <= 1e-9, (a, b)
    assert reports["duckdb"]["steps"]["uplift"] == reports["spark"]["steps"]["uplift"]
    acc = {e: dict(r["steps"]["acceptance"]) for e, r in reports.items()}
    assert acc["duckdb"].pop("scored_on") == "duckdb" and acc["spark"].pop("scored_on") == "spark"
    assert acc["duckdb"] == acc["spark"]
    plan = {
        e: {k: r["steps"]["plan"][k] for k in ("on_list", "control")} for e, r in reports.items()
    }
    assert plan["duckdb"] == plan["spark"]
