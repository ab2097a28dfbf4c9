"""Published snapshots: readers see one complete writer state or the next, never an error or
half of one, while the writer keeps writing and publishing."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from weixi.store import snapshots
from weixi.store.analytics import open_store


def test_readers_during_publishes_see_old_or_new_never_half_or_error(tmp_path):
    source = tmp_path / "weixi.duckdb"
    with open_store(source) as con:  # publishes generation 0
        con.execute("CREATE TABLE a AS SELECT 0 AS gen")
        con.execute("CREATE TABLE b AS SELECT 0 AS gen")
        con.execute("CREATE TABLE big AS SELECT range AS i, 0 AS gen FROM range(200000)")
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader(shared: bool) -> None:
        last = -1
        while not stop.is_set():
            try:
                opened = snapshots.reader(source) if shared else snapshots.open_snapshot(source)
                with opened as found:
                    r = found[0] if shared else found
                    a, b, lo, hi = r.execute(
                        "SELECT (SELECT gen FROM a), (SELECT gen FROM b), min(gen), max(gen)"
                        " FROM big"
                    ).fetchone()
                # one writer's state: the three tables always agree, and time only moves on
                assert a == b == lo == hi and a >= last, (a, b, lo, hi, last)
                last = a
                seen.append(a)
            except BaseException as exc:  # every error fails the test
                errors.append(exc)
                return

    # two readers share the process's connection per snapshot, two open their own
    threads = [threading.Thread(target=reader, args=(i % 2 == 0,)) for i in range(4)]
    for th in threads:
        th.start()
    generations = 12
    with open_store(source, publish=False) as con:
        for gen in range(1, generations + 1):
            con.execute(f"UPDATE a SET gen = {gen}")  # a half state: a moved, b not yet
            time.sleep(0.01)
            con.execute(f"UPDATE big SET gen = {gen}")
            con.execute(f"UPDATE b SET gen = {gen}")
            snapshots.publish(con, source)
            time.sleep(0.02)
    time.sleep(0.1)
    stop.set()
    for th in threads:
        th.join(30)
    assert not errors, errors[0]
    assert len(seen) > 20 and max(seen) == generations and len(set(seen)) > 2
    # the folder keeps a bounded number of copies
    kept = list(snapshots.snapshot_dir(source).glob("*.duckdb"))
    assert len(kept) <= snapshots.KEEP


def test_a_failed_writer_publishes_nothing(tmp_path):
    source = tmp_path / "weixi.duckdb"
    with open_store(source) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    before = snapshots.current(source)
    with pytest.raises(RuntimeError), open_store(source) as con:
        con.execute("UPDATE t SET x = 2")
        raise RuntimeError("the monthly job failed half way")
    assert snapshots.current(source) == before
    with snapshots.open_snapshot(source) as r:
        assert r.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_a_reader_opens_while_this_process_writes(tmp_path):
    """DuckDB refuses a read-only connection to a file this process has open for writing
    ("different configuration"): readers open the snapshot, so they do not care."""
    source = tmp_path / "weixi.duckdb"
    with open_store(source) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    with open_store(source) as con:
        con.execute("UPDATE t SET x = 2")
        with pytest.raises(duckdb.ConnectionException):
            duckdb.connect(str(source), read_only=True)
        with snapshots.open_snapshot(source) as r:
            assert r.execute("SELECT x FROM t").fetchall() == [(1,)]
    with snapshots.open_snapshot(source) as r:
        assert r.execute("SELECT x FROM t").fetchall() == [(2,)]


def test_no_snapshot_before_the_first_publish(tmp_path):
    source = tmp_path / "weixi.duckdb"
    assert snapshots.current(source) is None and snapshots.connect_snapshot(source) is None
    con = duckdb.connect(str(source))
    con.execute("CREATE TABLE t AS SELECT 3 AS x")
    con.close()
    snap = snapshots.publish_file(source)
    assert snap is not None and snap.bytes == source.stat().st_size
    with snapshots.open_snapshot(source) as r:
        assert r.execute("SELECT x FROM t").fetchall() == [(3,)]


def test_readers_share_one_connection_per_snapshot_and_move_on(tmp_path):
    source = tmp_path / "weixi.duckdb"
    with open_store(source) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    with snapshots.reader(source) as (a, first), snapshots.reader(source) as (b, same):
        assert first == same
        with open_store(source) as con:  # a publish while both read the old snapshot
            con.execute("UPDATE t SET x = 2")
        with snapshots.reader(source) as (c, newer):
            assert newer != first and c.execute("SELECT x FROM t").fetchall() == [(2,)]
        # the old snapshot's connection stays usable until its last reader is done
        assert a.execute("SELECT x FROM t").fetchall() == [(1,)]
        assert b.execute("SELECT x FROM t").fetchall() == [(1,)]
    with snapshots.reader(source) as (d, _):
        assert d.execute("SELECT x FROM t").fetchall() == [(2,)]


def test_a_full_disk_makes_room_from_older_copies_or_fails_clearly(tmp_path, monkeypatch):
    """Publishing copies the whole store. When the disk cannot hold the copy, the older
    snapshots go first (the current one stays: pages read it); when that is not enough, the
    command fails with the space it needs, in both languages, before writing a byte — and a
    copy cut short by the disk takes no space either."""
    import errno
    import shutil

    from weixi.errors import StorageError, localized

    source = tmp_path / "weixi.duckdb"
    folder = snapshots.snapshot_dir(source)
    with open_store(source) as con:
        con.execute("CREATE TABLE t AS SELECT range AS x FROM range(100000)")
    for gen in range(2):
        with open_store(source) as con:
            con.execute(f"UPDATE t SET x = x + {gen}")
    assert len(list(folder.glob("*.duckdb"))) == snapshots.KEEP

    # room for one more copy once the older ones are gone (nothing is free while one is left)
    def free(_folder):
        if len(list(folder.glob("*.duckdb"))) > 1:
            return 0
        return source.stat().st_size + snapshots.HEADROOM

    monkeypatch.setattr(snapshots, "_free", free)
    before = snapshots.current(source)
    with open_store(source) as con:
        con.execute("UPDATE t SET x = x + 10")
    now = snapshots.current(source)
    assert now.file != before.file
    assert sorted(p.name for p in folder.glob("*.duckdb")) == sorted([before.file, now.file])
    with snapshots.open_snapshot(source) as r:
        assert r.execute("SELECT min(x) FROM t").fetchall() == [(11,)]

    # no room at all: the writer's work is kept, the pages keep the current copy
    monkeypatch.setattr(snapshots, "_free", lambda f: source.stat().st_size // 2)
    with pytest.raises(StorageError) as err, open_store(source) as con:
        con.execute("UPDATE t SET x = x + 100")
    assert snapshots.current(source) == now
    assert [p.name for p in folder.glob("*.duckdb")] == [now.file]
    assert not list(folder.glob(".*.part"))
    assert str(folder) in str(err.value) and "GiB free" in str(err.value)
    assert "可用空间" in localized(err.value, "zh-CN")
    with open_store(source, publish=False) as con:
        assert con.execute("SELECT min(x) FROM t").fetchall() == [(111,)]

    # the disk fills during the copy: the partial file goes, the error is the disk's
    monkeypatch.setattr(
        snapshots, "_free", lambda f: 10 * source.stat().st_size + snapshots.HEADROOM
    )

    def cut_short(src, dst):
        with open(dst, "wb") as fh:
            fh.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", cut_short)
    with pytest.raises(OSError, match="No space left"), open_store(source) as con:
        con.execute("UPDATE t SET x = x + 1000")
    assert not list(folder.glob(".*.part")) and snapshots.current(source) == now


def test_a_command_that_wrote_nothing_publishes_no_new_copy(tmp_path):
    """Publishing copies the whole store (gigabytes at a province's size): a writer that
    changed nothing — a plan preview, a report — keeps the current snapshot; one that wrote,
    however soon after, gets a new one."""
    import os

    source = tmp_path / "weixi.duckdb"
    folder = snapshots.snapshot_dir(source)
    with open_store(source) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    # the file last changed a while before its copy (as after any real command)
    old = source.stat().st_mtime_ns - 10 * 10**9
    os.utime(source, ns=(old, old))
    with open_store(source):
        pass
    settled = snapshots.current(source)
    assert settled.source_mtime_ns == old
    for _ in range(2):  # nothing written: the same snapshot, no new copy
        with open_store(source) as con:
            con.execute("SELECT count(*) FROM t").fetchall()
        assert snapshots.current(source) == settled
        assert sorted(p.name for p in folder.glob("*.duckdb"))[-1] == settled.file
    with open_store(source) as con:  # a write: a new copy with it
        con.execute("UPDATE t SET x = 2")
    assert snapshots.current(source) != settled
    with snapshots.open_snapshot(source) as r:
        assert r.execute("SELECT x FROM t").fetchall() == [(2,)]
    # right after a copy of a file that had just changed, equal times prove nothing: copied
    with open_store(source):
        pass
    fresh = snapshots.current(source)
    assert fresh.published_at - fresh.source_mtime_ns / 1e9 < snapshots.SETTLED_SECONDS
    with open_store(source):
        pass
    assert snapshots.current(source) != fresh
