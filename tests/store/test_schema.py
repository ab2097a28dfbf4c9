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
    assert set(after) == set(before) | {"uplift", "channel_effects", "group_contacts"}
    assert all(after[t] == (0, None) for t in ("uplift", "channel_effects", "group_contacts"))
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
    assert sorted(out["analytics"]["created_tables"]) == [
        "channel_effects",
        "group_contacts",
        "uplift",
    ]
    again = json.loads(runner.invoke(app, ["db", "upgrade", "--json"]).stdout)
    assert again["analytics"]["version_before"] == schema.SCHEMA_VERSION
    assert again["analytics"]["applied"] == again["analytics"]["created_tables"] == []
