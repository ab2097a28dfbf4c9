"""The seed matching matrix reproduces on a hand-built fixture: one case per matrix cell."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.strategy.factories import MONTH, load, random_segments, segments_frame
from weixi.errors import RuleError
from weixi.store.analytics import connect
from weixi.strategy.library import load_preset, parse_library
from weixi.strategy.match import candidates, match

MOB = {"line_type": "mobile"}
BB = {"line_type": "broadband"}

# (case id, segment values, expected set of matched actions, expected primary action or None)
# Mobile (seed 16/17): D1/D2 = 3G current generation, D3 = 2G; E3 ≤1y, E2 1–1.5y, E1 >1.5y;
# F3 < 30 MB, F1/F2 ≥ 30 MB.
MATRIX = [
    # binding warning (A1): all of them are dispatched, by handset age and data use
    (
        "A1 3G smart ≤1y <30M",
        {"a": "A1", "d": "D1", "e": "E3", "f": "F3"},
        {"prepay_credit"},
        "prepay_credit",
    ),
    (
        "A1 3G non-smart 1-1.5y <30M",
        {"a": "A1", "d": "D2", "e": "E2", "f": "F3"},
        {"prepay_credit"},
        "prepay_credit",
    ),
    (
        "A1 3G ≤1y ≥100M",
        {"a": "A1", "d": "D1", "e": "E3", "f": "F1"},
        {"prepay_data"},
        "prepay_data",
    ),
    (
        "A1 3G 1-1.5y 30-100M",
        {"a": "A1", "d": "D2", "e": "E2", "f": "F2"},
        {"prepay_data"},
        "prepay_data",
    ),
    (
        "A1 3G >1.5y",
        {"a": "A1", "d": "D1", "e": "E1", "f": "F3"},
        {"handset_upgrade"},
        "handset_upgrade",
    ),
    ("A1 2G", {"a": "A1", "d": "D3", "e": "E3", "f": "F1"}, {"handset_upgrade"}, "handset_upgrade"),
    # unbound (A2) with high or medium tendency: the same plus a warning care call (A wins)
    (
        "A2 C1 3G ≤1y <30M",
        {"a": "A2", "c": "C1", "d": "D1", "e": "E3", "f": "F3"},
        {"prepay_credit", "care_call"},
        "care_call",
    ),
    (
        "A2 C2 3G 1-1.5y ≥30M",
        {"a": "A2", "c": "C2", "d": "D1", "e": "E2", "f": "F1"},
        {"prepay_data", "care_call"},
        "care_call",
    ),
    (
        "A2 C1 3G >1.5y",
        {"a": "A2", "c": "C1", "d": "D2", "e": "E1", "f": "F2"},
        {"handset_upgrade", "care_call"},
        None,
    ),
    (
        "A2 C2 2G",
        {"a": "A2", "c": "C2", "d": "D3", "e": "E2", "f": "F3"},
        {"handset_upgrade", "care_call"},
        None,
    ),
    ("A2 C3 low tendency", {"a": "A2", "c": "C3", "d": "D1", "e": "E1", "f": "F1"}, set(), None),
    # bound (A3): high tendency → care call; high value → package fit
    (
        "A3 C1 medium value",
        {"a": "A3", "b": "B3", "c": "C1", "d": "D1", "e": "E1"},
        {"care_call"},
        "care_call",
    ),
    (
        "A3 C2 high value (snapshot)",
        {"a": "A3", "b": "B1", "c": "C2", "d": "D1"},
        {"package_fit"},
        "package_fit",
    ),
    (
        "A3 C2 high value",
        {"a": "A3", "b": "B2", "c": "C2", "d": "D2"},
        {"package_fit"},
        "package_fit",
    ),
    (
        "A3 C1 high value",
        {"a": "A3", "b": "B2", "c": "C1", "d": "D1"},
        {"care_call", "package_fit"},
        "care_call",
    ),
    ("A3 C2 medium value", {"a": "A3", "b": "B3", "c": "C2", "d": "D1"}, set(), None),
]
BROADBAND = [
    (
        "BB A1 no mobile ≥4M ITV",
        {"a": "A1", "c": "C2", "g": "G2", "h": "H1", "i": "I1"},
        {"add_mobile", "prepay_annual"},
        "add_mobile",
    ),
    (
        "BB A1 has mobile 2-3M ITV",
        {"a": "A1", "c": "C2", "g": "G1", "h": "H2", "i": "I1"},
        {"prepay_speedup"},
        "prepay_speedup",
    ),
    (
        "BB A2 has mobile <2M no ITV C1",
        {"a": "A2", "c": "C1", "g": "G1", "h": "H3", "i": "I2"},
        {"prepay_speedup", "itv_addon", "care_call"},
        "care_call",
    ),
    (
        "BB A2 has mobile ≥4M no ITV",
        {"a": "A2", "c": "C3", "g": "G1", "h": "H1", "i": "I2"},
        {"prepay_annual", "itv_addon"},
        "prepay_annual",
    ),
    (
        "BB A3 C1",
        {"a": "A3", "c": "C1", "g": "G2", "h": "H1", "i": "I2"},
        {"care_call"},
        "care_call",
    ),
    ("BB A3 C2", {"a": "A3", "c": "C2", "g": "G2", "h": "H3", "i": "I2"}, set(), None),
]


def _rows():
    rows = []
    for i, (_, vals, _, _) in enumerate(MATRIX):
        rows.append({**MOB, **vals, "subscriber_id": f"m{i:02d}", "arpu_3m": 100.0})
    for i, (_, vals, _, _) in enumerate(BROADBAND):
        rows.append({**BB, **vals, "subscriber_id": f"w{i:02d}", "arpu_3m": 150.0})
    return rows


@pytest.fixture(scope="module")
def matched():
    con = connect(":memory:")
    seg = segments_frame(_rows())
    load(con, seg, None)
    con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'm1' AS model_version, "
        "0.3 AS p_churn FROM segments"
    )
    counts = match(con, MONTH, load_preset())
    yield con, counts
    con.close()


@pytest.mark.parametrize(
    ("idx", "case"),
    [(f"m{i:02d}", c) for i, c in enumerate(MATRIX)]
    + [(f"w{i:02d}", c) for i, c in enumerate(BROADBAND)],
    ids=[c[0] for c in MATRIX + BROADBAND],
)
def test_matrix_cell(matched, idx, case):
    con, _ = matched
    _, _, expected, primary = case
    got = {a for s, a, _ in candidates(con) if s == idx}
    assert got == expected
    row = con.execute(
        "SELECT action, candidate_actions FROM strategy_matches WHERE subscriber_id = ?", [idx]
    ).fetchone()
    if not expected:
        assert row is None
        return
    # every action the line's rules offered, by name, sorted (the customer page shows them)
    assert row[1] == ",".join(sorted(expected))
    if primary is not None:
        assert row[0] == primary
    else:  # same category (A): decided by expected value
        assert row[0] in expected


def test_counts(matched):
    _, counts = matched
    n = len(MATRIX) + len(BROADBAND)
    with_action = sum(1 for c in MATRIX + BROADBAND if c[2])
    assert counts.counts() == {
        "kept": n,
        "matched": with_action,
        "households": with_action,
        "explored": 0,
    }


def test_same_category_tie_broken_by_expected_value(fresh_con):
    # A2-C1, handset > 1.5 y: handset upgrade vs care call, both category A → higher EV wins.
    seg = segments_frame([{**MOB, "a": "A2", "c": "C1", "d": "D1", "e": "E1", "f": "F1"}])
    load(fresh_con, seg, None)
    fresh_con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'm' AS model_version, "
        "0.5 AS p_churn FROM segments"
    )
    match(fresh_con, MONTH, load_preset())
    # ARPU 50, CLV 600: care call via call center 0.5·0.15·600·0.8 − 3 = 33 beats the handset
    # subsidy 0.5·0.35·600·0.8 − (3 + 0.8·0.25·300) = 21.
    got = fresh_con.execute("SELECT action, best_channel, best_ev FROM strategy_matches").fetchone()
    assert got[:2] == ("care_call", "call_center") and got[2] == pytest.approx(33.0)
    # A learned uplift (the evaluation domain's hook) overrides the configured effect.
    fresh_con.execute(
        "CREATE OR REPLACE TABLE uplift AS SELECT 's0000' AS subscriber_id, 'handset_upgrade' AS action, "
        "0.9 AS uplift"
    )
    match(fresh_con, MONTH, load_preset())
    got = fresh_con.execute("SELECT action, uplift, best_ev FROM strategy_matches").fetchone()
    assert got == ("handset_upgrade", 0.9, pytest.approx(0.5 * 0.9 * 600 * 0.8 - 63))


def test_quarter_priority_reorders_categories(fresh_con):
    seg = segments_frame([{**MOB, "a": "A2", "c": "C1", "d": "D1", "e": "E3", "f": "F1"}])
    load(fresh_con, seg, None)
    lib = load_preset()
    assert lib.category_order(MONTH) == ["A", "B", "C"]
    match(fresh_con, MONTH, lib)
    assert fresh_con.execute("SELECT action FROM strategy_matches").fetchone() == ("care_call",)
    data = lib.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["quarter_priority"] = {"2026Q1": ["B", "A", "C"]}
    lib_q = parse_library(data)
    match(fresh_con, MONTH, lib_q)
    assert fresh_con.execute("SELECT action FROM strategy_matches").fetchone() == ("prepay_data",)
    # April is another quarter: back to A > B > C.
    assert lib_q.category_order(dt.date(2026, 4, 1)) == ["A", "B", "C"]


TIERS = [
    (100.0, MOB, {"a": "A1", "d": "D3"}, "hu_zero_prepay_subsidy"),
    (80.0, MOB, {"a": "A1", "d": "D3"}, "hu_zero_prepay_subsidy"),
    (79.99, MOB, {"a": "A1", "d": "D3"}, "hu_prepay_subsidy"),
    (20.0, MOB, {"a": "A1", "d": "D3"}, "hu_prepay_subsidy"),
    (19.99, MOB, {"a": "A1", "d": "D3"}, "hu_entry_smartphone"),
    (150.0, MOB, {"a": "A1", "d": "D1", "e": "E3", "f": "F1"}, "pd_high"),
    (50.0, MOB, {"a": "A1", "d": "D1", "e": "E3", "f": "F1"}, "pd_mid"),
    (10.0, MOB, {"a": "A1", "d": "D1", "e": "E3", "f": "F3"}, "pc_low"),
    (130.0, BB, {"a": "A1", "g": "G2", "h": "H2", "i": "I1"}, "am_family"),
    (60.0, BB, {"a": "A3", "c": "C1", "g": "G1"}, "care_standard"),
]


@pytest.fixture(scope="module")
def tiered():
    con = connect(":memory:")
    rows = [
        {**line, **vals, "arpu_3m": arpu, "subscriber_id": f"t{i}"}
        for i, (arpu, line, vals, _) in enumerate(TIERS)
    ]
    load(con, segments_frame(rows), None)
    con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'm' AS model_version, "
        "0.3 AS p_churn FROM segments"
    )
    match(con, MONTH, load_preset())
    yield con
    con.close()


@pytest.mark.parametrize(("i", "case"), list(enumerate(TIERS)))
def test_branch_level_offer_tier(tiered, i, case):
    got = tiered.execute(
        "SELECT offer_id FROM strategy_matches WHERE subscriber_id = ?", [f"t{i}"]
    ).fetchone()
    assert got == (case[3],)


def test_household_gets_one_action(fresh_con):
    rows = [
        {**MOB, "subscriber_id": "mob", "customer_id": "h1", "a": "A1", "d": "D3"},
        {**BB, "subscriber_id": "bb", "customer_id": "h1", "a": "A2", "g": "G2", "h": "H1"},
        {**MOB, "subscriber_id": "solo", "a": "A1", "d": "D3"},
    ]
    load(fresh_con, segments_frame(rows), None)
    fresh_con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'm' AS model_version, "
        "0.3 AS p_churn FROM segments"
    )
    counts = match(fresh_con, MONTH, load_preset())
    assert counts.households == 2
    got = fresh_con.execute(
        "SELECT customer_id, subscriber_id, action, household_lines FROM strategy_matches "
        "ORDER BY customer_id"
    ).fetchall()
    # Both lines' best actions are category A; the household keeps the higher expected value.
    assert got[0][0] == "h1" and got[0][3] == 2
    assert got[1] == ("solo", "solo", "handset_upgrade", 1)


def test_excluded_rows_are_never_matched(fresh_con):
    rows = [{**MOB, "a": "A1", "d": "D3", "excluded": True, "exclusion_reason": "dnd"}]
    load(fresh_con, segments_frame(rows), None)
    assert match(fresh_con, MONTH, load_preset()).counts() == {
        "kept": 0,
        "matched": 0,
        "households": 0,
        "explored": 0,
    }


def test_rule_on_unknown_column_is_reported(fresh_con):
    load(fresh_con, segments_frame([{**MOB}]), None)
    data = load_preset().model_dump(mode="json", by_alias=True, exclude_none=True)
    data["rules"][0]["when"].append({"field": "shoe_size", "gte": 40})
    with pytest.raises(RuleError, match="shoe_size"):
        match(fresh_con, MONTH, parse_library(data))


def test_offer_outside_validity_is_not_used(fresh_con):
    load(fresh_con, segments_frame([{**MOB, "a": "A1", "d": "D3", "arpu_3m": 100.0}]), None)
    data = load_preset().model_dump(mode="json", by_alias=True, exclude_none=True)
    offer = data["catalog"][0]["products"][0]["offers"][0]
    assert offer["key"] == "hu_zero_prepay_subsidy"
    offer["valid_to"] = "2025-12-31"
    match(fresh_con, MONTH, parse_library(data))
    # no other handset offer fits ARPU 100, so the customer has no action this month
    assert fresh_con.execute("SELECT count(*) FROM strategy_matches").fetchone() == (0,)


def test_match_returns_the_relations_dispatch_reads(fresh_con):
    """The typed contract: dispatch plans from the relations the result names, not by guessing."""
    seg, scores = random_segments(800, seed=2, n_branches=2)
    load(fresh_con, seg, scores)
    res = match(fresh_con, MONTH, load_preset(), write=False)
    n = {
        rel: fresh_con.execute(f"SELECT count(*) FROM {rel}").fetchone()[0]
        for rel in (res.base, res.primary, res.options, res.matched)
    }
    assert n[res.base] == res.kept and n[res.primary] == res.households
    assert 0 < res.households <= n[res.matched] <= res.matched_lines
    assert n[res.options] >= res.households
    cols = {r[0] for r in fresh_con.execute(f"DESCRIBE {res.options}").fetchall()}
    assert {"sid", "channel", "value", "cost", "ev"} <= cols
    # write=False: nothing persistent
    assert fresh_con.execute("SELECT count(*) FROM strategy_matches").fetchone()[0] == 0


def test_learned_take_rate_prices_the_offer_and_scales_the_configured_effect(fresh_con):
    """A customer's learned take rate replaces the configured one in the offer's cost and, with
    no learned uplift, scales the configured uplift by take rate / configured take rate."""
    seg = segments_frame([{**MOB, "a": "A2", "c": "C1", "d": "D1", "e": "E1", "f": "F1"}])
    load(fresh_con, seg, None)
    fresh_con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'm' AS model_version, "
        "0.5 AS p_churn FROM segments"
    )
    fresh_con.execute(
        "CREATE OR REPLACE TABLE uplift AS SELECT 's0000' AS subscriber_id, 'handset_upgrade' AS action, "
        "CAST(NULL AS DOUBLE) AS uplift, 0.5 AS take_rate"
    )
    match(fresh_con, MONTH, load_preset(), actions=["handset_upgrade"])
    got = fresh_con.execute(
        "SELECT o.value, o.cost FROM strategy_options o WHERE o.channel = 'call_center'"
    ).fetchone()
    # configured: uplift 0.35 at take rate 0.25 → 0.7 for a customer twice as likely to accept;
    # cost: contact 3 + effect 0.8 × take 0.5 × offer 300
    assert got[0] == pytest.approx(0.5 * 0.7 * 600 * 0.8)
    assert got[1] == pytest.approx(3 + 0.8 * 0.5 * 300)


def test_value_choice_and_open_scope_pick_the_most_valuable_action(fresh_con):
    seg = segments_frame([{**MOB, "a": "A2", "c": "C1", "d": "D1", "e": "E1", "f": "F1"}])
    load(fresh_con, seg, None)
    fresh_con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, 'm' AS model_version, "
        "0.5 AS p_churn FROM segments"
    )
    lib = load_preset()
    # a learned effect makes a category-B action the most valuable one
    fresh_con.execute(
        "CREATE OR REPLACE TABLE uplift AS SELECT 's0000' AS subscriber_id, 'prepay_data' AS action, "
        "0.9 AS uplift"
    )
    match(fresh_con, MONTH, lib)
    seed_pick = fresh_con.execute("SELECT action FROM strategy_matches").fetchone()[0]
    assert seed_pick == "care_call"  # category A first, as the seed says
    match(fresh_con, MONTH, lib.open_matching(), choose="value")
    assert fresh_con.execute("SELECT action FROM strategy_matches").fetchone()[0] == "prepay_data"
    with pytest.raises(RuleError):
        match(fresh_con, MONTH, lib, choose="cheapest")


@pytest.mark.parametrize("extra", [0, 70], ids=["bits", "more actions than bits: lists"])
def test_candidate_actions_text_is_the_sorted_names(extra):
    from weixi.strategy.match import _candidate_actions_sql

    names = sorted(
        ["care_call", "prepay_credit", "handset_upgrade", *[f"x{i:02d}" for i in range(extra)]]
    )
    agg, text = _candidate_actions_sql(names)
    con = connect(":memory:")
    con.execute(
        "CREATE TABLE _mx_cand AS SELECT * FROM (VALUES (1, 'prepay_credit'), (1, 'care_call'), "
        "(2, 'handset_upgrade'), (3, 'care_call'), (3, 'handset_upgrade'), (3, 'prepay_credit')) "
        "t(sid, action)"
    )
    got = con.execute(
        f"WITH acts AS (SELECT sid, {agg} AS candidate_actions FROM _mx_cand GROUP BY sid) "
        f"SELECT sid, {text} FROM acts ORDER BY sid"
    ).fetchall()
    assert got == [
        (1, "care_call,prepay_credit"),
        (2, "handset_upgrade"),
        (3, "care_call,handset_upgrade,prepay_credit"),
    ]


def test_lines_take_the_latest_model_versions_score(fresh_con):
    rows = [{**MOB, "subscriber_id": f"s{i}", "a": "A1", "d": "D3"} for i in range(3)]
    load(fresh_con, segments_frame(rows), None)
    fresh_con.execute(
        "CREATE OR REPLACE TABLE churn_scores AS SELECT month, subscriber_id, "
        "'churn-202601-001' AS model_version, 0.4 AS p_churn FROM segments"
    )
    match(fresh_con, MONTH, load_preset())
    one = fresh_con.execute("SELECT p_churn FROM strategy_matches").fetchall()
    assert one == [(0.4,)] * 3
    # rows of a second version written beside the first: each line once, at the newer score
    fresh_con.execute(
        "INSERT INTO churn_scores SELECT month, subscriber_id, 'churn-202601-002', 0.2 "
        "FROM segments WHERE subscriber_id <> 's2'"
    )
    match(fresh_con, MONTH, load_preset())
    got = fresh_con.execute(
        "SELECT subscriber_id, p_churn FROM strategy_matches ORDER BY subscriber_id"
    ).fetchall()
    assert got == [("s0", 0.2), ("s1", 0.2), ("s2", 0.4)]
