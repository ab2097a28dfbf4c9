"""Benchmark ``sync_contact_outcomes``: price a month's execution record for N treated customers.

Builds one month's approved plan (N treated customers over call center, store and an
SMS gateway batch) in DuckDB and its tasks with 0–3 recorded outcomes each in the operational
database (SQLite), then times the sync that writes ``contact_outcomes`` (attempts, contacted,
accepted, contact cost, offer cost, actual cost). Prints one JSON object.

Example:
    .venv/bin/python bench/sync_outcomes.py --customers 200000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="weixi-bench-sync-"))
    os.environ["WEIXI_HOME"] = str(work)
    os.environ["WEIXI_ENV"] = "test"

    from sqlalchemy import insert

    from weixi.dispatch import plans
    from weixi.dispatch.models import Campaign, Outcome, Task
    from weixi.flows import sync_contact_outcomes
    from weixi.store.analytics import connect
    from weixi.store.db import Base, get_engine, session_factory
    from weixi.strategy.library import load_preset

    n = args.customers
    month = dt.date(2026, 3, 1)
    rng = np.random.default_rng(args.seed)
    channel = np.array(["call_center", "store", "sms"], dtype=object)[
        rng.choice(3, n, p=[0.6, 0.25, 0.15])
    ]
    staffed = channel != "sms"
    plan = pd.DataFrame(
        {
            "month": month,
            "campaign_id": "bench",
            "subscriber_id": np.char.add("u", np.char.zfill(np.arange(n).astype(str), 8)),
            "channel": channel,
            "offer_id": np.array(["pc_mid", "pd_low", "pf_fit"], dtype=object)[
                rng.integers(0, 3, n)
            ],
            "staff_id": np.where(staffed, "S1", None),
            "is_control": False,
            "cost": 3.0,
        }
    )
    con = connect(work / "weixi.duckdb")  # every table exists (weixi.store.schema)
    con.register("_plan", plan)
    con.execute("INSERT INTO plan_assignments BY NAME SELECT *, 1 AS plan_version FROM _plan")
    con.unregister("_plan")
    plans.record(con, month=month, campaign="bench", version=1, status="approved")

    Base.metadata.create_all(get_engine())
    session = session_factory()()
    camp = Campaign(
        key="bench", name_en="bench", period_start=month, period_end=month, salt="bench"
    )
    session.add(camp)
    session.flush()
    tasks = plan[staffed]
    session.execute(
        insert(Task),
        [
            {
                "campaign_id": camp.id,
                "month": month,
                "subscriber_id": s,
                "branch_id": "B1",
                "channel": c,
                "action": "prepay_credit",
                "offer_id": o,
            }
            for s, c, o in zip(
                tasks["subscriber_id"], tasks["channel"], tasks["offer_id"], strict=True
            )
        ],
    )
    ids = np.arange(1, len(tasks) + 1)
    k = rng.integers(0, 4, len(ids))  # outcomes per task
    task_of = np.repeat(ids, k)
    result = np.array(["not_reached", "refused", "call_back", "accepted"], dtype=object)[
        rng.choice(4, len(task_of), p=[0.5, 0.25, 0.1, 0.15])
    ]
    when = dt.datetime(2026, 3, 20)
    session.execute(
        insert(Outcome),
        [
            {"task_id": int(t), "result": r, "recorded_at": when}
            for t, r in zip(task_of, result, strict=True)
        ],
    )
    session.flush()
    start = time.perf_counter()
    rows = sync_contact_outcomes(con=con, session=session, month=month, library=load_preset())
    seconds = time.perf_counter() - start
    total = con.execute("SELECT sum(actual_cost) FROM contact_outcomes").fetchone()[0]
    # the same sum by hand (numpy): contacts × attempts + offer once per accepting task
    lib = load_preset()
    price = pd.Series({c.key: c.contact_cost for c in lib.channels})
    unit = pd.Series({o.key: o.unit_cost for _e, _p, o in lib.offers()})
    took = np.zeros(len(ids) + 1, bool)
    took[task_of[result == "accepted"]] = True
    by_hand = (
        float((price[tasks["channel"]].to_numpy() * k).sum())
        + float(unit[tasks["offer_id"]].to_numpy()[took[1:]].sum())
        + price["sms"] * int((~staffed).sum())
    )
    print(
        json.dumps(
            {
                "customers": n,
                "tasks": len(ids),
                "outcomes": len(task_of),
                "rows": rows,
                "actual_cost": round(float(total), 2),
                "by_hand": round(by_hand, 2),
                "seconds": round(seconds, 2),
            }
        )
    )
    session.close()
    con.close()


if __name__ == "__main__":
    main()
