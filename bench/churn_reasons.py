"""Benchmark churn scoring with reasons for every line vs for the riskiest lines only.

Runs ``weixi.churn.service.score`` on an existing store's month twice: with
``reasons_share: 1.0`` (TreeSHAP contributions for every line, the former behaviour) and with
the shipped parameters (the riskiest 10 % and every line at P >= 0.3), then times the on-demand
reasons of ``--lines`` lines scored without stored ones (``reasons_for``, as customer 360 and the
top-risk list call it). The store keeps the second scoring. Prints one JSON object.

Example (on the store a ``weixi bench --work-dir /tmp/b`` run leaves):
    WEIXI_HOME=/tmp/b/home .venv/bin/python bench/churn_reasons.py --month 2026-03
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--month", required=True, help="YYYY-MM, a month loaded in the store")
    ap.add_argument("--lines", type=int, default=50, help="lines whose reasons come on demand")
    args = ap.parse_args()

    from weixi.churn import service
    from weixi.churn.params import load_params
    from weixi.store.analytics import open_store

    month = dt.date.fromisoformat(args.month + "-01")
    params = load_params()
    every = params.model_copy(
        update={"monthly": params.monthly.model_copy(update={"reasons_share": 1.0})}
    )
    out: dict = {"month": args.month}
    with open_store(publish=False) as con:
        for label, p in (("every_line", every), ("riskiest", params)):
            t0, c0 = time.perf_counter(), time.process_time()
            res = service.score(con=con, month=month, params=p)
            out[label] = {
                "score_s": round(time.perf_counter() - t0, 2),
                "cpu_s": round(time.process_time() - c0, 2),
                "lines": res["n"],
                "lines_with_reasons": res["n_reasons"],
            }
        ids = [
            r[0]
            for r in con.execute(
                "SELECT subscriber_id FROM churn_scores WHERE month = ? AND reasons IS NULL "
                "ORDER BY p_churn DESC LIMIT ?",
                [month, args.lines],
            ).fetchall()
        ]
        t0 = time.perf_counter()
        got = service.reasons_for(con=con, month=month, subscriber_ids=ids)
        out["on_demand"] = {
            "lines": len(ids),
            "with_reasons": sum(bool(v) for v in got.values()),
            "seconds": round(time.perf_counter() - t0, 2),
        }
        t0 = time.perf_counter()
        service.reasons_for(con=con, month=month, subscriber_ids=ids[:1])
        out["on_demand_one_line_s"] = round(time.perf_counter() - t0, 2)
    out["load_avg"] = os.getloadavg()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
