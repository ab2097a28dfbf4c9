"""Benchmark: segment a generated month of N subscribers (default 1 M) on DuckDB; print JSON.

The month comes from the synthetic operator (weixi.synth); its three previous months are
derived in SQL (same lines, ARPU / minutes / data / hours jittered ±40 %), so the history
features do real work without generating four full months. Only ``segment_month`` is timed
(features, rules, data check, k-means, profiles, migration, funnel, store); the import of
weixi/ibis/scikit-learn is reported separately because a server process pays it once.

Example:
    .venv/bin/python bench/segment.py --subscribers 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

T_START = time.perf_counter()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--preset", default="seed")
    ap.add_argument("--engine", default="duckdb")
    ap.add_argument("--db", default=None, help="DuckDB file (default: a temp file)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import sklearn.cluster  # noqa: F401  (k-means; imported here to time it apart)

    from weixi.segment import service
    from weixi.store.analytics import connect
    from weixi.store.months import add_months
    from weixi.store.schema import ensure as ensure_schema
    from weixi.synth.generate import SyntheticOperator

    imports = time.perf_counter() - t0

    tmp = Path(tempfile.mkdtemp(prefix="weixi-bench-"))
    db = Path(args.db) if args.db else tmp / "bench.duckdb"
    con = connect(db)
    t0 = time.perf_counter()
    op = SyntheticOperator(args.subscribers, seed=args.seed, start_month="2026-03")
    snap = op.snapshot()
    month = op.month
    ensure_schema(con)
    con.register("_m", snap)
    con.execute("INSERT INTO snapshot SELECT * FROM _m")
    con.unregister("_m")
    for name, tbl in op.reference_tables().items():
        con.register("_r", tbl)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _r")
        con.unregister("_r")
    del snap
    for i in (1, 2, 3):
        prev = add_months(month, -i)
        jitter = "(0.6 + 0.8 * random())"
        con.execute(
            f"""INSERT INTO snapshot SELECT * REPLACE (
                  DATE '{prev.isoformat()}' AS month,
                  round(arpu * {jitter}, 2) AS arpu,
                  round(voice_minutes * {jitter}, 1) AS voice_minutes,
                  round(data_mb * {jitter}, 1) AS data_mb,
                  round(bb_online_hours * {jitter}, 1) AS bb_online_hours)
                FROM snapshot WHERE month = DATE '{month.isoformat()}'
                  AND activation_date < DATE '{prev.isoformat()}'"""
        )
    rows = con.execute("SELECT count(*) FROM snapshot").fetchall()[0][0]
    generate = time.perf_counter() - t0

    cpu0 = time.process_time()
    run = service.segment_month(con, month, preset=args.preset, engine=args.engine)
    cpu = time.process_time() - cpu0
    out = {
        "benchmark": "segment_month",
        "engine": args.engine,
        "preset": args.preset,
        "subscribers": run.subscribers,
        "excluded": run.excluded,
        "snapshot_rows_incl_history": rows,
        "seconds": round(run.seconds, 2),
        "cpu_seconds_all_threads": round(cpu, 2),
        "timings": {k: round(v, 2) for k, v in run.timings.items()},
        "target_seconds": 15,
        "within_target": run.seconds <= 15,
        "import_seconds": round(imports, 2),
        "generate_seconds": round(generate, 2),
        "issues": [i.message() for i in run.issues],
        "clusters": [c.description_en for c in run.clusters],
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
    }
    con.close()
    if not args.db:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
