"""Benchmark: the outcome summaries of N tasks set by one bulk insert of outcomes on PostgreSQL,
with revision 0011's row trigger on task updates and with 0012's statement trigger, alternating.

Starts a throw-away PostgreSQL server (``tests/pgcluster.py``); per run a fresh database at
head (or downgraded to 0011), N open tasks inserted in one statement, then one ``INSERT INTO
outcomes … SELECT`` giving each task an outcome: its trigger sets the tasks' summaries, whose
update moves the tasks between their cells. Prints one JSON line per run: revision, tasks,
seconds, whether the cells equal a recount, the load average.

Example:
    PYTHONPATH=src .venv/bin/python bench/task_cells_update.py --tasks 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    ns = ap.parse_args()

    import sqlalchemy as sa
    from alembic import command
    from sqlalchemy.orm import Session
    from tests.pgcluster import new_database, throwaway_postgres

    from weixi.dispatch import cells
    from weixi.dispatch.models import Campaign
    from weixi.web import migrate

    with throwaway_postgres() as server:
        for rev in ("0011", "head") * ns.rounds:
            url = new_database(server)
            migrate.upgrade(url)
            if rev == "0011":
                command.downgrade(migrate.alembic_config(url), "0011")
            engine = sa.create_engine(url)
            with Session(engine) as s:
                camp = Campaign(
                    key="bench",
                    name_en="bench",
                    status="approved",
                    period_start=dt.date(2026, 3, 1),
                    period_end=dt.date(2026, 3, 31),
                    salt="s",
                )
                s.add(camp)
                s.commit()
                cid = camp.id
            with engine.begin() as c:
                c.execute(
                    sa.text(
                        "INSERT INTO tasks (campaign_id, month, subscriber_id, customer_id,"
                        " branch_id, channel, action, status, attempts, reached_any,"
                        " accepted_any, created_at, updated_at)"
                        " SELECT :c, DATE '2026-03-01', 'S' || g, 'C' || g, 'HZ',"
                        " 'call_center', 'retain', 'open', 0, 0, 0,"
                        " TIMESTAMP '2026-03-01 08:00', TIMESTAMP '2026-03-01 08:00'"
                        " FROM generate_series(1, :n) g"
                    ),
                    {"c": cid, "n": ns.tasks},
                )
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            with engine.begin() as c:
                c.execute(
                    sa.text(
                        "INSERT INTO outcomes (task_id, result, source, recorded_at)"
                        " SELECT id, (ARRAY['accepted', 'refused', 'not_reached',"
                        " 'call_back'])[1 + id % 4], 'file', TIMESTAMP '2026-03-10 10:00'"
                        " FROM tasks"
                    )
                )
            seconds = time.perf_counter() - t0
            with Session(engine) as s:
                exact = cells.differences(s) == []
            engine.dispose()
            print(
                json.dumps(
                    {
                        "revision": rev,
                        "tasks": ns.tasks,
                        "seconds": round(seconds, 2),
                        "cells_equal_recount": exact,
                        "load": round(load, 2),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
