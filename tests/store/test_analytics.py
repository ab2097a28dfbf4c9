"""The analytics connection's session settings: DuckDB's memory limit."""

from __future__ import annotations

import os

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
