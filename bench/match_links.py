"""Seconds per statement of matching on an existing store (where `match` spends its time).

Runs :func:`weixi.strategy.match.match` on ``--store`` for ``--month`` as a what-if (nothing is
written: the links are temporary tables) with a timer around each link, and prints JSON: the
total, the seconds of every link and the match's counts.

    PYTHONPATH=src .venv/bin/python bench/match_links.py --store /tmp/scale10m/work/home/weixi.duckdb --month 2026-02
"""

from __future__ import annotations

import argparse
import json
import time

from weixi.store.analytics import connect
from weixi.store.months import parse_month
from weixi.store.sqlrun import DuckRun
from weixi.strategy.library import load_preset
from weixi.strategy.match import match


class TimedRun(DuckRun):
    """The store's DuckDB run, timing each ``create``."""

    def __init__(self, con):
        super().__init__(con)
        self.seconds: dict[str, float] = {}

    def create(self, name: str, sql: str) -> None:
        t0 = time.perf_counter()
        super().create(name, sql)
        self.seconds[name] = round(time.perf_counter() - t0, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True, help="the analytics store (DuckDB file)")
    ap.add_argument("--month", required=True, help="a segmented month, YYYY-MM")
    ap.add_argument("--memory-limit", default="8GB")
    args = ap.parse_args()
    con = connect(args.store)
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    run = TimedRun(con)
    t0 = time.perf_counter()
    mx = match(con, parse_month(args.month), load_preset(), write=False, run=run)
    out = {"total_s": round(time.perf_counter() - t0, 1), "links": run.seconds}
    print(json.dumps(out | {"counts": mx.counts()}))


if __name__ == "__main__":
    main()
