"""The analytics connection's session settings: DuckDB's memory limit, freed memory returned."""

from __future__ import annotations

import os
import sys
import time

import pytest

from weixi import config
from weixi.store.analytics import connect, memory_limit


def _limit_gib(con) -> float:
    value, unit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0].split()
    return float(value) * {"MiB": 1 / 1024, "GiB": 1.0, "TiB": 1024.0}[unit]


def test_duckdb_gets_half_the_memory_unless_configured(tmp_path, monkeypatch):
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    con = connect(tmp_path / "a.duckdb")
    try:
        assert abs(_limit_gib(con) - total / 2) < 0.05 * total
    finally:
        con.close()
    monkeypatch.setenv("WEIXI_DUCKDB_MEMORY_LIMIT", "3GB")
    config.get_settings.cache_clear()
    con = connect(tmp_path / "b.duckdb")
    try:
        assert 2.6 < _limit_gib(con) < 2.9  # DuckDB reads GB as 10^9 bytes (2.7 GiB)
    finally:
        con.close()
    assert memory_limit("512MB") == "512MB"


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="jemalloc and /proc on Linux")
def test_memory_a_finished_query_freed_goes_back_to_the_system():
    """DuckDB's allocator keeps what a query freed until it allocates again, unless its
    background threads purge it: the next step of a batch job would start on top of it."""
    con = connect(":memory:")
    try:
        before = _rss_mib()
        con.execute(
            "SELECT k, count(*), sum(v) FROM (SELECT range % 3000017 AS k, random() AS v "
            "FROM range(30000000)) GROUP BY k ORDER BY 2 DESC LIMIT 3"
        ).fetchall()
        after = _rss_mib()
        assert after - before > 100  # the aggregate's hash table
        deadline = time.monotonic() + 10
        while _rss_mib() > after - 0.25 * (after - before) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _rss_mib() <= after - 0.25 * (after - before), (before, after, _rss_mib())
    finally:
        con.close()


def test_detached_columns_own_their_buffers():
    """A column kept from a batch DuckDB exported is copied out of it (the batch's other
    columns are then free to go), with the same values, for arrays and whole tables."""
    import duckdb
    import pyarrow as pa

    from weixi.store.analytics import detached

    con = duckdb.connect()
    sql = "SELECT 'id' || range::VARCHAR AS sid, random() AS x FROM range(5000)"
    (batch, *_rest) = con.sql(sql).to_arrow_reader(2048)
    col = batch.column("sid")
    own = detached(col)
    assert own.to_pylist() == col.to_pylist()
    mine = {b.address for b in own.buffers() if b is not None}
    theirs = {b.address for b in col.buffers() if b is not None}
    assert not mine & theirs
    table = detached(pa.Table.from_batches([batch]).select(["sid"]))
    assert table.column("sid").to_pylist() == col.to_pylist()
    assert not {b.address for b in table.column("sid").chunk(0).buffers() if b} & theirs
    empty = detached(pa.table({"a": pa.chunked_array([], pa.int64())}))
    assert empty.num_rows == 0 and empty.schema == pa.schema([("a", pa.int64())])
