"""Benchmark: record a dialer's outcome file of N rows (default 1 M) in one bulk write.

Sets up N open tasks in a fresh operational database (SQLite under a temp home, or
``--db-url``), writes a dialer CSV with one row per task (30 % accepted, 30 % refused with a
reason, 30 % not reached, 10 % call-backs) and records it through
``weixi.dispatch.outcome_files.record_file`` as a planner, then uploads the same file again
(every row must come back as already recorded). Prints JSON {rows, record_s, repeat_s, ...}.
Target: 1 M rows ≤ 30 s.

Example:
    .venv/bin/python bench/outcome_file.py --rows 1000000 [--statements 12] [--postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db-url", default=None, help="SQLAlchemy URL (default: SQLite, temp)")
    ap.add_argument(
        "--statements",
        type=int,
        default=0,
        help="also list the N slowest SQL statements of each upload (seconds, text)",
    )
    ap.add_argument(
        "--postgres",
        action="store_true",
        help="run against a throw-away PostgreSQL server (the tests' tests/pgcluster.py)",
    )
    ns = ap.parse_args()
    if ns.postgres:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pgcluster import new_database, throwaway_postgres

        with throwaway_postgres() as server:
            ns.db_url = new_database(server)
            run(ns)
    else:
        run(ns)


def run(ns: argparse.Namespace) -> None:
    """Set up the tasks, record the file twice and print the figures."""
    home = tempfile.mkdtemp(prefix="weixi-outfile-")
    os.environ["WEIXI_HOME"] = home
    if ns.db_url:
        os.environ["WEIXI_DATABASE_URL"] = ns.db_url

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from weixi.auth.models import User
    from weixi.dispatch.models import Campaign
    from weixi.dispatch.outcome_files import record_file
    from weixi.store.bulk import insert_arrow
    from weixi.store.db import session_scope
    from weixi.web import migrate

    migrate.upgrade()
    n = ns.rows
    month = dt.date(2026, 3, 1)
    now = dt.datetime(2026, 3, 2, 9)
    t0 = time.perf_counter()
    with session_scope() as s:
        camp = Campaign(
            key="bench",
            name_en="bench",
            status="approved",
            period_start=month,
            period_end=dt.date(2026, 3, 31),
            salt="s",
        )
        s.add(camp)
        s.add(User(username="planner", role="planner", password_hash="x"))
        s.flush()
        # the plan's own bulk path for tasks (COPY on PostgreSQL): one row per statement would
        # fire PostgreSQL's statement triggers a million times
        ids = np.arange(n)
        insert_arrow(
            s,
            "tasks",
            pa.table(
                {
                    "campaign_id": pa.array(np.full(n, camp.id), pa.int64()),
                    "month": pa.array(np.full(n, month), pa.date32()),
                    "subscriber_id": pc.binary_join_element_wise(
                        "S", pc.utf8_lpad(pa.array(ids).cast(pa.string()), 9, "0"), ""
                    ),
                    "customer_id": pc.binary_join_element_wise(
                        "C", pc.utf8_lpad(pa.array(ids).cast(pa.string()), 9, "0"), ""
                    ),
                    "branch_id": pa.array(np.full(n, "HZ")),
                    "channel": pa.array(np.full(n, "call_center")),
                    "action": pa.array(np.full(n, "retain")),
                    "status": pa.array(np.full(n, "open")),
                    "created_at": pa.array(np.full(n, now)),
                    "updated_at": pa.array(np.full(n, now)),
                }
            ),
        )
    setup = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    results = rng.choice(
        np.array(["accepted", "refused", "not_reached", "call_back"]), n, p=[0.3, 0.3, 0.3, 0.1]
    )
    table = pa.table(
        {
            "task_id": np.arange(1, n + 1),
            "result": results,
            "refusal_reason": np.where(results == "refused", "price", ""),
            "callback_at": np.where(results == "call_back", "2026-03-20 15:00", ""),
        }
    )
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink)
    data = sink.getvalue().to_pybytes()
    out = {"rows": n, "file_mb": round(len(data) / 2**20, 1), "setup_s": round(setup, 1)}
    timed: list[tuple[float, str]] = []
    if ns.statements:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "before_cursor_execute")
        def _start(conn, cursor, statement, params, context, executemany):
            conn.info["weixi_t0"] = time.perf_counter()

        @event.listens_for(Engine, "after_cursor_execute")
        def _stop(conn, cursor, statement, params, context, executemany):
            took = time.perf_counter() - conn.info.pop("weixi_t0")
            timed.append((took, " ".join(statement.split())[:100]))

    for label in ("record", "repeat"):
        timed.clear()
        t1, c1 = time.perf_counter(), time.process_time()
        with session_scope() as s:
            user = s.query(User).filter_by(username="planner").one()
            rep = record_file(session=s, user=user, name="dialer.csv", data=data)
        out[f"{label}_s"] = round(time.perf_counter() - t1, 2)
        # CPU of this process: the machine is shared, wall time depends on the others' load
        out[f"{label}_cpu_s"] = round(time.process_time() - c1, 2)
        out[label] = {
            "read": rep.read,
            "recorded": rep.recorded,
            "repeated": rep.repeated,
            "rejected": len(rep.rejected),
            "balanced": rep.balanced,
        }
        if ns.statements:
            # the driver calls (the staging's batches are one row each), not the commit
            out[f"{label}_statements"] = [
                [round(t, 2), text] for t, text in sorted(timed, reverse=True)[: ns.statements]
            ]
    out["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    out["load_avg"] = os.getloadavg()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
