"""Benchmark the month's churn feature query: what scoring reads, as Arrow batches.

Runs ``feature_sql([month], with_segments=True, ordered=False)`` on a store (``--store``, a
``weixi.duckdb`` holding ``snapshot`` and ``segments``) or on a synthetic history of
``--subscribers`` lines over ``--months`` months, and prints one JSON object.

Example:
    .venv/bin/python bench/churn_features.py --store /path/to/home/weixi.duckdb --month 2026-04-01
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="an existing weixi.duckdb (opened read-only)")
    ap.add_argument("--month", help="the month scored (default: the store's last)")
    ap.add_argument("--subscribers", type=int, default=200_000)
    ap.add_argument("--months", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from weixi.churn.features import feature_sql
    from weixi.store.analytics import connect
    from weixi.store.schema import ensure as ensure_schema

    if args.store:
        con = connect(args.store, read_only=True)
    else:
        from weixi.synth.generate import make_history

        con = connect(":memory:")
        ensure_schema(con)
        for _, tab in make_history(args.subscribers, args.months, seed=3):
            con.register("t", tab)
            con.execute("INSERT INTO snapshot BY NAME SELECT * FROM t")
            con.unregister("t")
    month = (
        dt.date.fromisoformat(args.month)
        if args.month
        else con.execute("SELECT max(month) FROM snapshot").fetchall()[0][0]
    )
    history = con.execute(
        "SELECT count(*) FROM snapshot WHERE month BETWEEN ? - INTERVAL 6 MONTH AND ?",
        [month, month],
    ).fetchall()[0][0]
    sql = feature_sql([month], with_segments=True, ordered=False)
    times, rows = [], 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        rows = sum(b.num_rows for b in con.sql(sql).to_arrow_reader(250_000))
        times.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "month": month.isoformat(),
                "rows": rows,
                "history_rows": history,
                "seconds": round(min(times), 3),
                "runs_s": [round(t, 3) for t in times],
            }
        )
    )


if __name__ == "__main__":
    main()
