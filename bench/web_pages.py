"""Benchmark the web pages' server time on a populated weixi home (e.g. a ``weixi bench`` store).

Serves the real app in process (FastAPI ``TestClient``) over ``--home``'s analytics store and a
copy of its operational database (users and work-queue claims go into the copy; nothing is
written into ``--home``), logs in as a planner, a branch manager and an agent, requests each
page ``--repeat`` times and prints, per page, the server time in milliseconds: the time inside
the app, measured around the ASGI call (from the call until the last body chunk is sent),
p50 / p95 / max and the first request's (cold: before any per-snapshot cache). The load
average before and after is printed with it: on a shared machine wall times move with it.

Pages: dashboard, segments, churn, monitoring (opening on branches for the planner, on people
for the branch manager; then pages of people, by strategy), evaluation (planner and branch manager),
customer search by subscriber id, customer id and full phone number, the customer 360 page,
and the agent's work queue (which claims a task when one is open).

The home needs a published snapshot of its analytics store (``<file>.snapshots/CURRENT``, which
every writer of weixi publishes); the app's readers open only that snapshot, read-only.

With ``--database-url`` the operational data is served from that database (e.g. PostgreSQL)
instead of a SQLite copy: it is migrated to head and the home's campaigns, tasks, outcomes and
contact log are copied into it in bulk (the database must be empty: a throw-away one).

Example:
    .venv/bin/python bench/web_pages.py --home /tmp/ws/work/home --repeat 20 --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PASSWORD = "Bench-Passw0rd-web!"


class ServerTimer:
    """ASGI wrapper recording, per HTTP request, the seconds from the call to the final body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last: float | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()

        async def timed_send(message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - t0

        await self.app(scope, receive, timed_send)


def _find(home: Path, pattern: str) -> Path:
    found = sorted(p for p in home.glob(pattern) if p.is_file())
    if not found:
        raise SystemExit(f"no {pattern} in {home}")
    return found[0]


def _sample(store: Path, n: int) -> dict[str, Any]:
    """Lines to look up (latest month): the province's and the measured branch's."""
    from weixi.store import snapshots

    with snapshots.open_snapshot(store) as con:
        if con is None:
            raise SystemExit(f"{store} has no published snapshot: run a weixi command on it first")
        month, lines = con.execute(
            "SELECT max(month), count(*) FILTER (WHERE month = (SELECT max(month) FROM snapshot))"
            " FROM snapshot"
        ).fetchone()
        branch = con.execute(
            "SELECT branch_id FROM snapshot WHERE month = ? GROUP BY 1 ORDER BY count(*) DESC, 1"
            " LIMIT 1",
            [month],
        ).fetchone()[0]
        picked = con.execute(
            """SELECT subscriber_id, customer_id, phone, branch_id FROM snapshot
               WHERE month = ? AND phone IS NOT NULL
               ORDER BY hash(subscriber_id) LIMIT ?""",
            [month, n],
        ).fetchall()
        mine = con.execute(
            """SELECT subscriber_id FROM snapshot WHERE month = ? AND branch_id = ?
               ORDER BY hash(subscriber_id) LIMIT ?""",
            [month, branch, n],
        ).fetchall()
        staff = con.execute(
            "SELECT staff_id FROM staff WHERE branch_id = ? ORDER BY channel, staff_id LIMIT 1",
            [branch],
        ).fetchone()
    return {
        "month": month,
        "lines": int(lines),
        "branch": branch,
        "rows": picked,
        "branch_lines": [r[0] for r in mine],
        "staff": staff[0] if staff else None,
    }


def _agent_staff(db_url: str, branch: str, fallback: str | None) -> str | None:
    """A staff id of ``branch`` with open tasks in the operational database (else ``fallback``)."""
    from sqlalchemy import func, select

    from weixi.dispatch.models import Task
    from weixi.store.db import session_scope

    with session_scope(db_url) as s:
        found = s.execute(
            select(Task.staff_id)
            .where(Task.branch_id == branch, Task.staff_id.is_not(None), Task.status == "open")
            .group_by(Task.staff_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
    return found[0] if found else fallback


#: the operational tables ``--database-url`` copies, in foreign-key order
COPIED = ("campaigns", "tasks", "outcomes", "contact_log")


def _copy_operational(sqlite: Path, db_url: str) -> dict[str, int]:
    """Copy :data:`COPIED` from the SQLite file into ``db_url`` (migrated, empty) in bulk."""
    import sqlite3

    import pyarrow as pa
    from sqlalchemy import inspect, text

    from weixi.store.bulk import insert_arrow
    from weixi.store.db import get_engine, session_scope

    counts = {}
    src = sqlite3.connect(sqlite)
    try:
        with session_scope(db_url) as s:
            insp = inspect(get_engine(db_url))
            for table in COPIED:
                target = {c["name"] for c in insp.get_columns(table)}
                cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})") if r[1] in target]
                cur = src.execute(f"SELECT {', '.join(cols)} FROM {table}")
                n = 0
                while batch := cur.fetchmany(100_000):
                    data = pa.table(
                        {
                            c: pa.array([None if v is None else str(v) for v in col], pa.string())
                            for c, col in zip(cols, zip(*batch, strict=True), strict=True)
                        }
                    )
                    n += insert_arrow(s, table, data)
                counts[table] = n
                if s.get_bind().dialect.name == "postgresql":
                    s.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" (SELECT COALESCE(max(id), 0) + 1 FROM {table}), false)"
                        )
                    )
    finally:
        src.close()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True, help="A weixi home (.duckdb + .sqlite).")
    ap.add_argument("--repeat", type=int, default=20, help="Requests per page.")
    ap.add_argument("--json", action="store_true", help="Print one JSON object (default: table).")
    ap.add_argument("--pages", default="", help="Comma-separated page names to run (default all).")
    ap.add_argument(
        "--database-url",
        default="",
        help="Serve the operational data from this empty database (copied from the home's SQLite).",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

    source = args.home.resolve()
    store = _find(source, "*.duckdb")
    sqlite = _find(source, "*.sqlite")
    work = Path(tempfile.mkdtemp(prefix="weixi-bench-web-"))
    try:  # the copy of the operational database goes, whatever happens
        _measure(args, source, store, sqlite, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(args: argparse.Namespace, source: Path, store: Path, sqlite: Path, work: Path) -> None:
    """Serve the app over ``work`` (a copy of ``source``'s operational data) and print the
    pages' server times."""
    os.environ["WEIXI_HOME"] = str(work)
    if (source / "models").is_dir():  # churn reasons on demand read the model files
        (work / "models").symlink_to(source / "models")
    shutil.copyfile(sqlite, work / "weixi.sqlite")

    from fastapi.testclient import TestClient

    from weixi.auth import service as auth_service
    from weixi.config import Settings
    from weixi.store.db import session_scope
    from weixi.web import migrate
    from weixi.web.app import create_app

    settings = Settings(
        env="test",
        home=work,
        analytics_path=store,
        database_url=args.database_url or f"sqlite:///{work / 'weixi.sqlite'}",
        secret_key="bench-web-pages-secret",
    )
    migrate.upgrade(settings.db_url)
    if args.database_url:
        t0 = time.perf_counter()
        copied = _copy_operational(work / "weixi.sqlite", settings.db_url)
        print(f"copied {copied} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    sample = _sample(store, max(args.repeat, 1))
    branch = sample["branch"]
    staff = _agent_staff(settings.db_url, branch, sample["staff"])
    with session_scope(settings.db_url) as s:
        for name, role, br, st in (
            ("bench_planner", "planner", None, None),
            ("bench_bm", "branch_manager", branch, None),
            ("bench_agent", "agent", branch, staff),
        ):
            auth_service.create(
                session=s, username=name, password=PASSWORD, role=role, branch_id=br, staff_id=st
            )

    timer = ServerTimer(create_app(settings))

    def login(username: str) -> TestClient:
        client = TestClient(timer, base_url="https://testserver", follow_redirects=False)
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        resp = client.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
        )
        assert resp.status_code == 303, resp.text[:300]
        return client

    clients = {r: login(f"bench_{r}") for r in ("planner", "bm", "agent")}
    rows = sample["rows"]
    n = len(rows)

    def nth(i: int, col: int) -> str:
        return rows[i % n][col]

    pages: dict[str, tuple[str, Any]] = {
        "dashboard": ("planner", lambda i: "/dashboard"),
        "segments": ("planner", lambda i: "/segments"),
        "churn": ("planner", lambda i: "/churn"),
        "monitoring": ("planner", lambda i: "/monitoring"),
        "monitoring_people": ("planner", lambda i: f"/monitoring?by=staff&page={1 + 37 * i % 380}"),
        "evaluation": ("planner", lambda i: "/evaluation"),
        "search_subscriber": ("planner", lambda i: f"/customers?q={nth(i, 0)}"),
        "search_customer": ("planner", lambda i: f"/customers?q={nth(i, 1)}"),
        "search_phone": ("planner", lambda i: f"/customers?q={nth(i, 2)}"),
        "customer360": ("planner", lambda i: f"/customers/{nth(i, 0)}"),
        "bm_dashboard": ("bm", lambda i: "/dashboard"),
        "bm_segments": ("bm", lambda i: "/segments"),
        "bm_churn": ("bm", lambda i: "/churn"),
        "bm_monitoring": ("bm", lambda i: "/monitoring"),
        "bm_monitoring_strategy": ("bm", lambda i: "/monitoring?by=action"),
        "bm_evaluation": ("bm", lambda i: "/evaluation"),
        "bm_customer360": (
            "bm",
            lambda i: f"/customers/{sample['branch_lines'][i % len(sample['branch_lines'])]}",
        ),
        "agent_queue": ("agent", lambda i: "/queue"),
    }
    wanted = [p for p in args.pages.split(",") if p] or list(pages)
    load_before = os.getloadavg()
    out: dict[str, Any] = {}
    for name in wanted:
        role, path = pages[name]
        times = []
        for i in range(args.repeat):
            timer.last = None
            resp = clients[role].get(path(i))
            assert resp.status_code == 200, (
                f"{name} {path(i)}: {resp.status_code} {resp.text[:300]}"
            )
            times.append(timer.last * 1000)
        ordered = sorted(times)
        out[name] = {
            "p50_ms": round(ordered[len(ordered) // 2], 1),
            "p95_ms": round(ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)], 1),  # nearest rank
            "max_ms": round(ordered[-1], 1),
            "first_ms": round(times[0], 1),
        }
        if not args.json:
            print(f"{name:20s} {json.dumps(out[name])}", flush=True)
    result = {
        "bench": "web_pages",
        "home": str(source),
        "month": str(sample["month"]),
        "lines": sample["lines"],
        "branch": branch,
        "repeat": args.repeat,
        "database": settings.db_url.split(":", 1)[0].split("+", 1)[0],
        "pages": out,
        "p95_max_ms": max(v["p95_ms"] for v in out.values()),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps({k: v for k, v in result.items() if k != "pages"}))


if __name__ == "__main__":
    main()
