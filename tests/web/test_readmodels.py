"""Pages test "no data yet" by rows: ``readmodels.has`` is true when a table holds rows, and a
snapshot published by an older weixi shows the tables it lacks as empty (``snapshots.overlay``),
so the domain views the pages call answer "none yet" instead of failing."""

from __future__ import annotations

import duckdb

from weixi.store import schema, snapshots
from weixi.triggers import service as triggers
from weixi.vip import books, groups
from weixi.web import readmodels


def test_has_means_rows(fresh_con):
    assert not readmodels.has(None, "snapshot")
    assert not readmodels.has(fresh_con, "books")  # declared, empty
    assert readmodels.months(fresh_con) == []
    fresh_con.execute(
        "INSERT INTO books VALUES (DATE '2026-03-01', 'vip', 'C1', 'HZ', 'AM1', 'kept')"
    )
    assert readmodels.has(fresh_con, "books")


def test_a_snapshot_from_an_older_weixi_reads_its_missing_tables_as_empty(tmp_path):
    source = tmp_path / "weixi.duckdb"  # written before books, group_kpis, … were declared
    raw = duckdb.connect(str(source))
    raw.execute(schema.TABLES["snapshot"].ddl())
    raw.execute("INSERT INTO snapshot (month, subscriber_id) VALUES (DATE '2026-03-01', 'S1')")
    snapshots.publish(raw, source)
    raw.close()

    with snapshots.reader(source) as found:
        cur, _ = found
        lacking = set(schema.TABLES) - {"snapshot"}
        assert set(snapshots.missing_tables(cur)) == lacking  # views are not the file's tables
        assert readmodels.has(cur, "snapshot")
        assert not readmodels.has(cur, "trigger_firings")
        assert readmodels.months(cur) == [readmodels.months(cur)[0]]
        assert readmodels.branches(cur) == {}
        assert readmodels.top_risk(cur, None, readmodels.months(cur)[-1]) == []
        assert groups.latest_month(cur) is None and books.latest_month(cur) is None
        assert triggers.recent_firings(con=cur) == {"summary": [], "rows": []}
        cols = cur.execute("DESCRIBE group_kpis").fetchall()
        assert [(c[0], c[1]) for c in cols] == [
            (c.name, c.type) for c in schema.TABLES["group_kpis"].columns
        ]
    with snapshots.open_snapshot(source) as con:
        assert books.book_of(con, "2026-03", "AM1") == {"vip": [], "group": []}


def test_segmented_months_come_from_the_runs_else_from_the_segments(fresh_con):
    con = fresh_con
    schema.ensure(con)
    con.execute(
        "INSERT INTO segments (month, subscriber_id) VALUES"
        " (DATE '2026-01-01', 'S1'), (DATE '2026-02-01', 'S1')"
    )
    # written without the segment service (no run): the segments' own months
    assert [m.isoformat() for m in readmodels.segmented_months(con)] == [
        "2026-01-01",
        "2026-02-01",
    ]
    con.execute(
        "INSERT INTO segment_runs (month, preset, engine, finished_at, seconds, subscribers,"
        " excluded, issues) VALUES (DATE '2026-02-01', 'seed', 'duckdb', now(), 1, 1, 0, '[]'),"
        " (DATE '2026-03-01', 'seed', 'duckdb', now(), 1, 0, 0, '[]')"
    )
    # the runs: a look-up in a few rows; a run that kept no line gives no month
    assert [m.isoformat() for m in readmodels.segmented_months(con)] == ["2026-02-01"]
