"""``readmodels.has``: a page's "no data yet" test is whether the table holds rows; a snapshot
published by an older weixi that lacks a newer table reads as empty, not as an error."""

from __future__ import annotations

import duckdb

from weixi.web import readmodels


def test_has_means_rows_and_tolerates_an_older_snapshot(fresh_con, tmp_path):
    assert not readmodels.has(None, "snapshot")
    assert not readmodels.has(fresh_con, "books")  # declared, empty
    assert readmodels.months(fresh_con) == []
    fresh_con.execute(
        "INSERT INTO books VALUES (DATE '2026-03-01', 'vip', 'C1', 'HZ', 'AM1', 'kept')"
    )
    assert readmodels.has(fresh_con, "books")

    old = tmp_path / "old-snapshot.duckdb"  # published before `trigger_firings` was declared
    raw = duckdb.connect(str(old))
    raw.execute("CREATE TABLE snapshot (month DATE, subscriber_id VARCHAR)")
    raw.execute("INSERT INTO snapshot VALUES (DATE '2026-03-01', 'S1')")
    raw.close()
    ro = duckdb.connect(str(old), read_only=True)
    try:
        assert readmodels.has(ro, "snapshot")
        assert not readmodels.has(ro, "trigger_firings")
        assert readmodels.branches(ro) == {}
        assert readmodels.top_risk(ro, None, readmodels.months(ro)[-1]) == []
    finally:
        ro.close()
