"""Spark (local[N]) next to DuckDB on the batch steps that run on both engines.

Generates ``--lines`` synthetic lines over ``--months`` months into a DuckDB file, trains a
churn model once (DuckDB), then times on each engine: segmentation of the last month and
churn scoring of the last month (features + model; Spark: on the executors, scores written as
Parquet and loaded back into ``churn_scores``) and the learned take rates of the last month's
lines (an acceptance model fitted on the month before with drawn answers, scored per line ×
action: :func:`weixi.evaluate.acceptance.write_take_rates`; Spark: inside ``mapInArrow``).
Prints JSON, with the machine's load average before and after the timed steps.

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
    out["load_avg_before"] = [round(x, 2) for x in os.getloadavg()]
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
    out |= _take_rates(con, months)
    out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(out))


def _take_rates(con, months) -> dict:
    """Time the per-line take-rate scoring of the last month on each engine."""
    import numpy as np

    from weixi.evaluate import acceptance, service
    from weixi.strategy.library import load_preset

    prev, month = months[-2], months[-1]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _answers AS
            SELECT s.subscriber_id, {service._feature_sql("s.month")}
            FROM snapshot s WHERE s.month = ? AND hash(s.subscriber_id) % 10 = 0""",
        [prev],
    )
    df = con.execute("SELECT * FROM _answers ORDER BY subscriber_id").df()
    X = df[list(service.UPLIFT_FEATURES)].to_numpy(np.float64)
    rng = np.random.default_rng(0)
    actions = np.array(["care_call", "prepay_credit", "package_fit"])[rng.integers(0, 3, len(df))]
    z = (X[:, 0] - np.nanmean(X[:, 0])) / (np.nanstd(X[:, 0]) + 1e-9)
    model = acceptance.fit_acceptance(
        X,
        actions,
        rng.random(len(df)) < 1 / (1 + np.exp(-z)),
        feature_names=list(service.UPLIFT_FEATURES),
        min_contacted=100,
        rounds=100,
    )
    kinds = {a.key: a.line_type for a in load_preset().actions}
    out: dict = {}
    sums = {}
    for engine in ("duckdb", "spark"):
        t0 = time.perf_counter()
        written = acceptance.write_take_rates(
            con=con,
            month=month,
            model=model,
            version="bench",
            action_line_types=kinds,
            engine=engine,
        )
        out[f"take_rate_s_{engine}"] = round(time.perf_counter() - t0, 1)
        out["take_rate_rows"] = written["rows"]
        sums[engine] = con.execute(
            "SELECT sum(take_rate) FROM uplift WHERE month = ?", [month]
        ).fetchall()[0][0]
        con.execute("DELETE FROM uplift WHERE month = ?", [month])
    out["sum_take_rate_diff"] = abs(sums["duckdb"] - sums["spark"])
    return out


if __name__ == "__main__":
    main()
