"""Benchmark: generate N synthetic subscribers x 1 month and stream them to raw files.

Prints JSON {subscribers, months, format, seconds, peak_rss_gib, rows_per_s, bytes}.
The target is 10 M subscribers x 1 month in <= 3 minutes and <= 8 GiB on 2 cores.

With ``--shares`` it instead prints the measured distributions quoted in
docs/synthetic-operator.md (shares of line types, value bands, churn by driver, responses …).

Example:
    .venv/bin/python bench/generate.py --subscribers 1000000 --format csv
    .venv/bin/python bench/generate.py --shares --subscribers 200000
    .venv/bin/python bench/generate.py --drivers --subscribers 100000 --months 6
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc

from weixi.synth.generate import SyntheticOperator
from weixi.synth.raw import write_raw

SHARES = {
    "line_type_pct": "SELECT line_type, round(100 * count(*) / sum(count(*)) OVER (), 1) "
    "FROM s GROUP BY 1 ORDER BY 2 DESC",
    "status_pct": "SELECT status, round(100 * count(*) / sum(count(*)) OVER (), 2) "
    "FROM s GROUP BY 1 ORDER BY 2 DESC",
    "mobile_B1_B2_B3_B4_pct": "SELECT round(100 * avg(snapshot_midhigh::INT), 1), "
    "round(100 * avg((NOT snapshot_midhigh AND arpu >= 80)::INT), 1), "
    "round(100 * avg((NOT snapshot_midhigh AND arpu >= 20 AND arpu < 80)::INT), 1), "
    "round(100 * avg((NOT snapshot_midhigh AND arpu < 20)::INT), 1) "
    "FROM s WHERE line_type = 'mobile'",
    "broadband_B1_B2_B3_B4_pct": "SELECT round(100 * avg(snapshot_midhigh::INT), 1), "
    "round(100 * avg((NOT snapshot_midhigh AND arpu >= 120)::INT), 1), "
    "round(100 * avg((NOT snapshot_midhigh AND arpu > 30 AND arpu < 120)::INT), 1), "
    "round(100 * avg((NOT snapshot_midhigh AND arpu <= 30)::INT), 1) "
    "FROM s WHERE line_type = 'broadband'",
    "A1_A2_pct": "SELECT line_type, round(100 * avg((contract_end >= month "
    "AND contract_end < month + INTERVAL 3 MONTH)::INT), 1), "
    "round(100 * avg((contract_type = 'none')::INT), 1) FROM s "
    "WHERE line_type IN ('mobile', 'broadband') GROUP BY 1 ORDER BY 1",
    "handset_E1_E2_E3_pct": "SELECT "
    "round(100 * avg((date_diff('day', handset_first_use_date, month) >= 548)::INT), 1), "
    "round(100 * avg((date_diff('day', handset_first_use_date, month) BETWEEN 366 AND 547)"
    "::INT), 1), "
    "round(100 * avg((date_diff('day', handset_first_use_date, month) <= 365)::INT), 1) "
    "FROM s WHERE line_type = 'mobile'",
    "vip_pct_of_vips": "SELECT vip_level, round(100 * count(*) / sum(count(*)) OVER (), 1) "
    "FROM s WHERE vip_level <> 'none' GROUP BY 1 ORDER BY 2",
    "broadband_speed_lt2_2to3_ge4_ge100_pct": "SELECT "
    "round(100 * avg((bb_speed_mbps < 2)::INT), 1), "
    "round(100 * avg((bb_speed_mbps >= 2 AND bb_speed_mbps < 4)::INT), 1), "
    "round(100 * avg((bb_speed_mbps >= 4)::INT), 1), "
    "round(100 * avg((bb_speed_mbps >= 100)::INT), 1) FROM s WHERE line_type = 'broadband'",
    "signals_complaint_competitor_dual_satmissing_npsmissing_pct": "SELECT "
    "round(100 * avg((complaints > 0)::INT), 1), "
    "round(100 * avg((competitor_contacts > 0)::INT), 1), "
    "round(100 * avg(dual_competitor::INT), 1), "
    "round(100 * avg((satisfaction_score IS NULL)::INT), 1), "
    "round(100 * avg((nps_score IS NULL)::INT), 1) FROM s",
    "mobile_network_drop_median_p90_weak_median_p90_pct": "SELECT "
    "round(median(dropped_call_rate), 2), round(quantile_cont(dropped_call_rate, 0.9), 2), "
    "round(median(weak_coverage_share), 1), round(quantile_cont(weak_coverage_share, 0.9), 1) "
    "FROM s WHERE line_type = 'mobile'",
    "responses": "SELECT action, round(avg(p_accept), 3), round(avg(churn_reduction), 3), "
    "round(100 * avg((churn_reduction < 0)::INT), 1) FROM r GROUP BY 1 ORDER BY 1",
}


def shares(n: int, seed: int) -> dict:
    """Measure the distributions of one synthetic month (see SHARES) and the group classes."""
    import duckdb

    from weixi.synth import reference as ref

    op = SyntheticOperator(n, seed=seed)
    con = duckdb.connect()
    con.register("s", op.snapshot())
    con.register("r", op.hidden_responses())
    out = {k: con.execute(q).fetchall() for k, q in SHARES.items()}
    g = op.reference_tables()["enterprise_groups"].to_pandas()
    a = (
        (g["handset_count"] >= 500)
        | g["is_top500_taxpayer"]
        | g["industry"].isin(ref.KEY_INDUSTRIES)
    )
    b = ~a & ((g["handset_count"] >= 100) | g["industry"].isin(ref.B_INDUSTRIES))
    out["groups_A_B_C_pct"] = [
        round(100 * a.mean(), 1),
        round(100 * b.mean(), 1),
        round(100 * (~a & ~b).mean(), 1),
    ]
    p = op.true_churn_prob().column("p_churn")
    out["mean_true_churn_prob"] = round(float(pc.mean(p).as_py()), 4)
    return out


DRIVERS = {
    "contract ends within 3 months (A1)": "contract_end >= month "
    "AND contract_end < month + INTERVAL 3 MONTH",
    "ARPU fell >= 30 % vs previous 3 months": "arpu < 0.7 * arpu_prev3",
    "complaint this month": "complaints > 0",
    "competitor-service contact": "competitor_contacts > 0",
    "dual competitor user": "dual_competitor",
    "satisfaction score < 80": "satisfaction_score < 80",
    "NPS answer 0-6 (detractor)": "nps_score <= 6",
    "weak coverage >= 15 % of data (mobile)": "weak_coverage_share >= 15",
    "ARPU < 20": "arpu < 20",
    "tenure < 12 months": "activation_date > month - INTERVAL 12 MONTH",
    "abnormal status": "status IN ('suspended', 'arrears_stopped', 'cancelling')",
    "converged": "is_converged",
    "corporate-paid / group payment > 50": "payment_type = 'corporate' "
    "OR group_payment_amount > 50",
}


def drivers(n: int, months: int, seed: int) -> dict:
    """Churn rate with / without each driver over ``months - 1`` transitions (non-cancelled)."""
    import duckdb
    import pyarrow as pa

    from weixi.store.months import churn_label_sql
    from weixi.synth.generate import make_history

    con = duckdb.connect()
    con.register("h", pa.concat_tables([t for _, t in make_history(n, months, seed=seed)]))
    con.execute("CREATE TABLE snapshot AS SELECT * FROM h")
    con.execute(
        f"""CREATE TABLE f AS SELECT s.*, l.churned,
              avg(s.arpu) OVER (PARTITION BY subscriber_id ORDER BY month
                                ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING) AS arpu_prev3
            FROM snapshot s JOIN ({churn_label_sql()}) l USING (month, subscriber_id)
            WHERE s.status <> 'cancelled'"""
    )
    con.execute("DELETE FROM f WHERE month = (SELECT max(month) FROM snapshot)")
    rates = con.execute("SELECT round(100 * avg(churned), 2) FROM f GROUP BY month ORDER BY month")
    out: dict = {"monthly_churn_pct": [r[0] for r in rates.fetchall()]}
    for name, cond in DRIVERS.items():
        w, wo, share = con.execute(
            f"""SELECT round(100 * avg(churned) FILTER (WHERE {cond}), 1),
                       round(100 * avg(churned) FILTER (WHERE NOT coalesce({cond}, FALSE)), 1),
                       round(100 * avg(coalesce({cond}, FALSE)::INT), 1) FROM f"""
        ).fetchone()
        out[name] = {"with_pct": w, "without_pct": wo, "share_pct": share}
    return out


def main() -> None:
    """Run the benchmark once and print its JSON line."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--subscribers", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", default="csv", choices=("csv", "parquet"))
    ap.add_argument("--batch-size", type=int, default=500_000, help="rows per streamed chunk")
    ap.add_argument("--out", default=None, help="keep the files here (default: temp, removed)")
    ap.add_argument("--shares", action="store_true", help="print measured distributions")
    ap.add_argument("--drivers", action="store_true", help="print churn with / without each driver")
    args = ap.parse_args()
    if args.drivers:
        result = drivers(args.subscribers, max(args.months, 2), args.seed)
        print(json.dumps(result, ensure_ascii=False))
        return
    if args.shares:
        print(json.dumps(shares(args.subscribers, args.seed), ensure_ascii=False, default=str))
        return
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="weixi-bench-"))
    t0 = time.perf_counter()
    op = SyntheticOperator(args.subscribers, seed=args.seed)
    t_init = time.perf_counter() - t0
    state = sum(v.nbytes for v in op.s.values())
    result = write_raw(op, out, months=args.months, fmt=args.format, batch_size=args.batch_size)
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.iterdir())
    rows = sum(m["rows"] for m in result["months"])
    if not args.out:
        shutil.rmtree(out)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 2**20  # KiB -> GiB
    cpu = usage.ru_utime + usage.ru_stime  # load-independent: the machine is shared
    print(
        json.dumps(
            {
                "subscribers": args.subscribers,
                "months": args.months,
                "format": args.format,
                "batch_size": args.batch_size,
                "seconds": round(seconds, 2),
                "init_seconds": round(t_init, 2),
                "cpu_seconds": round(cpu, 2),
                "state_gib": round(state / 2**30, 3),
                "peak_rss_gib": round(peak, 3),
                "rows_per_s": round(rows / seconds),
                "bytes": size,
            }
        )
    )


if __name__ == "__main__":
    main()
