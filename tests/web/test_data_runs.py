"""The data page and the runs API show a killed import as interrupted, in both languages."""

from __future__ import annotations

import socket
import subprocess
import sys

import duckdb

from tests.web.conftest import csrf_of, login, make_users
from weixi.config import Settings
from weixi.store.schema import ensure as ensure_schema


def test_a_killed_import_shows_as_interrupted(tmp_path, fresh_db_url):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    store = tmp_path / "weixi.duckdb"
    con = duckdb.connect(str(store))
    try:
        ensure_schema(con)
        con.execute(
            "INSERT INTO import_runs (run_id, month, started_at, status, pid, host) "
            "VALUES ('killed-run', DATE '2025-03-01', now()::TIMESTAMP, 'running', ?, ?)",
            [proc.pid, socket.gethostname()],
        )
    finally:
        con.close()
    settings = Settings(
        env="test",
        home=tmp_path,
        analytics_path=store,
        database_url=fresh_db_url(tmp_path),
        secret_key="test-secret-key-not-dev",
    )
    make_users(settings.db_url)
    from weixi.web.app import create_app

    client = login(create_app(settings), "u_planner")
    page = client.get("/data").text
    assert "killed-run" in page and ">interrupted<" in page
    assert f"import process {proc.pid} on {socket.gethostname()} ended" in page
    runs = client.get("/api/v1/import-runs").json()["runs"]
    assert runs[0]["status"] == "interrupted" and runs[0]["interruption"] == "process_gone"
    client.post("/lang", data={"lang": "zh-CN", "csrf_token": csrf_of(client)})
    zh = client.get("/data").text
    assert ">已中断<" in zh and f"导入进程 {proc.pid} 在完成前终止" in zh
    # the web reads the store read-only: the next import (or CLI listing) records the status
    con = duckdb.connect(str(store), read_only=True)
    try:
        assert con.execute("SELECT status FROM import_runs").fetchall() == [("running",)]
    finally:
        con.close()
