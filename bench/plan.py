"""Benchmark `weixi plan`: plan a month of N subscribers (default 1 M) end to end.

Builds the ``segments`` and ``churn_scores`` tables of one month (vectorized, plausible
distributions, 12 branches) in a DuckDB file, then times ``plan_month``: matching, contact
policy, holdouts, the HiGHS allocation over cells, lists per person, ``plan_assignments`` and
the open tasks in the operational database (SQLite). Prints one JSON object.

Example:
    .venv/bin/python bench/plan.py --subscribers 1000000
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


def month_tables(n: int, branches: int, seed: int, month: dt.date):
    """Return (segments, churn_scores) frames of ``n`` subscribers (no Python loops)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n)
    ids = np.char.add("u", np.char.zfill(idx.astype(str), 8))
    mobile = rng.random(n) < 0.8

    def pick(values, p):
        return np.asarray(values, dtype=object)[rng.choice(len(values), n, p=p)]

    a = pick(["A1", "A2", "A3"], [0.12, 0.48, 0.40])
    b = pick(["B1", "B2", "B3", "B4"], [0.10, 0.25, 0.45, 0.20])
    c = pick(["C1", "C2", "C3"], [0.2, 0.6, 0.2])
    base = pd.Series({"B1": 150.0, "B2": 110.0, "B3": 45.0, "B4": 12.0})
    arpu = base.loc[b].to_numpy() * rng.lognormal(0, 0.3, n)
    cust = ids.copy()
    share = np.nonzero(~mobile & (idx % 10 == 0) & (idx > 0))[0]
    cust[share] = ids[share - 1]  # converged households: broadband + mobile
    ra = pd.Series({"A1": 0, "A2": 1, "A3": 2}).loc[a].to_numpy()
    rb = pd.Series({"B1": 1, "B2": 2, "B3": 3, "B4": 4}).loc[b].to_numpy()
    rc = pd.Series({"C1": 1, "C2": 2, "C3": 3}).loc[c].to_numpy()
    rank = ra * 12 + rb * 3 + rc
    seg = pd.DataFrame(
        {
            "month": month,
            "subscriber_id": ids,
            "customer_id": cust,
            "branch_id": np.char.add(
                "b", np.char.zfill(rng.integers(1, branches + 1, n).astype(str), 2)
            ),
            "line_type": np.where(mobile, "mobile", "broadband"),
            "excluded": rng.random(n) < 0.08,
            "exclusion_reason": None,
            "a": a,
            "b": b,
            "c": c,
            "d": np.where(mobile, pick(["D1", "D2", "D3"], [0.6, 0.25, 0.15]), None),
            "e": np.where(mobile, pick(["E1", "E2", "E3"], [0.4, 0.3, 0.3]), None),
            "f": np.where(mobile, pick(["F1", "F2", "F3"], [0.4, 0.3, 0.3]), None),
            "g": np.where(mobile, None, pick(["G1", "G2"], [0.3, 0.7])),
            "h": np.where(mobile, None, pick(["H1", "H2", "H3"], [0.5, 0.3, 0.2])),
            "i": np.where(mobile, None, pick(["I1", "I2"], [0.3, 0.7])),
            "stability_group": a + "-" + b + "-" + c,
            "priority_rank": rank,
            "urgency": np.where(rank < 12, "red", np.where(rank < 24, "blue", "green")),
            "vip_tier": pick(["none", "silver", "gold", "diamond"], [0.9, 0.05, 0.03, 0.02]),
            "group_class": pick(["none", "A", "B", "C"], [0.9, 0.005, 0.025, 0.07]),
            "credit": pick(["none", "grey", "red", "black"], [0.9, 0.06, 0.02, 0.02]),
            "arpu_3m": arpu.round(2),
        }
    )
    tend = pd.Series({"C1": 0.25, "C2": 0.08, "C3": 0.03}).loc[c].to_numpy()
    p = np.clip(tend * rng.lognormal(0, 0.5, n) * np.where(a == "A1", 2.0, 1.0), 0, 0.95)
    scores = pd.DataFrame(
        {"month": month, "subscriber_id": ids, "model_version": "bench", "p_churn": p}
    )
    return seg, scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=1_000_000)
    ap.add_argument("--branches", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=None, help="yuan (default: none)")
    ap.add_argument("--solver", default="auto", choices=["auto", "lp", "greedy"])
    ap.add_argument("--no-tasks", action="store_true", help="skip writing tasks to the OLTP DB")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="weixi-bench-plan-"))
    os.environ["WEIXI_HOME"] = str(home)

    import weixi.security.audit  # noqa: F401  (all ORM tables on Base)
    from weixi.dispatch.schemas import default_campaign
    from weixi.dispatch.service import plan_month
    from weixi.store.analytics import connect
    from weixi.store.db import Base, get_engine, session_scope
    from weixi.strategy.library import load_preset

    month = dt.date(2026, 1, 1)
    t0 = time.perf_counter()
    seg, scores = month_tables(args.subscribers, args.branches, args.seed, month)
    con = connect(home / "bench.duckdb")
    con.register("seg_df", seg)
    con.register("sc_df", scores)
    con.execute("CREATE TABLE segments AS SELECT * FROM seg_df")
    con.execute("CREATE TABLE churn_scores AS SELECT * FROM sc_df")
    con.unregister("seg_df")
    con.unregister("sc_df")
    del seg, scores
    build = time.perf_counter() - t0

    Base.metadata.create_all(get_engine())
    spec = default_campaign(month)
    spec.budget = args.budget
    spec.solver = args.solver
    lib = load_preset()
    t1 = time.perf_counter()
    if args.no_tasks:
        res = plan_month(con=con, month=month, spec=spec, library=lib)
    else:
        with session_scope() as session:
            res = plan_month(con=con, month=month, spec=spec, library=lib, session=session)
    seconds = time.perf_counter() - t1
    con.close()
    print(
        json.dumps(
            {
                "subscribers": args.subscribers,
                "branches": args.branches,
                "build_inputs_s": round(build, 2),
                "plan_s": round(seconds, 2),
                "steps_s": res.seconds,
                "solver": res.solver,
                "on_list": res.on_list,
                "control": res.control,
                "tasks_written": res.tasks_written,
                "expected_value": res.expected_value,
                "cost": res.cost,
                "a1": [res.a1_dispatched, res.a1_required],
                "shadow_prices": [s["text_en"] for s in res.shadow_prices[:3]],
                "load_avg": os.getloadavg(),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
