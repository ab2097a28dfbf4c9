"""A hand-built month with a subscriber on every boundary of the seed preset gets exactly
the seed's codes (as_of = 2026-03-31; a month is 30 days; 1.5 years = 548 days)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from tests.segment.helpers import load_months
from weixi.segment import service
from weixi.segment.features import snapshot_schema
from weixi.store.months import add_months

MONTH = dt.date(2026, 3, 1)
AS_OF = dt.date(2026, 3, 31)
SCHEMA = snapshot_schema().to_pyarrow()

BASE = {
    "customer_id": None,
    "branch_id": "HZ",
    "line_type": "mobile",
    "status": "active",
    "is_free_account": False,
    "is_public_paid": False,
    "is_dedicated_line": False,
    "do_not_disturb": False,
    "credit_list": "none",
    "payment_type": "personal",
    "group_payment_amount": 0.0,
    "activation_date": dt.date(2020, 1, 1),
    "contract_type": "none",
    "contract_end": None,
    "is_converged": False,
    "arpu": 50.0,
    "voice_minutes": 100.0,
    "sms_mms_spend": 1.0,
    "vas_spend": 1.0,
    "data_mb": 50.0,
    "handset_generation": "4g",
    "handset_smart": True,
    "handset_first_use_date": AS_OF - dt.timedelta(days=200),
    "vip_level": "none",
    "annual_spend": 600.0,
    "snapshot_midhigh": False,
    "dual_competitor": False,
    "complaints": 0,
    "satisfaction_score": None,
}
BB = {
    "line_type": "broadband",
    "arpu": 60.0,
    "voice_minutes": None,
    "data_mb": None,
    "handset_generation": None,
    "handset_smart": None,
    "handset_first_use_date": None,
    "bb_speed_mbps": 4.0,
    "bb_online_hours": 100.0,
    "has_iptv": False,
    "has_mobile_line": False,
}


def days(n: int) -> dt.date:
    return AS_OF + dt.timedelta(days=n)


# (subscriber, current-month overrides, previous-3-months overrides, expected code or reason)
CASES: list[tuple[str, dict, dict, str]] = [
    ("base", {}, {}, "A2-B3-C2/D1-E3-F2"),
    # B value: 3-month average ARPU 19.99 / 20 / 79.99 / 80, snapshot list
    ("arpu_19_99", {"arpu": 19.99}, {}, "A2-B4-C2/D1-E3-F2"),
    ("arpu_20", {"arpu": 20.0}, {}, "A2-B3-C2/D1-E3-F2"),
    ("arpu_79_99", {"arpu": 79.99}, {}, "A2-B3-C2/D1-E3-F2"),
    ("arpu_80", {"arpu": 80.0}, {}, "A2-B2-C2/D1-E3-F2"),
    ("snapshot_list", {"arpu": 10.0, "snapshot_midhigh": True}, {}, "A2-B1-C2/D1-E3-F2"),
    # A binding: contract ends in 89 / 90 / 91 days, already ended, no contract
    (
        "contract_89d",
        {"contract_type": "handset_subsidy", "contract_end": days(89)},
        {},
        "A1-B3-C2/D1-E3-F2",
    ),
    (
        "contract_90d",
        {"contract_type": "handset_subsidy", "contract_end": days(90)},
        {},
        "A3-B3-C2/D1-E3-F2",
    ),
    (
        "contract_91d",
        {"contract_type": "prepaid_credit", "contract_end": days(91)},
        {},
        "A3-B3-C2/D1-E3-F2",
    ),
    (
        "contract_today",
        {"contract_type": "package_prepay", "contract_end": days(0)},
        {},
        "A1-B3-C2/D1-E3-F2",
    ),
    (
        "contract_ended",
        {"contract_type": "deposit_bonus", "contract_end": days(-1)},
        {},
        "A2-B3-C2/D1-E3-F2",
    ),
    # tenure 2.9 months (87 days) excluded, 3.0 months (90 days) kept
    ("tenure_2_9", {"activation_date": days(-87)}, None, "short_tenure"),
    ("tenure_3_0", {"activation_date": days(-90)}, None, "A2-B3-C2/D1-E3-F2"),
    # C tendency: ARPU 100 → 70.1 (29.9 %) / 70 (30 %); minutes alike; low-risk payers
    ("arpu_drop_29_9", {"arpu": 70.1}, {"arpu": 100.0}, "A2-B2-C2/D1-E3-F2"),
    ("arpu_drop_30", {"arpu": 70.0}, {"arpu": 100.0}, "A2-B2-C1/D1-E3-F2"),
    ("min_drop_29_9", {"voice_minutes": 70.1}, {"voice_minutes": 100.0}, "A2-B3-C2/D1-E3-F2"),
    ("min_drop_30", {"voice_minutes": 70.0}, {"voice_minutes": 100.0}, "A2-B3-C1/D1-E3-F2"),
    ("corporate", {"payment_type": "corporate"}, {}, "A2-B3-C3/D1-E3-F2"),
    ("group_pay_50", {"group_payment_amount": 50.0}, {}, "A2-B3-C2/D1-E3-F2"),
    ("group_pay_50_01", {"group_payment_amount": 50.01}, {}, "A2-B3-C3/D1-E3-F2"),
    ("converged", {"is_converged": True}, {}, "A2-B3-C3/D1-E3-F2"),
    (
        "drop_and_corporate",
        {"arpu": 70.0, "payment_type": "corporate"},
        {"arpu": 100.0},
        "A2-B2-C1/D1-E3-F2",
    ),
    # D handset tier
    ("h_3g_smart", {"handset_generation": "3g"}, {}, "A2-B3-C2/D1-E3-F2"),
    ("h_3g_plain", {"handset_generation": "3g", "handset_smart": False}, {}, "A2-B3-C2/D2-E3-F2"),
    ("h_2g", {"handset_generation": "2g", "handset_smart": False}, {}, "A2-B3-C2/D3-E3-F2"),
    ("h_unknown", {"handset_generation": None, "handset_smart": None}, {}, "A2-B3-C2/D3-E3-F2"),
    # E handset age 1.0 / 1.003 / 1.499 / 1.501 years
    ("age_365d", {"handset_first_use_date": days(-365)}, {}, "A2-B3-C2/D1-E3-F2"),
    ("age_366d", {"handset_first_use_date": days(-366)}, {}, "A2-B3-C2/D1-E2-F2"),
    ("age_547d", {"handset_first_use_date": days(-547)}, {}, "A2-B3-C2/D1-E2-F2"),
    ("age_548d", {"handset_first_use_date": days(-548)}, {}, "A2-B3-C2/D1-E1-F2"),
    # F data 29.99 / 30 / 99.99 / 100 MB (3-month average)
    ("data_29_99", {"data_mb": 29.99}, {}, "A2-B3-C2/D1-E3-F3"),
    ("data_30", {"data_mb": 30.0}, {}, "A2-B3-C2/D1-E3-F2"),
    ("data_99_99", {"data_mb": 99.99}, {}, "A2-B3-C2/D1-E3-F2"),
    ("data_100", {"data_mb": 100.0}, {}, "A2-B3-C2/D1-E3-F1"),
    ("data_avg_100", {"data_mb": 160.0}, {"data_mb": 70.0}, "A2-B3-C2/D1-E3-F1"),
    # broadband: ARPU 29.99 / 30 / 119.99 / 120, speed 1.99 / 2 / 3.99 / 4, G and I
    ("bb_arpu_29_99", {**BB, "arpu": 29.99}, {}, "A2-B4-C2/G2-H1-I2"),
    ("bb_arpu_30", {**BB, "arpu": 30.0}, {}, "A2-B3-C2/G2-H1-I2"),
    ("bb_arpu_119_99", {**BB, "arpu": 119.99}, {}, "A2-B3-C2/G2-H1-I2"),
    ("bb_arpu_120", {**BB, "arpu": 120.0}, {}, "A2-B2-C2/G2-H1-I2"),
    ("bb_speed_1_99", {**BB, "bb_speed_mbps": 1.99}, {}, "A2-B3-C2/G2-H3-I2"),
    ("bb_speed_2", {**BB, "bb_speed_mbps": 2.0}, {}, "A2-B3-C2/G2-H2-I2"),
    ("bb_speed_3_99", {**BB, "bb_speed_mbps": 3.99}, {}, "A2-B3-C2/G2-H2-I2"),
    ("bb_mobile_itv", {**BB, "has_mobile_line": True, "has_iptv": True}, {}, "A2-B3-C2/G1-H1-I1"),
    (
        "bb_online_drop_30",
        {**BB, "bb_online_hours": 70.0},
        {"bb_online_hours": 100.0},
        "A2-B3-C1/G2-H1-I2",
    ),
    (
        "bb_online_drop_29",
        {**BB, "bb_online_hours": 70.1},
        {"bb_online_hours": 100.0},
        "A2-B3-C2/G2-H1-I2",
    ),
    (
        "bb_annual_89d",
        {**BB, "contract_type": "broadband_annual", "contract_end": days(89)},
        {},
        "A1-B3-C2/G2-H1-I2",
    ),
    # exclusions, first matching rule in preset order wins
    ("x_free", {"is_free_account": True, "do_not_disturb": True}, {}, "free_account"),
    ("x_public", {"is_public_paid": True}, {}, "public_paid"),
    ("x_datacard", {"line_type": "data_card"}, {}, "data_card"),
    ("x_payphone", {"line_type": "payphone"}, {}, "payphone"),
    ("x_iot", {"line_type": "iot"}, {}, "iot"),
    ("x_fixed", {"line_type": "fixed"}, {}, "not_segmented"),
    ("x_dedicated", {**BB, "is_dedicated_line": True}, {}, "dedicated_line"),
    ("x_suspended", {"status": "suspended"}, {}, "abnormal_status"),
    ("x_arrears", {"status": "arrears_stopped"}, {}, "abnormal_status"),
    ("x_red", {"credit_list": "red"}, {}, "red_black_list"),
    ("x_black", {"credit_list": "black"}, {}, "red_black_list"),
    ("x_dnd", {"do_not_disturb": True}, {}, "do_not_disturb"),
    ("grey_kept", {"credit_list": "grey"}, {}, "A2-B3-C2/D1-E3-F2"),
]

# Other classifications: subscriber -> {column: expected}
OTHER: list[tuple[str, dict, dict]] = [
    ("vip_3000", {"annual_spend": 3000.0}, {"vip_tier": "diamond"}),
    ("vip_2999", {"annual_spend": 2999.99}, {"vip_tier": "gold"}),
    ("vip_1500", {"annual_spend": 1500.0}, {"vip_tier": "gold"}),
    ("vip_666", {"annual_spend": 666.0}, {"vip_tier": "silver"}),
    ("vip_665", {"annual_spend": 665.99}, {"vip_tier": "none"}),
    ("vip_est", {"annual_spend": None, "arpu": 260.0}, {"vip_tier": "diamond"}),
    ("grp_500", {"group_id": "G500"}, {"group_class": "A", "value_class": "key"}),
    ("grp_499", {"group_id": "G499"}, {"group_class": "B", "value_class": "maintain"}),
    ("grp_bank", {"group_id": "GBANK"}, {"group_class": "A"}),
    ("grp_top500", {"group_id": "GTOP"}, {"group_class": "A"}),
    ("grp_insurance", {"group_id": "GINS"}, {"group_class": "B"}),
    ("grp_99", {"group_id": "G99"}, {"group_class": "C"}),
    ("grp_unknown", {"group_id": "GNONE"}, {"group_class": "C"}),
    ("sat_95", {"satisfaction_score": 95.0}, {"satisfaction_band": "S1"}),
    ("sat_94", {"satisfaction_score": 94.99}, {"satisfaction_band": "S2"}),
    ("sat_80", {"satisfaction_score": 80.0}, {"satisfaction_band": "S2"}),
    ("sat_60", {"satisfaction_score": 60.0}, {"satisfaction_band": "S3"}),
    ("sat_40", {"satisfaction_score": 40.0}, {"satisfaction_band": "S4"}),
    ("sat_39", {"satisfaction_score": 39.99}, {"satisfaction_band": "S5"}),
    ("dual", {"dual_competitor": True}, {"relationship": "competitor_dual"}),
    ("churned", {"status": "cancelled"}, {"relationship": "churned"}),
    ("grey", {"credit_list": "grey"}, {"credit": "grey"}),
    ("low_abandon", {"arpu": 7.99}, {"value_class": "abandon", "b": "B4"}),
    ("low_improve", {"arpu": 8.0}, {"value_class": "improve", "b": "B4"}),
    ("low_complainer", {"arpu": 19.0, "complaints": 1}, {"value_class": "abandon"}),
    ("high_vip", {"arpu": 90.0}, {"value_class": "vip", "vad": "NVAD"}),
]

GROUPS = pa.table(
    {
        "group_id": ["G500", "G499", "GBANK", "GTOP", "GINS", "G99"],
        "name": ["a", "b", "c", "d", "e", "f"],
        "branch_id": ["HZ"] * 6,
        "handset_count": [500, 499, 20, 20, 20, 99],
        "industry": ["retail", "retail", "bank", "retail", "insurance", "manufacturing"],
        "is_top500_taxpayer": [False, False, False, True, False, False],
        "annual_spend": [1000.0] * 6,
    }
)


def _rows() -> list[pa.Table]:
    by_month: dict[dt.date, list[dict]] = {add_months(MONTH, -i): [] for i in range(4)}
    specs = [(sid, cur, prev) for sid, cur, prev, _ in CASES] + [
        (sid, cur, {}) for sid, cur, _ in OTHER
    ]
    for sid, cur, prev in specs:
        row = {**BASE, **cur, "subscriber_id": sid, "customer_id": f"C-{sid}"}
        by_month[MONTH].append({**row, "month": MONTH})
        if prev is None:  # a new line: no history
            continue
        for i in (1, 2, 3):
            by_month[add_months(MONTH, -i)].append({**row, **prev, "month": add_months(MONTH, -i)})
    out = []
    for month in sorted(by_month):
        rows = by_month[month]
        out.append(pa.Table.from_pylist(rows, schema=SCHEMA))
    return out


@pytest.fixture(scope="module")
def result():
    from weixi.store.analytics import connect

    con = connect(":memory:")
    load_months(con, _rows(), {"enterprise_groups": GROUPS})
    table, issues = service.compute(con, MONTH)
    con.close()
    return {r["subscriber_id"]: r for r in table.to_pylist()}, issues


@pytest.mark.parametrize(("sid", "expected"), [(c[0], c[3]) for c in CASES])
def test_seed_codes_on_every_boundary(result, sid, expected):
    rows, _ = result
    row = rows[sid]
    if "/" in expected:
        assert not row["excluded"], row["exclusion_reason"]
        assert row["code"] == expected
    else:
        assert row["excluded"] and row["exclusion_reason"] == expected


@pytest.mark.parametrize(("sid", "expected"), [(c[0], c[2]) for c in OTHER])
def test_other_classifications_on_boundaries(result, sid, expected):
    rows, _ = result
    for col, value in expected.items():
        assert rows[sid][col] == value, (sid, col, rows[sid][col])


def test_derived_features_are_exact(result):
    rows, _ = result
    assert rows["arpu_drop_30"]["arpu_drop_pct"] == 30.0
    assert rows["arpu_drop_30"]["arpu_3m"] == 90.0
    assert rows["arpu_drop_29_9"]["arpu_drop_pct"] == pytest.approx(29.9)
    assert rows["contract_89d"]["months_to_contract_end"] == pytest.approx(89 / 30)
    assert rows["tenure_3_0"]["tenure_months"] == 3.0
    assert rows["age_365d"]["handset_age_years"] == 1.0
    assert rows["data_avg_100"]["data_mb_3m"] == 100.0
    assert rows["tenure_3_0"]["arpu_drop_pct"] is None  # no history: no drop signal


def test_priority_rank_and_urgency(result):
    rows, _ = result
    assert (rows["contract_89d"]["priority_rank"], rows["contract_89d"]["urgency"]) == (8, "red")
    assert rows["arpu_80"]["urgency"] == "red"  # unbound, high value, medium tendency
    assert rows["base"]["urgency"] == "blue"  # unbound, medium value, medium tendency
    assert rows["arpu_19_99"]["urgency"] == "green"
    assert rows["x_dnd"]["priority_rank"] is None and rows["x_dnd"]["urgency"] is None
    assert rows["x_iot"]["code"] is None


def test_seed_preset_has_no_overlaps_or_gaps_here(result):
    _, issues = result
    assert issues == []
