"""A month's import is atomic: a killed or failing import leaves the previous month intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from tests.ingest.helpers import good_row, write_csv, write_mapping
from weixi.errors import IngestError
from weixi.ingest import service
from weixi.ingest.service import HOLD_ENV, get_runs, import_month
from weixi.store.analytics import open_store

BIG = 150_000  # more than one DuckDB row group, so the new rows reach the database file


def _big_csv(path) -> None:
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (SELECT 'B' || lpad(i::VARCHAR, 7, '0') AS YHBS, 'HZ' AS DS,
                     '移动' AS 业务类型, '正常' AS ZT, '20200115' AS RWSJ, '' AS HYKS,
                     '' AS HYJS, (i % 9000)::VARCHAR AS ARPU_FEN, '否' AS MDR, '0' AS TS
                FROM range({BIG}) r(i)) TO '{path}' (HEADER)"""
        )


def _store_bytes(db) -> int:
    wal = db.with_name(db.name + ".wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _month_state(con) -> tuple:
    return con.execute(
        "SELECT count(*), min(subscriber_id), max(subscriber_id), round(sum(arpu), 2) FROM snapshot "
        "WHERE month = DATE '2025-03-01'"
    ).fetchone()


@pytest.mark.timeout(120)
def test_killed_import_leaves_the_previous_month(tmp_path, settings):
    mapping = write_mapping(tmp_path / "m.yaml")
    small = write_csv(tmp_path / "small.csv", [good_row(i) for i in range(50)])
    with open_store() as con:
        first = import_month(con=con, month="2025-03", mapping=mapping, paths=[small])
        before = _month_state(con)
    assert before[0] == 50
    size_before = _store_bytes(settings.duckdb_file)
    big = tmp_path / "big.csv"
    _big_csv(big)
    marker = tmp_path / "inside-transaction"
    env = {**os.environ, HOLD_ENV: str(marker)}
    cmd = [sys.executable, "-m", "weixi", "import", "--month", "2025-03"]
    proc = subprocess.Popen(
        [*cmd, "--mapping", str(mapping), str(big), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "import never reached its transaction"
        time.sleep(0.05)
    # The child has deleted the month and inserted 150 000 rows, uncommitted, and DuckDB has
    # already written them to disk (the store grew): kill it now.
    assert _store_bytes(settings.duckdb_file) > size_before
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # A reader that cannot write (the web pages) already shows the dead run as interrupted.
    with open_store(read_only=True) as ro:
        shown = get_runs(con=ro)[0]
        assert shown.status == "interrupted" and shown.interruption == "process_gone"
        assert shown.pid == proc.pid and str(proc.pid) in shown.error_in("en")
        assert "终止" in shown.error_in("zh-CN")
        raw = ro.execute("SELECT status FROM import_runs WHERE run_id = ?", [shown.run_id])
        assert raw.fetchall() == [("running",)]  # only displayed; the next writer records it

    with open_store() as con:
        assert _month_state(con) == before  # previous rows there, no partial rows
        assert (
            con.execute("SELECT count(*) FROM snapshot WHERE subscriber_id LIKE 'B%'").fetchone()[0]
            == 0
        )
        row = con.execute(
            "SELECT status, finished_at, pid, host FROM import_runs ORDER BY started_at DESC"
        ).fetchall()[0]
        assert row[0] == "running" and row[1] is None  # never completed
        assert row[2] == proc.pid and row[3]  # the killed process and its host are recorded
        runs = get_runs(con=con)  # listing marks the dead run
        killed = runs[0]
        assert killed.status == "interrupted" and killed.interruption == "process_gone"
        assert killed.finished_at is not None and "ended before it finished" in killed.error
        assert runs[1].run_id == first.run_id and runs[1].status == "succeeded"
        assert (
            con.execute(
                "SELECT count(*) FROM quarantine WHERE run_id = ?", [killed.run_id]
            ).fetchone()[0]
            == 0
        )
        assert _month_state(con) == before  # marking it touched no data
        # the store is healthy: the next import works and replaces the month
        again = import_month(con=con, month="2025-03", mapping=mapping, paths=[small])
        assert again.loaded == 50 and _month_state(con) == before
        statuses = [r.status for r in get_runs(con=con)]
        assert statuses == ["succeeded", "interrupted", "succeeded"]


def test_failure_inside_the_transaction_rolls_back_and_is_recorded(
    tmp_path, fresh_con, monkeypatch
):
    mapping = write_mapping(tmp_path / "m.yaml")
    a = write_csv(tmp_path / "a.csv", [good_row(i) for i in range(20)])
    b = write_csv(tmp_path / "b.csv", [good_row(i) for i in range(100, 130)])
    import_month(con=fresh_con, month="2025-03", mapping=mapping, paths=[a])
    before = _month_state(fresh_con)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(service, "_reconcile", broken)  # fails after DELETE + INSERT
    with pytest.raises(IngestError, match="disk full"):
        import_month(con=fresh_con, month="2025-03", mapping=mapping, paths=[b])
    assert _month_state(fresh_con) == before
    failed = get_runs(con=fresh_con)[0]
    assert failed.status == "failed" and "disk full" in failed.error
    assert failed.finished_at is not None
    leftovers = fresh_con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary"
    ).fetchone()[0]
    assert leftovers == 0  # staging tables are dropped


def test_cli_json_output(tmp_path, settings):
    from typer.testing import CliRunner

    from weixi.cli import app

    mapping = write_mapping(tmp_path / "m.yaml")
    rows = [good_row(i) for i in range(4)]
    rows[2][7] = "-1"
    a = write_csv(tmp_path / "a.csv", rows)
    runner = CliRunner()
    res = runner.invoke(
        app, ["import", "--month", "2025-03", "--mapping", str(mapping), str(a), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {k: out[k] for k in ("read", "loaded", "quarantined", "month")} == {
        "read": 4,
        "loaded": 3,
        "quarantined": 1,
        "month": "2025-03",
    }
    assert out["defects"] == {"negative_value": 1} and out["files"][0]["file"] == "a.csv"
    table = runner.invoke(app, ["import", "--month", "2025-03", "--mapping", str(mapping), str(a)])
    assert "read 4 = loaded 3 + quarantined 1" in table.stdout
    q = runner.invoke(app, ["quarantine", out["run_id"], "--json"])
    assert json.loads(q.stdout)["rows"][0]["row_number"] == 4
    runs = runner.invoke(app, ["import-runs", "--json"])
    assert len(json.loads(runs.stdout)) == 2
    bad = runner.invoke(
        app, ["import", "--month", "2025-03", "--mapping", str(mapping), "nope.csv"]
    )
    assert bad.exit_code == 1 and "nope.csv: file not found" in bad.output
