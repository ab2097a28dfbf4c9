"""The synthetic operator: schema, determinism, distributions, churn drivers, hidden responses."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.factories import SyntheticOperator, canonical_schema, make_history, make_month
from weixi.ingest.schema import FIELDS, REQUIRED
from weixi.store.months import churn_label_sql
from weixi.synth import reference as ref
from weixi.synth.generate import BROADBAND_ACTIONS, MOBILE_ACTIONS


@pytest.fixture(scope="module")
def op() -> SyntheticOperator:
    return SyntheticOperator(30_000, seed=11, start_month="2026-01")


@pytest.fixture(scope="module")
def base(op) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("snap", op.snapshot())
    return con


@pytest.fixture(scope="module")
def history() -> duckdb.DuckDBPyConnection:
    """Five months of 30 k lines with the churn label of the first four."""
    con = duckdb.connect()
    table = pa.concat_tables([t for _, t in make_history(25_000, months=5, seed=5)])
    con.register("h", table)
    con.execute("CREATE OR REPLACE TABLE snapshot AS SELECT * FROM h")
    con.execute(f"CREATE TABLE lab AS {churn_label_sql()}")
    con.execute(
        """CREATE TABLE f AS
        SELECT s.*, l.churned,
          s.arpu < 0.7 * avg(s.arpu) OVER w AS arpu_drop,
          count(*) OVER w AS n_prev
        FROM snapshot s JOIN lab l USING (month, subscriber_id)
        WINDOW w AS (PARTITION BY subscriber_id ORDER BY month
                     ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING)"""
    )
    con.execute("DELETE FROM f WHERE month = (SELECT max(month) FROM snapshot)")
    return con


def one(con, sql):
    return con.execute(sql).fetchone()


def test_schema_is_canonical_and_ids_unique():
    t = make_month(500, seed=0, month="2026-01")
    assert t.schema.equals(canonical_schema())
    assert t.column_names == ["month", *(f.name for f in FIELDS)]
    assert t.num_rows == 500
    assert pc.count_distinct(t.column("subscriber_id")).as_py() == 500
    for name in REQUIRED:
        assert t.column(name).null_count == 0, name
    assert set(pc.unique(t.column("month")).to_pylist()) == {
        __import__("datetime").date(2026, 1, 1)
    }


def test_determinism_by_seed():
    assert make_month(400, seed=3).equals(make_month(400, seed=3))
    assert not make_month(400, seed=3).equals(make_month(400, seed=4))
    h1 = make_history(300, months=3, seed=9)
    h2 = make_history(300, months=3, seed=9)
    assert all(a[1].equals(b[1]) for a, b in zip(h1, h2, strict=True))


def test_values_respect_schema_choices_and_ranges(base):
    for f in FIELDS:
        if f.choices:
            bad = one(
                base,
                f"SELECT count(*) FROM snap WHERE {f.name} IS NOT NULL "
                f"AND {f.name} NOT IN ({', '.join(repr(c) for c in f.choices)})",
            )[0]
            assert bad == 0, f.name
        if f.min is not None:
            assert one(base, f"SELECT count(*) FROM snap WHERE {f.name} < {f.min}")[0] == 0
        if f.max is not None:
            assert one(base, f"SELECT count(*) FROM snap WHERE {f.name} > {f.max}")[0] == 0


def test_line_types_status_and_exclusion_flags(base):
    shares = dict(
        base.execute(
            "SELECT line_type, count(*) / sum(count(*)) OVER () FROM snap GROUP BY 1"
        ).fetchall()
    )
    assert 0.72 < shares["mobile"] < 0.78
    assert 0.15 < shares["broadband"] < 0.21
    assert {"data_card", "iot", "payphone", "fixed"} <= set(shares)
    abnormal, free, public, dnd, tenure3 = one(
        base,
        """SELECT avg((status <> 'active')::INT), avg(is_free_account::INT),
                  avg(is_public_paid::INT), avg(do_not_disturb::INT),
                  avg((activation_date > month - INTERVAL 3 MONTH)::INT) FROM snap""",
    )
    assert 0.02 < abnormal < 0.07
    assert 0.001 < free < 0.01 and 0.002 < public < 0.012
    assert 0.02 < dnd < 0.04
    assert 0.02 < tenure3 < 0.06


def test_value_bands_contracts_and_snapshot_list(base):
    hi, lo, a1, a2, b1 = one(
        base,
        """SELECT avg((arpu >= 80)::INT), avg((arpu < 20)::INT),
                  avg((contract_end >= month AND contract_end < month + INTERVAL 3 MONTH)::INT),
                  avg((contract_type = 'none')::INT), avg(snapshot_midhigh::INT)
           FROM snap WHERE line_type = 'mobile'""",
    )
    assert 0.17 < hi < 0.30 and 0.10 < lo < 0.22
    assert 0.09 < a1 < 0.20 and 0.28 < a2 < 0.42
    assert 0.06 < b1 < 0.18
    bb_hi, bb_lo, bb_a1 = one(
        base,
        """SELECT avg((arpu >= 120)::INT), avg((arpu < 30)::INT),
                  avg((contract_end >= month AND contract_end < month + INTERVAL 3 MONTH)::INT)
           FROM snap WHERE line_type = 'broadband'""",
    )
    assert 0.12 < bb_hi < 0.28 and 0.02 < bb_lo < 0.10 and 0.10 < bb_a1 < 0.28
    kinds = {r[0] for r in base.execute("SELECT DISTINCT contract_type FROM snap").fetchall()}
    assert kinds == {
        "none",
        "handset_subsidy",
        "prepaid_credit",
        "package_prepay",
        "deposit_bonus",
        "broadband_annual",
    }


def test_handsets_data_and_broadband_speeds(base):
    old, oldest, f3, median_mb = one(
        base,
        """SELECT avg((date_diff('day', handset_first_use_date, month) >= 548)::INT),
                  max(date_diff('day', handset_first_use_date, month)) / 365.25,
                  avg((data_mb < 30)::INT), median(data_mb)
           FROM snap WHERE line_type = 'mobile'""",
    )
    assert 0.30 < old < 0.60 and oldest > 4
    assert 0.02 < f3 < 0.10 and 2_000 < median_mb < 10_000
    gens = dict(
        base.execute(
            "SELECT handset_generation, count(*) FROM snap WHERE line_type='mobile' GROUP BY 1"
        ).fetchall()
    )
    assert set(gens) == {"2g", "3g", "4g", "5g"}
    legacy, modern, iptv = one(
        base,
        """SELECT avg((bb_speed_mbps < 4)::INT), avg((bb_speed_mbps >= 100)::INT),
                  avg(has_iptv::INT) FROM snap WHERE line_type = 'broadband'""",
    )
    assert 0.04 < legacy < 0.12 and 0.55 < modern < 0.80 and 0.25 < iptv < 0.45


def test_converged_households_share_customer_id(base):
    shared, bb_conv = one(
        base,
        """WITH h AS (SELECT customer_id, count(DISTINCT line_type) AS kinds,
                        bool_and(is_converged) AS conv FROM snap GROUP BY 1)
           SELECT count(*) FILTER (WHERE kinds = 2 AND conv),
                  (SELECT avg(is_converged::INT) FROM snap WHERE line_type = 'broadband')
           FROM h""",
    )
    assert shared > 1_000 and 0.3 < bb_conv < 0.55


def test_vip_and_group_classes_near_5_25_70(op, base):
    vip = dict(
        base.execute(
            "SELECT vip_level, count(*) / sum(count(*)) OVER () FROM snap "
            "WHERE vip_level <> 'none' GROUP BY 1"
        ).fetchall()
    )
    assert 0.03 < vip["diamond"] < 0.09
    assert 0.18 < vip["gold"] < 0.34
    assert 0.60 < vip["silver"] < 0.78
    # VIP level on file agrees with annual spend thresholds (silver >= 666)
    assert one(base, "SELECT min(annual_spend) FROM snap WHERE vip_level <> 'none'")[0] >= 666
    groups = op.reference_tables()["enterprise_groups"]
    g = groups.to_pandas()
    key = g["industry"].isin(ref.KEY_INDUSTRIES)
    a = (g["handset_count"] >= 500) | g["is_top500_taxpayer"] | key
    b = ~a & ((g["handset_count"] >= 100) | g["industry"].isin(ref.B_INDUSTRIES))
    assert 0.025 < a.mean() < 0.09
    assert 0.18 < b.mean() < 0.33
    assert 0.60 < (~a & ~b).mean() < 0.78
    members, corporate = one(
        base,
        """SELECT avg((group_id IS NOT NULL)::INT),
                  avg((payment_type = 'corporate' OR group_payment_amount > 50)::INT)
           FROM snap WHERE line_type = 'mobile'""",
    )
    assert 0.10 < members < 0.20 and 0.03 < corporate < 0.15


def test_staff_sized_by_vip_and_lines(op, base):
    staff = op.reference_tables()["staff"].to_pandas()
    assert set(staff["channel"]) == {"account_manager", "call_center", "store"}
    assert set(staff["branch_id"]) == {b[0] for b in ref.BRANCHES}
    n_vip = one(base, "SELECT count(*) FROM snap WHERE vip_level <> 'none'")[0]
    n_am = (staff["channel"] == "account_manager").sum()
    assert n_vip / 400 <= n_am <= n_vip / 400 + len(ref.BRANCHES) * 8
    assert staff["staff_id"].is_unique


def test_pii_looks_real(base):
    rows = base.execute(
        "SELECT phone, name, id_number FROM snap WHERE line_type = 'mobile' LIMIT 2000"
    ).fetchall()
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    for phone, name, idn in rows:
        assert re.fullmatch(r"1[3-9]\d{9}", phone)
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", name)
        assert len(idn) == 18
        check = "10X98765432"[sum(int(c) * w for c, w in zip(idn[:17], weights, strict=True)) % 11]
        assert idn[17] == check
    assert one(base, "SELECT count(DISTINCT phone) = count(*) FROM snap")[0]


def test_signals_present(base):
    comp, contact, zero, dual, sat_missing = one(
        base,
        """SELECT avg((complaints > 0)::INT), avg((competitor_contacts > 0)::INT),
                  avg((zero_call_days >= 10)::INT) FILTER (WHERE line_type = 'mobile'),
                  avg(dual_competitor::INT), avg((satisfaction_score IS NULL)::INT)
           FROM snap""",
    )
    assert 0.01 < comp < 0.06 and 0.02 < contact < 0.10
    assert 0.01 < zero < 0.2 and 0.05 < dual < 0.11 and 0.5 < sat_missing < 0.8


def test_observable_fields_are_noisy_partial_views_of_hidden_loyalty(op):
    """Surveys, network measures and dual SIM follow the hidden loyalty, none of them exactly."""
    snap = op.snapshot()
    u = op.s["u"]

    def col(name):
        return snap.column(name).to_numpy(zero_copy_only=False).astype(float)

    mobile = np.asarray(pc.equal(snap.column("line_type"), "mobile"))
    checks = {  # field: (share present among the lines it applies to, correlation range with u)
        "satisfaction_score": (np.ones(len(u), bool), (0.3, 0.45), (-0.8, -0.5)),
        "nps_score": (np.ones(len(u), bool), (0.08, 0.2), (-0.8, -0.5)),
        "weak_coverage_share": (mobile, (0.9, 1.0), (0.25, 0.6)),
        "dropped_call_rate": (mobile, (0.85, 1.0), (0.05, 0.4)),
        "dual_competitor": (np.ones(len(u), bool), (1.0, 1.0), (0.05, 0.3)),
    }
    for name, (rows, present_range, corr_range) in checks.items():
        x = col(name)[rows]
        present = ~np.isnan(x)
        assert present_range[0] <= present.mean() <= present_range[1], (name, present.mean())
        r = np.corrcoef(x[present], u[rows][present])[0, 1]
        assert corr_range[0] < r < corr_range[1], (name, r)
    # network measures exist on mobile lines only; the survey scales hold
    for name in ("weak_coverage_share", "dropped_call_rate"):
        assert np.isnan(col(name)[~mobile]).all()
    nps = col("nps_score")
    assert set(np.unique(nps[~np.isnan(nps)])) <= set(range(11))


def test_complaints_3m_sums_the_last_three_months():
    op = SyntheticOperator(5_000, seed=4)
    months = []
    for i in range(4):
        if i:
            op.advance()
        t = op.snapshot()
        months.append(
            dict(
                zip(
                    t.column("subscriber_id").to_pylist(),
                    t.column("complaints").to_pylist(),
                    strict=True,
                )
            )
        )
        three = dict(
            zip(
                t.column("subscriber_id").to_pylist(),
                t.column("complaints_3m").to_pylist(),
                strict=True,
            )
        )
    # lines present in all of the last three months: the 3-month count is their sum
    ids = set(months[1]) & set(months[2]) & set(months[3])
    assert len(ids) > 4_000
    assert all(three[i] == months[1][i] + months[2][i] + months[3][i] for i in ids)
    assert sum(three[i] for i in ids) > 0
    # the first month has a history too (not just this month's count)
    first = SyntheticOperator(5_000, seed=4).snapshot()
    c, c3 = (np.asarray(first.column(n)) for n in ("complaints", "complaints_3m"))
    assert (c3 >= c).all() and c3.sum() > 2 * c.sum()


def test_history_churn_and_joiners(history):
    rates = [r[0] for r in history.execute("SELECT avg(churned) FROM f GROUP BY month").fetchall()]
    assert len(rates) == 4
    assert all(0.015 <= r <= 0.035 for r in rates), rates
    # churned lines either vanish or show once with status 'cancelled', then vanish
    cancelled_twice = one(
        history,
        """SELECT count(*) FROM snapshot a JOIN snapshot b USING (subscriber_id)
           WHERE a.status = 'cancelled' AND b.month = a.month + INTERVAL 1 MONTH""",
    )[0]
    assert cancelled_twice == 0
    assert one(history, "SELECT count(*) FROM snapshot WHERE status = 'cancelled'")[0] > 0
    joiners = one(
        history,
        """SELECT count(*) FROM snapshot s WHERE month > DATE '2025-09-01' AND NOT EXISTS
           (SELECT 1 FROM snapshot p WHERE p.subscriber_id = s.subscriber_id
            AND p.month = s.month - INTERVAL 1 MONTH)""",
    )[0]
    assert joiners > 4 * 25_000 * 0.015


@pytest.mark.parametrize(
    "driver",
    [
        "contract_end >= month AND contract_end < month + INTERVAL 3 MONTH",
        "arpu_drop AND n_prev >= 1",
        "complaints > 0",
        "competitor_contacts > 0",
        "arpu < 20",
        "activation_date > month - INTERVAL 12 MONTH",
        "satisfaction_score < 80",
        "nps_score <= 6",
        "weak_coverage_share >= 15",
        "dual_competitor",
    ],
)
def test_churn_drivers_raise_churn(history, driver):
    with_, without = one(
        history,
        f"""SELECT avg(churned) FILTER (WHERE {driver}),
                   avg(churned) FILTER (WHERE NOT coalesce({driver}, FALSE))
            FROM f WHERE status <> 'cancelled' AND line_type = 'mobile'""",
    )
    assert with_ > 1.5 * without, (driver, with_, without)


def test_usage_drops_before_leaving(history):
    drop_leavers, drop_stayers = one(
        history,
        """SELECT avg(arpu_drop::INT) FILTER (WHERE churned = 1),
                  avg(arpu_drop::INT) FILTER (WHERE churned = 0)
           FROM f WHERE n_prev >= 2 AND status = 'active'""",
    )
    assert drop_leavers > 0.25 and drop_leavers > 5 * drop_stayers


def test_true_churn_prob_is_calibrated():
    op = SyntheticOperator(20_000, seed=8)
    p = op.true_churn_prob()
    ids = set(op.snapshot().column("subscriber_id").to_pylist())
    expected = float(pc.sum(p.column("p_churn")).as_py())
    op.advance()
    nxt = op.snapshot()
    stayed = pc.and_(
        pc.is_in(nxt.column("subscriber_id"), pa.array(list(ids))),
        pc.not_equal(nxt.column("status"), "cancelled"),
    )
    churned = len(ids) - pc.sum(stayed).as_py()
    assert abs(churned - expected) < 4 * expected**0.5 + 10


def test_hidden_responses_are_heterogeneous(op, base):
    r = op.hidden_responses()
    assert r.column_names == [
        "subscriber_id",
        "line_type",
        "action",
        "p_accept",
        "churn_reduction",
    ]
    con = duckdb.connect()
    con.register("r", r)
    con.register("s", op.snapshot())
    stats = {
        a: (m, sd, neg)
        for a, m, sd, neg in con.execute(
            """SELECT action, avg(churn_reduction), stddev(churn_reduction),
                      avg((churn_reduction < 0)::INT) FROM r GROUP BY 1"""
        ).fetchall()
    }
    assert set(stats) == set(MOBILE_ACTIONS) | set(BROADBAND_ACTIONS)
    assert all(sd > 0.04 for _, sd, _ in stats.values())
    assert 0.0 < stats["care_call"][0] < 0.2  # mild
    assert any(neg > 0.05 for _, _, neg in stats.values())  # harmful for some segments
    n_mobile = one(
        base, "SELECT count(*) FROM snap WHERE line_type='mobile' AND status <> 'cancelled'"
    )[0]
    assert one(con, "SELECT count(*) FROM r WHERE action = 'handset_upgrade'")[0] == n_mobile
    old, new = one(
        con,
        """SELECT avg(churn_reduction) FILTER (WHERE date_diff('day', s.handset_first_use_date,
                      s.month) > 900),
                  avg(churn_reduction) FILTER (WHERE date_diff('day', s.handset_first_use_date,
                      s.month) < 300)
           FROM r JOIN s USING (subscriber_id) WHERE action = 'handset_upgrade'""",
    )
    assert old > new + 0.3
    no_mobile, has_mobile = one(
        con,
        """SELECT avg(churn_reduction) FILTER (WHERE NOT s.has_mobile_line),
                  avg(churn_reduction) FILTER (WHERE s.has_mobile_line)
           FROM r JOIN s USING (subscriber_id) WHERE action = 'add_mobile'""",
    )
    assert no_mobile > has_mobile + 0.3
    p = r.column("p_accept").to_numpy()
    assert p.min() > 0 and p.max() < 1 and p.std() > 0.1
    assert op.hidden_responses().equals(r)  # stable within a month


def test_systematic_responses_integrate_out_each_customers_taste(op):
    """``systematic=True``: the same response functions without the per-line taste draws."""
    r = op.hidden_responses()
    sysr = op.hidden_responses(systematic=True)
    assert sysr.column("subscriber_id").equals(r.column("subscriber_id"))
    cr, cr0 = (t.column("churn_reduction").to_numpy() for t in (r, sysr))
    acc, acc0 = (t.column("p_accept").to_numpy() for t in (r, sysr))
    inside = (cr > -0.3) & (cr < 0.9) & (cr0 > -0.24) & (cr0 < 0.84)
    assert np.abs(cr - cr0)[inside].max() <= 0.06 + 1e-9  # ±0.12 × U(−½, ½)
    assert abs(float((cr - cr0)[inside].mean())) < 0.005  # the draw has mean zero
    # E[σ(z + 1.2·e)], e ~ U(−½, ½): equal on average
    assert abs(float(acc.mean() - acc0.mean())) < 0.005
    e = (np.arange(4000) + 0.5) / 4000 - 0.5  # midpoint rule
    zz = 0.3  # the closed form against a numerical integral
    closed = (np.logaddexp(0, zz + 0.6) - np.logaddexp(0, zz - 0.6)) / 1.2
    assert abs(closed - float(np.mean(1 / (1 + np.exp(-(zz + 1.2 * e)))))) < 1e-6


def _treat_all(op: SyntheticOperator, action: str, line: str) -> pa.Table:
    snap = op.snapshot()
    ids = snap.filter(pc.equal(snap.column("line_type"), line)).column("subscriber_id")
    n = len(ids)
    return pa.table({"subscriber_id": ids, "action": [action] * n, "accepted": np.ones(n, bool)})


def _churned_next(op: SyntheticOperator, ids: set[str]) -> int:
    nxt = op.snapshot()
    alive = nxt.filter(pc.not_equal(nxt.column("status"), "cancelled"))
    return len(ids - set(alive.column("subscriber_id").to_pylist()))


def test_accepted_care_reduces_churn_against_control():
    treated, control = SyntheticOperator(20_000, seed=4), SyntheticOperator(20_000, seed=4)
    snap = control.snapshot()
    assert treated.snapshot().equals(snap)
    ids = set(
        snap.filter(
            pc.and_(
                pc.equal(snap.column("line_type"), "mobile"),
                pc.not_equal(snap.column("status"), "cancelled"),
            )
        )
        .column("subscriber_id")
        .to_pylist()
    )
    resp = treated.hidden_responses().filter(pc.equal(pc.field("action"), "care_call"))
    p = treated.true_churn_prob()
    expected = pa.table({"subscriber_id": resp.column("subscriber_id")}).join(p, "subscriber_id")
    treated.advance(_treat_all(treated, "care_call", "mobile"))
    control.advance()
    churn_t, churn_c = _churned_next(treated, ids), _churned_next(control, ids)
    assert churn_t < churn_c
    # the reduction matches the hidden truth: sum(p * churn_reduction)
    truth = resp.join(expected, "subscriber_id")
    saved = float(
        pc.sum(pc.multiply(truth.column("p_churn"), truth.column("churn_reduction"))).as_py()
    )
    assert abs((churn_c - churn_t) - saved) < 4 * saved**0.5 + 5


def test_accepted_handset_upgrade_changes_the_line():
    op = SyntheticOperator(3_000, seed=6)
    snap = op.snapshot()
    mob = snap.filter(
        pc.and_(
            pc.equal(snap.column("line_type"), "mobile"),
            pc.equal(snap.column("status"), "active"),
        )
    )
    sid = mob.column("subscriber_id")[0].as_py()
    op.advance(
        pa.table({"subscriber_id": [sid], "action": ["handset_upgrade"], "accepted": [True]})
    )
    nxt = op.snapshot()
    row = nxt.filter(pc.equal(nxt.column("subscriber_id"), sid)).to_pylist()
    if row:  # (it may still churn)
        r = row[0]
        assert r["contract_type"] == "handset_subsidy"
        assert r["handset_generation"] == "5g"
        assert (r["month"] - r["handset_first_use_date"]).days < 31


def test_unknown_action_and_bad_arguments_fail_clearly():
    from weixi.errors import ConfigError

    op = SyntheticOperator(200, seed=1)
    sid = op.snapshot().column("subscriber_id")[0].as_py()
    with pytest.raises(ConfigError, match="unknown action"):
        op.advance(pa.table({"subscriber_id": [sid], "action": ["bribe"], "accepted": [True]}))
    with pytest.raises(ConfigError, match="subscriber_id"):
        op.advance(
            pa.table({"subscriber_id": ["Sabc"], "action": ["care_call"], "accepted": [True]})
        )
    with pytest.raises(ConfigError, match="n_subscribers"):
        SyntheticOperator(0)
    with pytest.raises(ConfigError, match="only the current month"):
        op.snapshot(5)
