import datetime as dt

import pandas as pd
import pytest

from weixi.churn import features as F
from weixi.store.schema import ensure as ensure_schema


def _rows(con, rows):
    ensure_schema(con)
    for r in rows:
        con.execute(
            "INSERT INTO snapshot (month, subscriber_id, branch_id, line_type, status, "
            "activation_date, arpu, voice_minutes, data_mb, contract_type, contract_end, "
            "payment_type, group_payment_amount, is_converged, complaints) "
            "VALUES (?, ?, 'HZ', 'mobile', ?, DATE '2020-01-01', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            r,
        )


M = [dt.date(2026, m, 1) for m in range(1, 6)]


@pytest.fixture
def tiny(fresh_con):
    rows = []
    # s1: ARPU 100 for 3 months then 50; data 1000 then 550; contract ends 2026-06 -> 2 months
    for i, m in enumerate(M[:4]):
        arpu, data = (100.0, 1000.0) if i < 3 else (50.0, 550.0)
        rows.append(
            [
                m,
                "s1",
                "active",
                arpu,
                300.0,
                data,
                "handset_subsidy",
                dt.date(2026, 6, 15),
                "personal",
                0.0,
                False,
                1 if i == 3 else 0,
            ]
        )
    # s2: stable, corporate; cancelled in month 5
    for m in M:
        rows.append(
            [
                m,
                "s2",
                "cancelled" if m == M[4] else "active",
                80.0,
                200.0,
                100.0,
                "none",
                None,
                "corporate",
                0.0,
                False,
                0,
            ]
        )
    _rows(fresh_con, rows)
    return fresh_con


def test_changes_levels_and_contract(tiny):
    df = F.load_features(tiny, [M[3]], labels=(1,))
    s1 = df.set_index("subscriber_id").loc["s1"]
    assert s1["arpu_avg3"] == pytest.approx(100.0)
    assert s1["arpu_chg3"] == pytest.approx(-0.5)
    assert s1["arpu_chg1"] == pytest.approx(-0.5)
    assert s1["data_mb_chg3"] == pytest.approx(-0.45)
    assert s1["months_to_contract_end"] == 2
    assert s1["tenure_months"] == 75
    assert s1["complaints_3m"] == 1
    assert s1["churned_1m"] == 1  # s1 is absent in month 5
    s2 = df.set_index("subscriber_id").loc["s2"]
    assert s2["churned_1m"] == 1  # cancelled next month
    assert s2["payment_corporate"] == 1
    assert list(F.rule_tendency(df.set_index("subscriber_id").loc[["s1", "s2"]].reset_index())) == [
        "C1",
        "C3",
    ]


def test_first_month_has_no_change_features(tiny):
    df = F.load_features(tiny, [M[0]])
    assert df["arpu_chg1"].isna().all() and df["arpu_chg3"].isna().all()


def test_features_never_look_ahead(tiny):
    before = F.load_features(tiny, [M[2]])
    tiny.execute("DELETE FROM snapshot WHERE month > ?", [M[2]])
    after = F.load_features(tiny, [M[2]])
    assert before.equals(after)


def test_horizon_labels(tiny):
    two = tiny.execute(F.label_sql(2, [M[1]])).fetchall()
    assert sorted((s, c) for _, s, c in two) == [("s1", 0), ("s2", 0)]
    two = tiny.execute(F.label_sql(2, [M[2]])).fetchall()
    assert sorted((s, c) for _, s, c in two) == [("s1", 1), ("s2", 1)]
    three = tiny.execute(F.label_sql(3, [M[1]])).fetchall()
    assert sorted((s, c) for _, s, c in three) == [("s1", 1), ("s2", 1)]


def test_every_feature_is_documented_in_both_languages():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "churn.md").read_text(encoding="utf-8")
    for f in (*F.FEATURES, *F.SEGMENT_FEATURES, *F.COMPLAINT_FEATURES):
        assert f"`{f.name}`" in doc, f.name
        assert f.zh and f.en


