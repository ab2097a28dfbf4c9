"""Spark (local[N]) next to DuckDB on the batch steps that run on both engines.

Generates ``--lines`` synthetic lines over ``--months`` months into a DuckDB file, trains a
churn model once (DuckDB), then times on each engine: segmentation of the last month and
churn scoring of the last month (features + model; Spark: on the executors, scores written as
Parquet and loaded back into ``churn_scores``). Prints JSON.

    PYTHONPATH=src .venv/bin/python bench/spark.py --lines 100000 --months 7
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--months", type=int, default=7)
    ap.add_argument("--master", default="local[2]")
    args = ap.parse_args()

    from weixi.churn import service as churn
    from weixi.churn import spark as churn_spark
    from weixi.churn.params import load_params
    from weixi.segment.service import segment_month
    from weixi.store.analytics import connect
    from weixi.store.backends import spark_session
    from weixi.synth.generate import SyntheticOperator

    home = Path(tempfile.mkdtemp(prefix="weixi-bench-spark-"))
    os.environ["WEIXI_HOME"] = str(home)
    con = connect(home / "weixi.duckdb")

    t0 = time.perf_counter()
    op = SyntheticOperator(args.lines, seed=1)
    months = []
    for i in range(args.months):
        if i:
            op.advance()
        con.register("_snap", op.snapshot())
        con.execute("INSERT INTO snapshot BY NAME SELECT * FROM _snap")
        con.unregister("_snap")
        months.append(op.month)
    for name, ref in op.reference_tables().items():
        con.register("_ref", ref)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _ref")
        con.unregister("_ref")
    month = months[-1]
    out: dict = {"lines": args.lines, "months": args.months, "master": args.master}
    out["generate_s"] = round(time.perf_counter() - t0, 1)
    params = load_params()
    t0 = time.perf_counter()
    churn.train(con=con, month=month, params=params, promote=True)
    out["train_s_duckdb"] = round(time.perf_counter() - t0, 1)

    spark_session(args.master)  # started once, outside the timings
    for engine in ("duckdb", "spark"):
        t0 = time.perf_counter()
        segment_month(con, month, preset="seed", engine=engine)
        out[f"segment_s_{engine}"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    churn.score(con=con, month=month, engine="lightgbm", params=params)
    out["churn_score_s_duckdb"] = round(time.perf_counter() - t0, 1)
    duck = con.execute("SELECT sum(p_churn) FROM churn_scores").fetchall()[0][0]
    t0 = time.perf_counter()
    churn_spark.score_store_month(con, month)
    out["churn_score_s_spark"] = round(time.perf_counter() - t0, 1)
    sprk = con.execute("SELECT sum(p_churn) FROM churn_scores").fetchall()[0][0]
    out["sum_p_churn_diff"] = abs(duck - sprk)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
