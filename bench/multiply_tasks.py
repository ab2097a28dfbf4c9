"""Copy a weixi home and multiply its operational tasks and outcomes ``K`` times in the copy's
SQLite file (new ids, subscriber ids suffixed ``-i``): a large operational database for
``bench/web_pages.py`` from a ``weixi bench`` home. Prints JSON.

Example:
    python bench/multiply_tasks.py /tmp/ms/work/home /tmp/ms/h545 50
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="A weixi home (weixi.sqlite beside its store).")
    ap.add_argument("target", type=Path, help="Where the copy goes (replaced).")
    ap.add_argument("k", type=int, help="How many times the tasks and outcomes are there after.")
    args = ap.parse_args()
    if args.target.exists():
        shutil.rmtree(args.target)
    shutil.copytree(args.source, args.target)
    con = sqlite3.connect(args.target / "weixi.sqlite")
    t0 = time.perf_counter()
    n = con.execute("SELECT max(id) FROM tasks").fetchone()[0]
    m = con.execute("SELECT max(id) FROM outcomes").fetchone()[0] or 0
    tcols = [r[1] for r in con.execute("PRAGMA table_info(tasks)")]
    ocols = [r[1] for r in con.execute("PRAGMA table_info(outcomes)")]

    def select(cols: list[str], repl: dict[str, str]) -> str:
        return ", ".join(repl.get(c, c) for c in cols)

    for i in range(1, args.k):
        task_repl = {
            "id": f"id + {i * n}",
            "subscriber_id": f"subscriber_id || '-{i}'",
            "claim_token": "NULL",
            "claimed_by": "NULL",
            "claimed_until": "NULL",
        }
        con.execute(
            f"INSERT INTO tasks ({', '.join(tcols)}) SELECT {select(tcols, task_repl)}"
            f" FROM tasks WHERE id <= {n}"
        )
        outcome_repl = {
            "id": f"id + {i * m}",
            "task_id": f"task_id + {i * n}",
            "idempotency_key": f"idempotency_key || '-{i}'",
        }
        con.execute(
            f"INSERT INTO outcomes ({', '.join(ocols)}) SELECT {select(ocols, outcome_repl)}"
            f" FROM outcomes WHERE id <= {m}"
        )
    con.commit()
    con.execute("ANALYZE")
    con.commit()
    tasks = con.execute("SELECT count(*) FROM tasks").fetchone()[0]
    outcomes = con.execute("SELECT count(*) FROM outcomes").fetchone()[0]
    con.close()
    print(
        json.dumps(
            {
                "target": str(args.target),
                "tasks": tasks,
                "outcomes": outcomes,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