def test_history_aggregates_follow_the_month_index_with_gaps_and_nulls(fresh_con):
    """Each month's aggregates read exactly the months of their frame (a gap never shifts a
    lag, NULLs are skipped), the same whether one month or several are asked for; checked
    against a per-row recomputation."""
    import numpy as np

    rng = np.random.default_rng(7)
    months = [
        dt.date(2025, 9, 1),
        *[dt.date(2025 + (m > 12), (m - 1) % 12 + 1, 1) for m in range(10, 18)],
    ]
    rows = []
    for s in range(40):
        for m in months:
            if rng.random() < 0.25:  # the line is missing from this month's export
                continue
            status = "suspended" if rng.random() < 0.2 else "active"
            arpu = None if rng.random() < 0.15 else float(rng.integers(0, 200))
            voice = float(rng.integers(0, 500))
            data = None if rng.random() < 0.1 else float(rng.integers(0, 5000))
            rows.append(
                [
                    m,
                    f"s{s:02d}",
                    status,
                    arpu,
                    voice,
                    data,
                    "none",
                    None,
                    "personal",
                    0.0,
                    False,
                    int(rng.integers(0, 3)),
                ]
            )
    _rows(fresh_con, rows)
    snap = pd.DataFrame(
        rows,
        columns=["month", "sid", "status", "arpu", "voice", "data", *"abcde", "complaints"],
    )
    snap["k"] = [d.year * 12 + d.month for d in snap["month"]]
    asked = months[-3:]
    together = F.load_features(fresh_con, asked).set_index(["month", "subscriber_id"])
    for m in asked:
        alone = F.load_features(fresh_con, [m]).set_index(["month", "subscriber_id"])
        pd.testing.assert_frame_equal(alone, together.loc[alone.index])
    k0 = {m: m.year * 12 + m.month for m in asked}
    checked = 0
    for (m, sid), f in together.iterrows():
        k = k0[pd.Timestamp(m).date()]
        own = snap[snap["sid"] == sid]
        cur = own[own["k"] == k].iloc[0]
        avg3 = _frame(own, k, 3, 1)["arpu"].mean()
        _same(f["arpu_avg3"], avg3)
        last = _frame(own, k, 1, 1)["voice"].max()
        _same(
            f["voice_minutes_chg1"], None if not last else min(max(cur["voice"] / last - 1, -1), 10)
        )
        w = _frame(own, k, 2, 0).dropna(subset=["data"])
        slope = np.polyfit(w["k"], w["data"], 1)[0] if w["k"].nunique() > 1 else None
        trend = None if slope is None or w["data"].mean() == 0 else slope / w["data"].mean()
        _same(f["data_mb_trend3"], trend)
        assert f["months_suspended_6m"] == (_frame(own, k, 5, 0)["status"] == "suspended").sum()
        assert f["complaints_3m"] == _frame(own, k, 2, 0)["complaints"].sum()
        checked += 1
    assert checked > 60


def _frame(own, k, first, last):
    """The line's rows from ``first`` to ``last`` months before month index ``k``."""
    return own[(own["k"] >= k - first) & (own["k"] <= k - last)]


def _same(got, want):
    if want is None or pd.isna(want):
        assert pd.isna(got)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_history_aggregates_do_not_depend_on_the_order_the_months_are_read(history_file, tmp_path):
    """A line's averages, trends and shares over its earlier months come out to the bit the same
    whatever order its rows reach the aggregate in (a parallel scan reads them in another order
    from run to run): a model retrained on the same months is the same model, and a feature's
    drift bins do not move. Floating-point sums depend on their order, so the aggregates are
    rounded (to 1e-9) before anything reads them."""
    from weixi.store.analytics import connect

    src, months = history_file
    month = months[-1]
    rows = []
    for i, order in enumerate(("month, subscriber_id", "month DESC, subscriber_id DESC")):
        con = connect(tmp_path / f"{i}.duckdb")
        ensure_schema(con)
        con.execute(f"ATTACH '{src}' AS h (READ_ONLY)")
        con.execute(f"INSERT INTO main.snapshot SELECT * FROM h.snapshot ORDER BY {order}")
        con.execute("DETACH h")
        con.execute("SET threads = 1")  # one thread: rows reach the aggregate in table order
        rows.append(
            con.execute(
                f"SELECT * FROM ({F.feature_sql([month])}) ORDER BY subscriber_id"
            ).fetchall()
        )
        con.close()
    assert len(rows[0]) > 1000
    assert rows[0] == rows[1]
