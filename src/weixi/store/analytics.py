"""The embedded analytics store: one DuckDB file with the monthly snapshots and derived tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from weixi.config import get_settings


def connect(
    path: Path | str | None = None, *, read_only: bool = False, upgrade: bool = True
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB analytics file (``:memory:`` for tests) with weixi's session settings.

    A writable connection brings the store to the current schema first
    (:func:`weixi.store.schema.ensure`: a no-op when it is current), so every table exists;
    ``upgrade=False`` leaves that to the caller (``weixi db upgrade``, which reports it).
    """
    settings = get_settings()
    target = str(path) if path is not None else str(settings.duckdb_file)
    if target != ":memory:":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(target, read_only=read_only)
    con.execute("SET enable_progress_bar=false")
    if settings.duckdb_threads:
        con.execute(f"SET threads={int(settings.duckdb_threads)}")
    if settings.duckdb_memory_limit:
        con.execute(f"SET memory_limit='{settings.duckdb_memory_limit}'")
    if upgrade and not read_only:
        from weixi.store import schema

        try:
            schema.ensure(con)
        except BaseException:
            con.close()
            raise
    return con


@contextmanager
def open_store(
    path: Path | str | None = None,
    *,
    read_only: bool = False,
    publish: bool = True,
    upgrade: bool = True,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Context manager around :func:`connect` that always closes the connection.

    A writable connection to a file is this process's only writer of it (in-process lock) and,
    when the block ends without an error and ``publish`` is on, publishes a read-only snapshot
    for the web app's readers (:mod:`weixi.store.snapshots`).
    """
    from weixi.store import snapshots

    settings = get_settings()
    target = str(path) if path is not None else str(settings.duckdb_file)
    if read_only or target == ":memory:":
        con = connect(target, read_only=read_only, upgrade=upgrade)
        try:
            yield con
        finally:
            con.close()
        return
    with snapshots.writer_lock(target):
        con = connect(target, upgrade=upgrade)
        try:
            yield con
            if publish:
                snapshots.publish(con, target)
        finally:
            con.close()
