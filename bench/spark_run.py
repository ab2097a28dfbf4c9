"""``weixi run --engine spark`` next to ``--engine duckdb`` on one generated demo month.

Builds the synthetic operator's demo (``weixi.synth.demo.build_demo``: ``--months`` months of
the closed loop on DuckDB), copies the home twice and runs the month after it on each engine
through the CLI (fresh processes, ``--json``), each run importing the month's export itself
first (``--input``, on its engine). Prints JSON: the engines each run recorded, the step times,
and the comparison of the two stores (the imported rows, segments, churn scores, take rates, last
month's evaluation outcomes and report, plan assignments) — the parity test's checks
(``tests/backends/test_run_parity.py``) at a size the test suite cannot afford.

    PYTHONPATH=src .venv/bin/python bench/spark_run.py --subscribers 100000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def _max_diff(a: list[tuple], b: list[tuple], keys: int) -> float | None:
    """Largest absolute difference of the numeric columns after ``keys`` key columns (None
    when the keys differ)."""
    if len(a) != len(b) or any(x[:keys] != y[:keys] for x, y in zip(a, b, strict=True)):
        return None
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x[keys:], y[keys:], strict=True):
            if u is None or v is None:
                if u is not v:
                    return None
                continue
            worst = max(worst, abs(u - v))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--month", default="2026-08", help="the month run on both engines")
    ap.add_argument(
        "--base",
        help="a demo home built before (a previous run's base folder): reused, not rebuilt",
    )
    args = ap.parse_args()

    from weixi.store.analytics import connect

    root = Path(tempfile.mkdtemp(prefix="weixi-bench-spark-run-"))
    base = root / "base"
    env = {**os.environ, "WEIXI_HOME": str(base), "WEIXI_LANG": "en"}
    env["WEIXI_DATABASE_URL"] = f"sqlite:///{base / 'weixi.sqlite'}"
    out: dict = {"subscribers": args.subscribers, "months": args.months, "month": args.month}
    t0 = time.perf_counter()
    build = (
        "from weixi.web import migrate; from weixi.store.analytics import connect; "
        "from weixi.synth.demo import build_demo; from weixi.store.db import session_scope; "
        "from pathlib import Path; migrate.upgrade(); con = connect(); "
        f"build_demo(con=con, session_scope=session_scope, out_dir=Path({str(root)!r}), "
        f"subscribers={args.subscribers}, months={args.months}, seed=3); con.close()"
    )
    if args.base:
        base = Path(args.base)
        out["demo_s"] = None  # reused
    else:
        subprocess.run([sys.executable, "-c", build], env=env, check=True, capture_output=True)
        out["demo_s"] = round(time.perf_counter() - t0, 1)
    raw = base.parent / "raw"  # the demo's exports, beside its home
    month_file = raw / f"subscribers_{args.month}.csv"
    extra = ["--input", str(month_file), "--mapping", str(raw / "mapping.yaml")]
    if not month_file.exists():
        extra = []  # a reused home without its exports: the month as loaded
    out["import_in_run"] = bool(extra)
    reports = {}
    for engine in ("duckdb", "spark"):
        home = root / engine
        shutil.copytree(base, home)
        env_e = {**env, "WEIXI_HOME": str(home)}
        env_e["WEIXI_DATABASE_URL"] = f"sqlite:///{home / 'weixi.sqlite'}"
        out[f"load_avg_before_{engine}"] = [round(x, 2) for x in os.getloadavg()]
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "weixi", "run", "--month", args.month]
        cmd += ["--engine", engine, "--json", *extra]
        proc = subprocess.run(cmd, env=env_e, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"weixi run --engine {engine} failed:\n{proc.stderr[-3000:]}")
        out[f"run_s_{engine}"] = round(time.perf_counter() - t0, 1)
        reports[engine] = json.loads(proc.stdout[proc.stdout.index("{") :])
        out[f"engines_{engine}"] = reports[engine]["engines"]
        out[f"seconds_{engine}"] = reports[engine]["seconds"]

    def rows(engine: str, sql: str) -> list[tuple]:
        con = connect(root / engine / "weixi.duckdb", read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    m = f"DATE '{args.month}-01'"
    checks = {
        "snapshot": (f"SELECT * FROM snapshot WHERE month = {m} ORDER BY subscriber_id", None),
        "segments": (
            f"SELECT subscriber_id, code, excluded, priority_rank FROM segments WHERE month = {m} "
            "ORDER BY 1",
            None,
        ),
        "churn_scores": (
            f"SELECT subscriber_id, p_churn, p_churn_2m, p_churn_3m FROM churn_scores "
            f"WHERE month = {m} ORDER BY 1",
            1,
        ),
        "uplift": (
            f"SELECT subscriber_id, action, uplift, take_rate FROM uplift WHERE month = {m} "
            "ORDER BY 1, 2",
            2,
        ),
        "evaluation_outcomes": (
            "SELECT * FROM evaluation_outcomes ORDER BY month, campaign_id, subscriber_id",
            None,
        ),
        "plan_assignments": (
            "SELECT subscriber_id, action, channel, offer_id, is_control, "
            f"round(expected_value, 9) FROM plan_assignments WHERE month = {m} ORDER BY 1, 2",
            None,
        ),
    }
    for name, (sql, keys) in checks.items():
        a, b = rows("duckdb", sql), rows("spark", sql)
        out[f"{name}_rows"] = len(a)
        if keys is None:
            out[f"{name}_identical"] = a == b
        else:
            out[f"{name}_max_diff"] = _max_diff(a, b, keys)
    out["evaluate_report_identical"] = reports["duckdb"]["steps"].get("evaluate") == reports[
        "spark"
    ]["steps"].get("evaluate")
    shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
