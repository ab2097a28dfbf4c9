"""The embedded analytics store: one DuckDB file with the monthly snapshots and derived tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from weixi.config import get_settings


def memory_limit(configured: str | None) -> str:
    """DuckDB's memory limit: ``WEIXI_DUCKDB_MEMORY_LIMIT`` (e.g. ``4GB``), else half the
    machine's memory.

    DuckDB's own default (80 % of the memory) leaves too little for the Python side of a batch
    step (feature frames, model training) on a big month: a 10 M-line cycle grew to 23.8 GiB
    and was killed. Beyond its limit DuckDB spills joins, sorts and windows to disk.
    """
    if configured:
        return configured
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: DuckDB's default
        return "80%"
    return f"{max(total // 2 // 2**20, 256)}MB"


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
    con.execute(f"SET memory_limit='{memory_limit(settings.duckdb_memory_limit)}'")
    # jemalloc's background threads give the pages a finished query freed back to the system;
    # without them DuckDB keeps them until it allocates again, and the Python side of a step
    # (a feature frame, a model's training) stacks on top: a 1 M-line training with DuckDB at
    # 3 GB peaked at 5.03 GiB without, 4.18 GiB with, in the same time
    con.execute("SET allocator_background_threads=true")
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


def detached(data):
    """A copy of an Arrow array or table with buffers of its own.

    A column of a record batch that DuckDB exported (``to_arrow_reader``), or a pandas column
    converted from one without a copy, keeps the *whole* batch alive: every column of it. Code
    that keeps a few columns of each batch of a month (ids, scores) must keep copies, or it
    holds the month's every column until it ends (6 GB of churn features on 10 M lines).

    Example:
        >>> import pyarrow as pa
        >>> t = detached(pa.table({"a": [1, 2]}))
        >>> t.column("a").to_pylist(), t.column("a").num_chunks
        ([1, 2], 1)
    """
    import pyarrow as pa

    def own(col):
        chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
        return pa.concat_arrays(chunks) if chunks else pa.array([], col.type)

    if isinstance(data, pa.Table):
        return pa.Table.from_arrays([own(c) for c in data.columns], schema=data.schema)
    return own(data)
