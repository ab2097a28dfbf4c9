"""Matching learns from the evaluation: learned uplift, segment posteriors, Thompson shares."""

from __future__ import annotations

import pytest

from tests.strategy.factories import MONTH, load, segments_frame
from weixi.strategy.library import load_preset
from weixi.strategy.match import match

# Unbound, high tendency, current handset ≤ 1 year, data < 30 MB: candidates prepay_credit (B)
# and care_call (A); the configured plan always picks care_call (category A first).
CELL = {"line_type": "mobile", "a": "A2", "c": "C1", "d": "D1", "e": "E3", "f": "F3"}
SEGMENT = "A2-B3-C1"


def _adjustments(con, rows, month=MONTH):
    """A hand-made ``plan_adjustments`` table: (segment, action, p_best, uplift, n_treated)."""
    con.execute("DROP TABLE IF EXISTS plan_adjustments")
    con.execute(
        "CREATE OR REPLACE TABLE plan_adjustments (month DATE, segment VARCHAR, action VARCHAR, "
        "p_best DOUBLE, lift_mean DOUBLE, lift_low DOUBLE, lift_high DOUBLE, net_value DOUBLE, "
        "n_treated BIGINT, n_control BIGINT, churn_control DOUBLE, uplift DOUBLE, "
        "holdout_share DOUBLE)"
    )
    con.executemany(
        "INSERT INTO plan_adjustments VALUES (?, ?, ?, ?, 0, 0, 0, 0, ?, 50, 0.05, ?, 0.1)",
        [(month, s, a, p, n, u) for s, a, p, u, n in rows],
    )


def _shares(con) -> dict[str, float]:
    rows = con.execute("SELECT action, count(*) FROM strategy_matches GROUP BY 1").fetchall()
    total = sum(n for _, n in rows)
    return {a: n / total for a, n in rows}


@pytest.fixture
def cell(fresh_con):
    load(fresh_con, segments_frame([CELL] * 2000), None)
    return fresh_con


def test_thompson_shares_move_the_segment_towards_the_favoured_action(cell):
    lib = load_preset()
    match(cell, MONTH, lib)
    assert _shares(cell) == {"care_call": 1.0}

    # a lead for prepay_credit (p_best 0.8 of 2): follow = (0.8 − ½) / ½ = 0.6 of the lines take
    # the draw, which gives prepay_credit 80 % of the time → 48 %; the rest keep care_call
    _adjustments(
        cell,
        [(SEGMENT, "prepay_credit", 0.8, 0.3, 10), (SEGMENT, "care_call", 0.2, 0.15, 10)],
    )
    counts = match(cell, MONTH, lib)
    assert counts.explored / 2000 == pytest.approx(0.6, abs=0.04)  # lines that drew
    assert _shares(cell)["prepay_credit"] == pytest.approx(0.48, abs=0.04)

    # a sure winner moves the whole segment
    _adjustments(
        cell,
        [(SEGMENT, "prepay_credit", 1.0, 0.3, 10), (SEGMENT, "care_call", 0.0, 0.15, 10)],
    )
    assert match(cell, MONTH, lib).explored == 2000
    assert _shares(cell) == {"prepay_credit": 1.0}

    # the other way round: care call regains most of the segment (follow 0.8)
    _adjustments(
        cell,
        [(SEGMENT, "prepay_credit", 0.1, 0.3, 10), (SEGMENT, "care_call", 0.9, 0.15, 10)],
    )
    match(cell, MONTH, lib)
    assert _shares(cell)["care_call"] == pytest.approx(0.2 + 0.8 * 0.9, abs=0.04)

    # an even split: only explore_share of the lines try the draw
    _adjustments(
        cell,
        [(SEGMENT, "prepay_credit", 0.5, 0.3, 10), (SEGMENT, "care_call", 0.5, 0.15, 10)],
    )
    match(cell, MONTH, lib, explore_share=0.2)
    assert _shares(cell)["prepay_credit"] == pytest.approx(0.2 * 0.5, abs=0.03)

    # an action of another line type (not a candidate here) is renormalised away among the
    # drawn lines (follow from the segment's three actions: (0.6 − ⅓) / ⅔ = 0.4)
    _adjustments(
        cell,
        [
            (SEGMENT, "prepay_credit", 0.3, 0.3, 10),
            (SEGMENT, "care_call", 0.1, 0.15, 10),
            (SEGMENT, "add_mobile", 0.6, 0.3, 10),
        ],
    )
    match(cell, MONTH, lib)
    assert _shares(cell)["prepay_credit"] == pytest.approx(0.4 * 0.75, abs=0.04)

    # exploration off, another month's adjustment, or another segment: the configured choice
    match(cell, MONTH, lib, explore=False)
    assert _shares(cell) == {"care_call": 1.0}
    _adjustments(cell, [(SEGMENT, "prepay_credit", 1.0, 0.3, 10)], month=MONTH.replace(month=2))
    match(cell, MONTH, lib)
    assert _shares(cell) == {"care_call": 1.0}
    _adjustments(cell, [("A1-B1-C1", "prepay_credit", 1.0, 0.3, 10)])
    assert match(cell, MONTH, lib).explored == 0
    assert _shares(cell) == {"care_call": 1.0}


