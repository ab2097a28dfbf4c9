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
