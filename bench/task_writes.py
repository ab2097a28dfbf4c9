"""Time the writes the kept monitoring figures ride on (weixi.dispatch.cells): a plan's bulk
task insert and an outcome file, on a fresh operational database. Prints JSON.

The tasks are the ``--source`` home's (e.g. ``bench/multiply_tasks.py``'s copy), inserted in
one ``insert_arrow`` as open tasks of one campaign; then an outcome file of ``--outcomes`` rows
(accepted / refused / not reached in turn) is recorded through ``record_file``. Without
``--database-url`` a fresh SQLite file in a temporary folder; with it, an empty database.

Example:
    python bench/task_writes.py --source /tmp/ms/h545 --outcomes 100000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = [
    "campaign_id",
    "month",
    "subscriber_id",
    "customer_id",
    "branch_id",
    "channel",
    "staff_id",
    "action",
    "offer_id",
    "category",
    "priority_rank",
    "p_churn",
    "expected_value",
    "cost",
    "reason",
    "reason_zh",
    "status",
    "created_at",
    "updated_at",
    "version",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="A home with weixi.sqlite.")
    ap.add_argument("--outcomes", type=int, default=100_000, help="Rows of the outcome file.")
    ap.add_argument("--database-url", default="", help="An empty database (default: SQLite).")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    work = Path(tempfile.mkdtemp(prefix="weixi-bench-writes-"))
    os.environ["WEIXI_HOME"] = str(work)

    import pyarrow as pa
    from sqlalchemy import text

    from weixi.auth.models import User
    from weixi.dispatch.outcome_files import record_file
    from weixi.store.bulk import insert_arrow
    from weixi.store.db import session_scope
    from weixi.web import migrate

    url = args.database_url or f"sqlite:///{work / 'weixi.sqlite'}"
    migrate.upgrade(url)
    src = sqlite3.connect(args.source / "weixi.sqlite")
    rows = src.execute(f"SELECT {', '.join(COLUMNS)} FROM tasks").fetchall()
    src.close()
    data = pa.table(
        {
            c: pa.array([None if v is None else str(v) for v in col], pa.string())
            for c, col in zip(COLUMNS, zip(*rows, strict=True), strict=True)
        }
    )
    data = data.set_column(
        COLUMNS.index("status"), "status", pa.array(["open"] * data.num_rows)
    ).set_column(COLUMNS.index("campaign_id"), "campaign_id", pa.array(["1"] * data.num_rows))
    with session_scope(url) as s:
        s.execute(
            text(
                "INSERT INTO campaigns (id, key, name_en, name_zh, status, period_start,"
                " period_end, control_share, salt, channels, actions, spec, created_at,"
                " updated_at) VALUES (1, 'bench', 'Bench', '基准', 'active', '2026-03-01',"
                " '2026-03-31', 0.1, 's', '[]', '[]', '{}', '2026-03-01', '2026-03-01')"
            )
        )
    t0 = time.perf_counter()
    with session_scope(url) as s:
        insert_arrow(s, "tasks", data)
    tasks_s = time.perf_counter() - t0
    with session_scope(url) as s:
        ids = [
            r[0] for r in s.execute(text(f"SELECT id FROM tasks ORDER BY id LIMIT {args.outcomes}"))
        ]
    results = ("accepted", "refused", "not_reached")
    body = "task_id,result,refusal_reason\n" + "\n".join(
        f"{i},{results[i % 3]},{'price' if i % 3 == 1 else ''}" for i in ids
    )
    planner = User(username="bench", role="planner", password_hash="x")
    t0 = time.perf_counter()
    with session_scope(url) as s:
        rep = record_file(session=s, user=planner, name="bench.csv", data=body.encode())
    file_s = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "bench": "task_writes",
                "database": url.split(":", 1)[0].split("+", 1)[0],
                "tasks": data.num_rows,
                "tasks_s": round(tasks_s, 2),
                "outcome_rows": len(ids),
                "recorded": rep.recorded,
                "outcome_file_s": round(file_s, 2),
                "load_avg": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
