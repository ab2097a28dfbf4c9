"""Benchmark the customer 360 API (``GET /api/v1/customers/{id}/360``) on a populated store.

Builds (or reuses, ``--store``) the web tests' demo store, files a few complaints and a task
history for the measured customers, then times ``--calls`` requests through the app (in
process, logged in as a planner). Prints one JSON object: wall-clock milliseconds per call
(median, p95, max) and the process CPU milliseconds per call (what a call costs whatever else
runs on the machine), with the load average before and after.

Example:
    .venv/bin/python bench/customer360.py --store /tmp/web-store.duckdb --calls 200
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=None, help="An existing store to copy.")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument(
        "--db", type=Path, default=None, help="An operational SQLite database to copy (a demo's)."
    )
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="weixi-bench-360-"))
    os.environ["WEIXI_HOME"] = str(home)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.web.conftest import login, make_users
    from tests.web.store import build_store

    from weixi.complaints import service
    from weixi.config import Settings
    from weixi.store.analytics import connect
    from weixi.store.db import session_scope
    from weixi.web.app import create_app

    store = home / "weixi.duckdb"
    if args.store:
        shutil.copy(args.store, store)
    else:
        build_store(store)
    con = connect(store, read_only=True)
    lines, sids = con.execute(
        "SELECT count(*) FILTER (WHERE month = (SELECT max(month) FROM snapshot)), "
        "list(subscriber_id ORDER BY subscriber_id)[1:20] FROM snapshot "
        "WHERE month = (SELECT max(month) FROM snapshot)"
    ).fetchone()
    months = con.execute("SELECT count(DISTINCT month) FROM snapshot").fetchone()[0]
    con.close()
    settings = Settings(
        env="test",
        home=home,
        analytics_path=store,
        database_url=f"sqlite:///{home / 'weixi.sqlite'}",
        secret_key="bench-secret-key",
    )
    if args.db:  # a demo's database: its campaigns and tasks show on the 360
        from weixi.auth import service as auth_service
        from weixi.web import migrate

        shutil.copy(args.db, home / "weixi.sqlite")
        migrate.upgrade(settings.db_url)
        with session_scope(settings.db_url) as s:
            auth_service.create(
                session=s, username="bench_planner", password="Bench-Passw0rd-360!", role="planner"
            )
        from sqlalchemy import select

        from weixi.dispatch.models import Task

        with session_scope(settings.db_url) as s:
            sids = list(s.scalars(select(Task.subscriber_id).distinct().limit(20)).all())
    else:
        make_users(settings.db_url)
    with session_scope(settings.db_url) as s:
        for sid in sids:
            for k in range(3):
                service.create(
                    session=s,
                    subscriber_id=sid,
                    summary=f"bench {k}",
                    branch_id=None,
                    category="technical",
                )
    app = create_app(settings)
    client = (
        login(app, "bench_planner", "Bench-Passw0rd-360!") if args.db else login(app, "u_planner")
    )
    times, cpu = [], []
    load_before = os.getloadavg()[0]
    for i in range(args.calls):
        sid = sids[i % len(sids)]
        t0, c0 = time.perf_counter(), time.process_time()
        resp = client.get(f"/api/v1/customers/{sid}/360")
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert resp.status_code == 200, resp.text[:300]
    times.sort()
    cpu.sort()
    print(
        json.dumps(
            {
                "bench": "customer360_api",
                "lines": lines,
                "months": months,
                "calls": args.calls,
                "ms_median": round(statistics.median(times), 1),
                "ms_p95": round(times[int(0.95 * len(times)) - 1], 1),
                "ms_max": round(times[-1], 1),
                "cpu_ms_median": round(statistics.median(cpu), 1),
                "cpu_ms_p95": round(cpu[int(0.95 * len(cpu)) - 1], 1),
                "load_avg_before": round(load_before, 2),
                "load_avg_after": round(os.getloadavg()[0], 2),
            }
        )
    )
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
