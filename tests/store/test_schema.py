"""The analytics store's versioned schema (weixi.store.schema): a fresh store has every table,
an older store upgrades without loss, upgrading twice is a no-op, a failed upgrade leaves the
store as it was, and ``weixi db upgrade --json`` reports both stores."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from weixi.cli import app
from weixi.errors import ConfigError
from weixi.store import schema
from weixi.store.analytics import connect
from weixi.store.schema.steps import Step

FIXTURE = Path(__file__).parent / "fixtures" / "store_pre_schema"
#: Tables the pre-schema demo store lacks: written by later versions or by steps it never ran.
NOT_IN_FIXTURE = {
    "uplift",
    "channel_effects",
    "group_contacts",
    "events",
    "complaint_log",
    "books",
    "group_kpis",
    "group_campaign",
    "trigger_firings",
    "winback_evaluations",
}
#: the pages' read models (weixi.summaries): created, then backfilled from the store's months
READ_MODELS = {t for t in schema.TABLES if t.startswith("rm_")}


def _load_fixture(path: Path) -> None:
    """Build the store file made by main before schema versions (see the fixture's README)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute((FIXTURE / "schema.sql").read_text(encoding="utf-8"))
    load = (FIXTURE / "load.sql").read_text(encoding="utf-8").replace("FIXTURE", str(FIXTURE))
    con.execute(load)
    con.close()


def _contents(path: Path, columns: dict[str, list[str]] | None = None) -> dict:
    """Per table: (rows, order-free hash of the rows over ``columns[table]``, else all of its
    columns)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_name <> 'schema_version'"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            cols = (columns or {}).get(t) or [c for c, _ in _columns(con, t)]
            row = "(" + ", ".join(f'"{c}"' for c in cols) + ")"
            out[t] = con.execute(f'SELECT count(*), sum(hash({row})) FROM "{t}"').fetchall()[0]
        return out
    finally:
        con.close()


def _columns(con, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()


def test_fresh_store_has_every_declared_table_and_the_version(tmp_path):
    con = connect(tmp_path / "a.duckdb")
    try:
        assert schema.missing(con) == []
        assert schema.version(con) == schema.SCHEMA_VERSION
        for t in schema.TABLES.values():  # declared order and types
            assert [c for c, _ in _columns(con, t.name)] == list(t.names)
            assert [ty for _, ty in _columns(con, t.name)] == [c.type for c in t.columns]
        rows = con.execute("SELECT version, name FROM schema_version ORDER BY 1").fetchall()
        assert [r[0] for r in rows] == [s.version for s in schema.STEPS]
    finally:
        con.close()


def test_store_made_by_main_before_versions_upgrades_without_loss(tmp_path):
    path = tmp_path / "old.duckdb"
    _load_fixture(path)
    before = _contents(path)
    raw = duckdb.connect(str(path), read_only=True)
    had = {t: [c for c, _ in _columns(raw, t)] for t in before}
    raw.close()
    assert len(before) == 23 and before["snapshot"][0] == 12 and before["churn_models"][0] == 2
    raw = duckdb.connect(str(path))
    assert schema.version(raw) is None
    raw.close()

    con = connect(path)  # opening upgrades it
    try:
        assert schema.version(con) == schema.SCHEMA_VERSION
        assert schema.missing(con) == []
    finally:
        con.close()
    after = _contents(path, had)  # over the columns each table had (later ones are NULL)
    # the tables that demo never wrote (and those added by later versions) are created empty
    assert set(after) == set(before) | NOT_IN_FIXTURE | READ_MODELS
    assert all(after[t] == (0, None) for t in NOT_IN_FIXTURE)
    # the backfill wrote the old months' read models: the dashboard's per month and branch
    raw = duckdb.connect(str(path), read_only=True)
    try:
        filled = raw.execute("SELECT count(DISTINCT month) FROM rm_months").fetchone()[0]
        months = raw.execute("SELECT count(DISTINCT month) FROM snapshot").fetchone()[0]
    finally:
        raw.close()
    assert filled == months > 0
    for t, value in before.items():
        assert after[t] == value, t  # same rows, same values


def test_older_layouts_gain_their_columns_and_backfills(tmp_path):
    """Layouts from before import-run liveness, actual costs and plan versions."""
    path = tmp_path / "older.duckdb"
    raw = duckdb.connect(str(path))
    raw.execute(
        "CREATE TABLE import_runs (run_id VARCHAR NOT NULL, month DATE NOT NULL, "
        "started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL, "
        'files VARCHAR, "read" BIGINT, loaded BIGINT, quarantined BIGINT, defects VARCHAR, '
        "mapping_hash VARCHAR, error VARCHAR)"
    )
    raw.execute(
        "INSERT INTO import_runs VALUES ('r1', DATE '2025-09-01', TIMESTAMP '2025-10-02 08:00', "
        "TIMESTAMP '2025-10-02 08:01', 'succeeded', '[]', 10, 9, 1, '{}', 'h', NULL)"
    )
    raw.execute(
        "CREATE TABLE evaluation_outcomes (month DATE, campaign_id VARCHAR, "
        "subscriber_id VARCHAR, is_control BOOLEAN, cost DOUBLE, stayed INTEGER)"
    )
    raw.execute(
        "INSERT INTO evaluation_outcomes VALUES (DATE '2025-09-01', 'c', 's1', false, 12.5, 1), "
        "(DATE '2025-09-01', 'c', 's2', true, 0, 0)"
    )
    raw.execute(
        "CREATE TABLE plan_assignments (month DATE, campaign_id VARCHAR, subscriber_id VARCHAR, "
        "is_control BOOLEAN, expected_value DOUBLE, cost DOUBLE)"
    )
    raw.execute(
        "INSERT INTO plan_assignments VALUES (DATE '2025-09-01', 'c', 's1', false, 30, 12.5), "
        "(DATE '2025-09-01', 'c', 's3', false, 20, 2.5), (DATE '2025-09-01', 'c', 's2', true, 0, 0)"
    )
    raw.execute(
        "CREATE TABLE plan_not_on_list (month DATE, campaign_id VARCHAR, subscriber_id VARCHAR, "
        "branch_id VARCHAR, reason VARCHAR, detail VARCHAR)"
    )
    raw.execute("INSERT INTO plan_not_on_list VALUES (DATE '2025-09-01', 'c', 's9', 'HZ', 'x', '')")
    raw.close()

    con = connect(path)
    try:
        assert schema.missing(con) == []
        run = con.execute("SELECT run_id, loaded, pid, interruption FROM import_runs").fetchall()
        assert run == [("r1", 9, None, None)]
        assert con.execute(
            "SELECT subscriber_id, planned_cost, actual_cost FROM evaluation_outcomes ORDER BY 1"
        ).fetchall() == [("s1", 12.5, None), ("s2", 0.0, None)]
        assert con.execute(
            "SELECT version, status, on_list, control, expected_value, cost FROM plans"
        ).fetchall() == [(1, "approved", 2, 1, 50.0, 15.0)]
        assert con.execute("SELECT DISTINCT plan_version FROM plan_assignments").fetchall() == [
            (1,)
        ]
        assert con.execute("SELECT plan_version FROM plan_not_on_list").fetchall() == [(1,)]
    finally:
        con.close()


#: The DDL weixi at schema version 2 ran in the modules themselves (verbatim), with one row each.
MODULE_TABLES_V2 = {
    "books": (
        "CREATE TABLE IF NOT EXISTS books (month DATE NOT NULL, kind VARCHAR NOT NULL, "
        "key VARCHAR NOT NULL, branch_id VARCHAR, staff_id VARCHAR, status VARCHAR NOT NULL)",
        "INSERT INTO books VALUES (DATE '2026-03-01', 'vip', 'C1', 'HZ', 'AM1', 'kept')",
    ),
    "group_kpis": (
        "CREATE TABLE IF NOT EXISTS group_kpis (month DATE NOT NULL, group_id VARCHAR NOT NULL, "
        "name VARCHAR, branch_id VARCHAR, industry VARCHAR, grade VARCHAR, handset_count BIGINT, "
        "members BIGINT, members_prev BIGINT, stayed BIGINT, left_group BIGINT, "
        "key_persons BIGINT, key_left BIGINT, coverage DOUBLE, stability DOUBLE, alert BOOLEAN, "
        "alert_reason VARCHAR, staff_id VARCHAR)",
        "INSERT INTO group_kpis VALUES (DATE '2026-03-01', 'G1', 'Acme', 'HZ', 'it', 'A', 100, "
        "40, 50, 38, 12, 2, 1, 0.4, 0.76, true, 'members', 'AM1')",
    ),
    "events": (
        "CREATE TABLE IF NOT EXISTS events (event_id VARCHAR, event_date DATE, "
        "customer_id VARCHAR, subscriber_id VARCHAR, event_type VARCHAR, value DOUBLE, "
        "detail VARCHAR, source VARCHAR)",
        "INSERT INTO events VALUES ('e1', DATE '2026-04-02', 'C1', 'S1', 'usage_drop', 0.6, "
        "NULL, 'feed')",
    ),
    "trigger_firings": (
        "CREATE TABLE IF NOT EXISTS trigger_firings (event_date DATE, month DATE, rule VARCHAR, "
        "event_id VARCHAR, event_type VARCHAR, subscriber_id VARCHAR, customer_id VARCHAR, "
        "branch_id VARCHAR, channel VARCHAR, staff_id VARCHAR, outcome VARCHAR, reason VARCHAR, "
        "fired_at TIMESTAMP)",
        "INSERT INTO trigger_firings VALUES (DATE '2026-04-02', DATE '2026-03-01', 'drop', 'e1', "
        "'usage_drop', 'S1', 'C1', 'HZ', 'call_center', NULL, 'task', NULL, "
        "TIMESTAMP '2026-04-02 08:00')",
    ),
    "complaint_log": (  # complaints.sync_analytics: CREATE OR REPLACE TABLE … AS SELECT CAST(…)
        "CREATE OR REPLACE TABLE complaint_log AS SELECT 7::BIGINT AS id, 'S1' AS subscriber_id, "
        "'C1' AS customer_id, 'HZ' AS branch_id, 'price' AS category, 'answered' AS status, "
        "TIMESTAMP '2026-03-10 09:00' AS received_at, TIMESTAMP '2026-03-12 09:00' AS deadline, "
        "TIMESTAMP '2026-03-11 10:00' AS answered_at, 1::INTEGER AS escalation_level, "
        "true AS churn_reason",
        None,
    ),
}


@pytest.mark.parametrize("with_tables", [True, False], ids=["module-tables", "without"])
def test_a_version_2_store_gains_the_module_tables_without_loss(tmp_path, monkeypatch, with_tables):
    """Step 3 declares the tables that vip, groups, events, triggers, complaints and churn
    analysis created themselves: a store written at version 2, with or without them, upgrades
    and keeps every row and column."""
    path = tmp_path / "v2.duckdb"
    with monkeypatch.context() as mp:  # weixi as it was at version 2
        mp.setattr(schema, "STEPS", schema.STEPS[:2])
        mp.setattr(schema, "SCHEMA_VERSION", 2)
        mp.setattr(
            schema,
            "TABLES",
            {k: v for k, v in schema.TABLES.items() if k not in MODULE_TABLES_V2},
        )
        con = connect(path)
        assert schema.version(con) == 2
        assert not {"books", "events"} & {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if with_tables:
            for ddl, insert in MODULE_TABLES_V2.values():
                con.execute(ddl)
                if insert:
                    con.execute(insert)
        con.close()
    before = _contents(path)
    raw = duckdb.connect(str(path), read_only=True)
    had = {t: _columns(raw, t) for t in before}
    raw.close()

    con = connect(path)  # opening upgrades it to the current version
    try:
        assert schema.version(con) == schema.SCHEMA_VERSION
        assert schema.missing(con) == []
        assert con.execute(
            "SELECT version FROM schema_version WHERE version = 3 AND name LIKE 'declared:%'"
        ).fetchall() == [(3,)]
        for t in MODULE_TABLES_V2:
            cols = _columns(con, t)
            declared = [(c.name, c.type) for c in schema.TABLES[t].columns]
            if with_tables:
                assert cols == had[t], t  # the same layout: nothing added, nothing changed
            else:
                assert cols == declared, t  # created empty, as declared
            assert [c for c in cols if c in declared] == declared, t
    finally:
        con.close()
    after = _contents(path)
    for t, value in before.items():
        assert after[t] == value, t  # same rows, same values
    expected = set(MODULE_TABLES_V2) if with_tables else set()
    assert {t for t in MODULE_TABLES_V2 if after[t][0] == 1} == expected


def test_upgrading_twice_is_a_no_op(tmp_path):
    path = tmp_path / "old.duckdb"
    _load_fixture(path)
    con = connect(path, upgrade=False)
    try:
        first = schema.upgrade(con)
        assert first.before is None and first.changed and "uplift" in first.created_tables
        rows = con.execute("SELECT * FROM schema_version").fetchall()
        assert schema.ensure(con) is None
        second = schema.upgrade(con)
        assert second.before == second.after == schema.SCHEMA_VERSION
        assert not second.changed
        assert con.execute("SELECT * FROM schema_version").fetchall() == rows
    finally:
        con.close()


def test_a_failing_step_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    _load_fixture(path)
    before = _contents(path)

    def boom(con):
        con.execute("DROP TABLE snapshot")
        raise RuntimeError("step failed")

    steps = (*schema.STEPS, Step(schema.SCHEMA_VERSION + 1, "broken", boom))
    monkeypatch.setattr(schema, "STEPS", steps)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", schema.SCHEMA_VERSION + 1)
    with pytest.raises(RuntimeError, match="step failed"):
        connect(path)
    assert _contents(path) == before  # no table, column, row or version written


def test_a_store_newer_than_this_weixi_is_refused(tmp_path):
    path = tmp_path / "new.duckdb"
    connect(path).close()
    raw = duckdb.connect(str(path))
    raw.execute(
        "INSERT INTO schema_version VALUES (?, 'future', now())", [schema.SCHEMA_VERSION + 1]
    )
    raw.close()
    with pytest.raises(ConfigError, match="newer than this weixi"):
        connect(path)


def test_db_upgrade_json_reports_both_stores(settings):
    _load_fixture(settings.duckdb_file)
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade", "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout)
    assert out["operational"]["revision"] == out["revision"] is not None
    assert out["analytics"]["version_before"] is None
    assert out["analytics"]["version"] == schema.SCHEMA_VERSION
    assert sorted(out["analytics"]["created_tables"]) == sorted(NOT_IN_FIXTURE | READ_MODELS)
    again = json.loads(runner.invoke(app, ["db", "upgrade", "--json"]).stdout)
    assert again["analytics"]["version_before"] == schema.SCHEMA_VERSION
    assert again["analytics"]["applied"] == again["analytics"]["created_tables"] == []
