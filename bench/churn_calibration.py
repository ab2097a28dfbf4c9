"""Calibration check: the product's churn backtest on a synthetic history, next to the truth.

Builds ``make_history(N, MONTHS, seed)`` into a temporary DuckDB ``snapshot`` table, runs
``weixi.churn.service.backtest`` (the code behind ``weixi churn backtest``) for each month and
prints one JSON line per month: the model's AUC and top-decile lift, the logistic regression's
AUC, rule C's lift, and the AUC / lift of the operator's hidden ``true_churn_prob()`` of the same
month (the ceiling: it knows the loyalty and the month's shock). docs/synthetic-operator.md quotes it.

Example:
    .venv/bin/python bench/churn_calibration.py --subscribers 20000 --months 8 --seed 1 \
        --backtest 2026-03
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from weixi.churn import features as F
from weixi.churn import service
from weixi.churn.metrics import summary
from weixi.store.analytics import connect
from weixi.store.months import parse_month
from weixi.synth.generate import SyntheticOperator


def main() -> None:
    """Run the backtests and print their JSON lines."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--subscribers", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backtest", action="append", default=None, help="YYYY-MM (repeatable)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="weixi-cal-") as tmp:
        con = connect(Path(tmp) / "cal.duckdb")
        op = SyntheticOperator(args.subscribers, seed=args.seed, start_month="2025-09")
        truth = {}
        for i in range(args.months):
            if i:
                op.advance()
            con.register("_t", op.snapshot())
            con.execute("INSERT INTO snapshot BY NAME SELECT * FROM _t")
            con.unregister("_t")
            truth[op.month] = op.true_churn_prob().to_pandas()
        for m in args.backtest or ["2026-03"]:
            month = parse_month(m)
            r = service.backtest(con=con, month=month)
            labels = con.execute(f"SELECT subscriber_id, churned FROM ({F.label_sql(1, [month])})")
            j = labels.df().merge(truth[month], on="subscriber_id")
            ceiling = summary(j["churned"].to_numpy(int), j["p_churn"].to_numpy())
            out = {
                "month": m,
                "n": r["n"],
                "churn_rate": round(r["churn_rate"], 4),
                "model_auc": round(r["model"]["auc"], 4),
                "model_lift": round(r["model"]["top_decile_lift"], 2),
                "logistic_auc": round(r["logistic"]["auc"], 4),
                "rule_c_lift": round(r["rule_c"]["top_decile_lift"], 2),
                "true_p_auc": round(ceiling["auc"], 4),
                "true_p_lift": round(ceiling["top_decile_lift"], 2),
            }
            print(json.dumps(out), flush=True)
        con.close()


if __name__ == "__main__":
    main()
