"""Runs left ``running`` by a dead import are marked ``interrupted`` (process gone or timeout)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys

import duckdb
from typer.testing import CliRunner

from tests.ingest.helpers import good_row, write_csv, write_mapping
from weixi.cli import app
from weixi.ingest import service
from weixi.ingest.service import get_run, get_runs, import_month, mark_interrupted
from weixi.store.analytics import open_store


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def _running(con, run_id: str, *, pid=None, host=None, proc_start=None, hours_ago=0.0) -> None:
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=hours_ago)
    con.execute(
        "INSERT INTO import_runs (run_id, month, started_at, status, pid, host, proc_start) "
        "VALUES (?, DATE '2025-03-01', ?, 'running', ?, ?, ?)",
        [run_id, started, pid, host, proc_start],
    )


def _status(con) -> dict[str, tuple]:
    rows = con.execute("SELECT run_id, status, interruption FROM import_runs").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_dead_process_and_timeout_are_marked_live_ones_kept(fresh_con):
    here = socket.gethostname()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live_start = service._proc_stat(sleeper.pid)
        _running(fresh_con, "dead", pid=_dead_pid(), host=here)
        _running(fresh_con, "live", pid=sleeper.pid, host=here, proc_start=live_start[1])
        # the pid is alive but belongs to another process than the recorded one (pid reuse)
        _running(fresh_con, "reused", pid=sleeper.pid, host=here, proc_start=live_start[1] - 7)
        # another host: its pid cannot be checked; only the timeout applies
        _running(fresh_con, "remote", pid=_dead_pid(), host="elsewhere.invalid")
        _running(fresh_con, "remote-old", pid=1, host="elsewhere.invalid", hours_ago=30)
        _running(fresh_con, "legacy-old", hours_ago=25)  # recorded before pids were
        _running(fresh_con, "legacy", hours_ago=2)
        marked = mark_interrupted(con=fresh_con)
        assert sorted(marked) == ["dead", "legacy-old", "remote-old", "reused"]
        assert _status(fresh_con) == {
            "dead": ("interrupted", "process_gone"),
            "live": ("running", None),
            "reused": ("interrupted", "process_gone"),
            "remote": ("running", None),
            "remote-old": ("interrupted", "timeout"),
            "legacy-old": ("interrupted", "timeout"),
            "legacy": ("running", None),
        }
        # a shorter, configured timeout catches the younger ones too
        assert sorted(mark_interrupted(con=fresh_con, timeout_hours=1)) == ["legacy"]
        old = get_run(con=fresh_con, run_id="remote-old")
        assert old.finished_at is not None and "30.0 h" in old.error_in("en")
        assert "小时后仍标记为进行中" in old.error_in("zh-CN")
    finally:
        sleeper.kill()
        sleeper.wait(timeout=30)


def test_an_unfinished_run_of_this_process_is_dead_unless_active(fresh_con):
    _running(fresh_con, "mine", pid=os.getpid(), host=socket.gethostname())
    service._ACTIVE_RUNS.add("mine")
    try:
        assert mark_interrupted(con=fresh_con) == []  # an import of this process is at work
    finally:
        service._ACTIVE_RUNS.discard("mine")
    assert mark_interrupted(con=fresh_con) == ["mine"]


def test_the_next_import_marks_the_dead_run(tmp_path, fresh_con):
    mapping = write_mapping(tmp_path / "m.yaml")
    a = write_csv(tmp_path / "a.csv", [good_row(i) for i in range(10)])
    _running(fresh_con, "killed", pid=_dead_pid(), host=socket.gethostname())
    run = import_month(con=fresh_con, month="2025-03", mapping=mapping, paths=[a])
    assert run.pid == os.getpid() and run.host == socket.gethostname()
    assert _status(fresh_con)["killed"] == ("interrupted", "process_gone")
    assert _status(fresh_con)[run.run_id] == ("succeeded", None)
    assert not service._ACTIVE_RUNS  # the finished import left the registry


def test_an_older_store_gets_the_columns_and_readers_cope(tmp_path, settings):
    """A store written before pids were recorded: read-only readers see NULLs; the next
    writer adds the columns."""
    settings.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.duckdb_file)) as con:  # the layout before pids
        con.execute(
            "CREATE TABLE import_runs (run_id VARCHAR NOT NULL, month DATE NOT NULL, "
            "started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, status VARCHAR NOT NULL, "
            'files VARCHAR, "read" BIGINT, loaded BIGINT, quarantined BIGINT, defects VARCHAR, '
            "mapping_hash VARCHAR, error VARCHAR)"
        )
        con.execute(
            "INSERT INTO import_runs (run_id, month, started_at, status) "
            "VALUES ('old', DATE '2025-03-01', TIMESTAMP '2025-04-01 08:00:00', 'running')"
        )
    with open_store(read_only=True) as ro:
        (shown,) = get_runs(con=ro)
        assert shown.pid is None and shown.status == "interrupted"  # by the 24 h timeout
    with open_store() as con:
        assert [r.status for r in get_runs(con=con)] == ["interrupted"]
        cols = {r[0] for r in con.execute("DESCRIBE import_runs").fetchall()}
        assert {"pid", "host", "proc_start", "interruption"} <= cols


def test_cli_lists_interrupted_runs_in_both_languages(settings, monkeypatch):
    with open_store() as con:
        _running(con, "gone", pid=_dead_pid(), host=socket.gethostname())
    runner = CliRunner()
    out = runner.invoke(app, ["import-runs", "--json"])
    assert out.exit_code == 0, out.output
    assert '"interrupted"' in out.stdout and '"process_gone"' in out.stdout
    monkeypatch.setenv("WEIXI_LANG", "zh-CN")
    table = runner.invoke(app, ["import-runs"])
    assert table.exit_code == 0 and "已中断" in table.stdout