def test_a_plan_choosing_by_value_only_explores_with_the_posterior(cell):
    """With per-customer values deciding, a sure segment posterior moves explore_share of the
    lines, not the whole segment."""
    lib = load_preset()
    _adjustments(
        cell,
        [(SEGMENT, "prepay_credit", 1.0, 0.3, 10), (SEGMENT, "care_call", 0.0, 0.15, 10)],
    )
    assert match(cell, MONTH, lib).explored == 2000
    counts = match(cell, MONTH, lib, choose="value", explore_share=0.1)
    assert counts.explored / 2000 == pytest.approx(0.1, abs=0.03)


def test_thompson_draw_is_reproducible_and_leaves_other_months_alone(cell):
    lib = load_preset()
    _adjustments(
        cell,
        [(SEGMENT, "prepay_credit", 0.5, 0.3, 10), (SEGMENT, "care_call", 0.5, 0.15, 10)],
    )
    match(cell, MONTH, lib)
    first = cell.execute("SELECT subscriber_id, action FROM strategy_matches ORDER BY 1").fetchall()
    match(cell, MONTH, lib)
    again = cell.execute("SELECT subscriber_id, action FROM strategy_matches ORDER BY 1").fetchall()
    assert first == again


def test_uplift_precedence_learned_then_segment_then_configured(fresh_con):
    load(fresh_con, segments_frame([CELL, CELL]), None)
    lib = load_preset()

    def got(sub="s0000"):
        return fresh_con.execute(
            "SELECT action, uplift, uplift_source FROM strategy_matches WHERE subscriber_id = ?",
            [sub],
        ).fetchone()

    match(fresh_con, MONTH, lib)
    assert got() == ("care_call", 0.15, "action")
    # the segment posterior is used once the cell has enough treated customers …
    _adjustments(fresh_con, [(SEGMENT, "care_call", 1.0, 0.42, 150)])
    match(fresh_con, MONTH, lib, explore=False)
    assert got() == ("care_call", 0.42, "segment")
    # … and not before
    match(fresh_con, MONTH, lib, explore=False, min_segment_treated=200)
    assert got() == ("care_call", 0.15, "action")
    # a learned per-customer uplift beats the segment posterior, for its subscriber only
    fresh_con.execute(
        "CREATE OR REPLACE TABLE uplift AS SELECT DATE '2026-01-01' AS month, 's0000' AS subscriber_id, "
        "'care_call' AS action, 0.61 AS uplift"
    )
    match(fresh_con, MONTH, lib, explore=False)
    assert got() == ("care_call", 0.61, "learned")
    assert got("s0001") == ("care_call", 0.42, "segment")
    # learning switched off: configured effects only
    match(fresh_con, MONTH, lib, learned=False, adjust=False)
    assert got() == ("care_call", 0.15, "action")
