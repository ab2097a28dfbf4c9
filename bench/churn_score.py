"""Benchmark churn scoring speed: compiled trees (lleaves) vs LightGBM predict.

Trains the monthly model on a small synthetic operator, tiles its feature rows up to
``--rows`` and times raw-probability scoring; then the reasons' SHAP contributions of
``--contrib-rows`` of those rows, by table look-up (``weixi.churn.treeshap``, what scoring
uses) and by LightGBM's ``pred_contrib``. Prints one JSON object.

Example:
    .venv/bin/python bench/churn_score.py --rows 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--subscribers", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--contrib-rows", type=int, default=200_000)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="weixi-bench-"))
    os.environ["WEIXI_HOME"] = str(home)

    from weixi.churn import service
    from weixi.churn.features import load_features
    from weixi.churn.predict import Scorer, encode
    from weixi.churn.registry import load_meta
    from weixi.store.analytics import connect
    from weixi.store.schema import ensure as ensure_schema
    from weixi.synth.generate import make_history

    con = connect(":memory:")
    ensure_schema(con)
    for _, tab in make_history(args.subscribers, 5, seed=3):
        con.register("t", tab)
        con.execute("INSERT INTO snapshot BY NAME SELECT * FROM t")
        con.unregister("t")
    months = [
        r[0] for r in con.execute("SELECT DISTINCT month FROM snapshot ORDER BY 1").fetchall()
    ]
    t0 = time.perf_counter()
    info = service.train(con=con, month=months[-1])
    train_s = time.perf_counter() - t0
    _, folder, meta = load_meta(con, info["version"])
    df = load_features(con, [months[-1]])
    X1 = encode(df, meta["features"], meta["levels"])
    reps = -(-args.rows // len(X1))
    X = np.ascontiguousarray(np.tile(X1, (reps, 1))[: args.rows])

    t0 = time.perf_counter()
    fast = Scorer(folder / "h1.txt", engine="lleaves", num_threads=args.threads)
    compile_s = time.perf_counter() - t0
    slow = Scorer(folder / "h1.txt", engine="lightgbm", num_threads=args.threads)

    def timed(fn):
        fn(X[:10000])  # warm up
        t, c = time.perf_counter(), time.process_time()
        out = fn(X)
        return out, time.perf_counter() - t, time.process_time() - c

    p_fast, s_fast, c_fast = timed(fast.predict)
    p_lgb, s_lgb, c_lgb = timed(slow.predict)
    Xc = X[: args.contrib_rows]
    t = time.perf_counter()
    shap_tables = fast.contributions(Xc)
    s_tables = time.perf_counter() - t
    t = time.perf_counter()
    shap_lgb = slow.booster.predict(Xc, pred_contrib=True, num_threads=args.threads)
    s_contrib = time.perf_counter() - t
    load = os.getloadavg()[0]
    print(
        json.dumps(
            {
                "rows": args.rows,
                "features": X.shape[1],
                "trees": slow.booster.num_trees(),
                "threads": args.threads,
                "lleaves_rows_per_s": round(args.rows / s_fast),
                "lightgbm_rows_per_s": round(args.rows / s_lgb),
                "lleaves_rows_per_cpu_s": round(args.rows / c_fast),
                "lightgbm_rows_per_cpu_s": round(args.rows / c_lgb),
                "load_average_1m": round(load, 2),
                "lleaves_seconds": round(s_fast, 3),
                "lightgbm_seconds": round(s_lgb, 3),
                "max_abs_diff": float(np.max(np.abs(p_fast - p_lgb))),
                "contrib_rows": len(Xc),
                "contrib_tables_seconds": round(s_tables, 3),
                "contrib_lightgbm_seconds": round(s_contrib, 3),
                "contrib_max_abs_diff": float(np.max(np.abs(shap_tables - shap_lgb))),
                "compile_seconds": round(compile_s, 1),
                "train_seconds": round(train_s, 1),
                "cpu_count": os.cpu_count(),
            }
        )
    )
    con.close()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
