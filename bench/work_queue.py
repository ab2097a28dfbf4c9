"""Work-queue benchmark: claim the next task and record its outcome on a demo-sized task table.

Writes ``--tasks`` open pooled call-centre tasks over ``--branches`` branches into a fresh
operational database (SQLite file, or ``--url``), then one agent per branch in turn claims its
next task (``weixi.dispatch.queue.claim_next``) and records an outcome
(``weixi.dispatch.service.record_outcome``), each in its own transaction, as the web app does.
Prints JSON with the median and 95th percentile milliseconds of both.

Example:
    python bench/work_queue.py --tasks 200000 --rounds 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import Session

from weixi.dispatch import queue
from weixi.dispatch.models import Campaign
from weixi.dispatch.service import record_outcome
from weixi.store.db import get_engine
from weixi.web import migrate


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return {"median_ms": round(statistics.median(values) * 1000, 2), "p95_ms": round(p95 * 1000, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=200_000)
    ap.add_argument("--branches", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--url", default=None, help="database URL (default: a temp SQLite file)")
    args = ap.parse_args()
    url = args.url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'queue.sqlite'}"
    migrate.upgrade(url)
    engine = get_engine(url)
    month = dt.date(2026, 1, 1)
    with Session(engine) as s:
        c = Campaign(
            key="bench-queue",
            name_en="Queue bench",
            status="active",
            period_start=month,
            period_end=month,
            salt="b",
        )
        s.add(c)
        s.flush()
        cid = c.id
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = [
            (
                cid,
                month,
                f"S{i:07d}",
                f"B{i % args.branches:02d}",
                "call_center",
                "care_call",
                (i * 7919) % 36 + 1,
                float((i * 104729) % 500),
                "open",
                0,
                now,
                now,
            )
            for i in range(args.tasks)
        ]
        conn = s.connection()
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        cols = (
            "campaign_id, month, subscriber_id, branch_id, channel, action, priority_rank, "
            "expected_value, status, version, created_at, updated_at"
        )
        sql = f"INSERT INTO tasks ({cols}) VALUES ({', '.join([mark] * 12)})"
        t0 = time.perf_counter()
        for i in range(0, len(rows), 50_000):
            conn.exec_driver_sql(sql, rows[i : i + 50_000])
        s.commit()
        load_s = time.perf_counter() - t0
    claims, outcomes = [], []
    timeout = dt.timedelta(minutes=15)
    for r in range(args.rounds):
        branch = f"B{r % args.branches:02d}"
        worker = queue.Worker(f"agent-{branch}", f"tok-{branch}", branch, None, "call_center")
        with Session(engine) as s:
            t0 = time.perf_counter()
            task = queue.claim_next(session=s, worker=worker, timeout=timeout)
            s.commit()
            claims.append(time.perf_counter() - t0)
            assert task is not None
            t0 = time.perf_counter()
            record_outcome(
                session=s, task_id=task.id, result="not_reached", recorded_by=worker.username
            )
            s.commit()
            outcomes.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "benchmark": "queue",
                "dialect": engine.dialect.name,
                "tasks": args.tasks,
                "branches": args.branches,
                "rounds": args.rounds,
                "load_s": round(load_s, 2),
                "claim": _ms(claims),
                "outcome": _ms(outcomes),
            }
        )
    )


if __name__ == "__main__":
    main()
