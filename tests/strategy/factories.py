"""Hand-built ``segments`` and ``churn_scores`` tables (the contracts, not the segment engine)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

MONTH = dt.date(2026, 1, 1)

SEGMENT_DEFAULTS = {
    "customer_id": None,
    "branch_id": "b1",
    "line_type": "mobile",
    "excluded": False,
    "exclusion_reason": None,
    "a": "A2",
    "b": "B3",
    "c": "C2",
    "d": None,
    "e": None,
    "f": None,
    "g": None,
    "h": None,
    "i": None,
    "priority_rank": 10,
    "urgency": "blue",
    "vip_tier": "none",
    "group_class": None,
    "credit": "none",
    "arpu_3m": 50.0,
}


def segments_frame(rows: list[dict], month: dt.date = MONTH) -> pd.DataFrame:
    """Complete hand-written rows with defaults; codes derived like the segment engine's."""
    full = []
    for i, r in enumerate(rows):
        row = {**SEGMENT_DEFAULTS, **r}
        row.setdefault("subscriber_id", f"s{i:04d}")
        row["subscriber_id"] = r.get("subscriber_id", f"s{i:04d}")
        row["month"] = month
        row["stability_group"] = f"{row['a']}-{row['b']}-{row['c']}"
        full.append(row)
    return pd.DataFrame(full)


def random_segments(
    n: int = 20_000, seed: int = 0, month: dt.date = MONTH, n_branches: int = 4
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random but plausible month of segments and churn scores (vectorized, no loops)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"u{seed}-{i:07d}" for i in range(n)])
    mobile = rng.random(n) < 0.8

    def pick(values, p):
        return rng.choice(np.array(values, dtype=object), size=n, p=p)

    a = pick(["A1", "A2", "A3"], [0.12, 0.48, 0.40])
    b = pick(["B1", "B2", "B3", "B4"], [0.10, 0.25, 0.45, 0.20])
    c = pick(["C1", "C2", "C3"], [0.2, 0.6, 0.2])
    base = {"B1": 150.0, "B2": 110.0, "B3": 45.0, "B4": 12.0}
    arpu = np.array([base[x] for x in b]) * rng.lognormal(0, 0.3, n)
    cust = ids.copy()
    # a converged household: every 10th broadband line shares the id of the previous line
    bb_idx = np.nonzero(~mobile)[0]
    share = bb_idx[(bb_idx > 0) & (bb_idx % 10 == 0)]
    cust[share] = cust[share - 1]
    rank_a = {"A1": 0, "A2": 1, "A3": 2}
    rank = (
        np.array([rank_a[x] for x in a]) * 12
        + np.array([int(x[1]) for x in b]) * 3
        + np.array([int(x[1]) for x in c])
    )
    seg = pd.DataFrame(
        {
            "month": month,
            "subscriber_id": ids,
            "customer_id": cust,
            "branch_id": np.array([f"b{k + 1}" for k in rng.integers(0, n_branches, n)]),
            "line_type": np.where(mobile, "mobile", "broadband"),
            "excluded": rng.random(n) < 0.05,
            "a": a,
            "b": b,
            "c": c,
            "d": np.where(mobile, pick(["D1", "D2", "D3"], [0.6, 0.25, 0.15]), None),
            "e": np.where(mobile, pick(["E1", "E2", "E3"], [0.4, 0.3, 0.3]), None),
            "f": np.where(mobile, pick(["F1", "F2", "F3"], [0.4, 0.3, 0.3]), None),
            "g": np.where(mobile, None, pick(["G1", "G2"], [0.3, 0.7])),
            "h": np.where(mobile, None, pick(["H1", "H2", "H3"], [0.5, 0.3, 0.2])),
            "i": np.where(mobile, None, pick(["I1", "I2"], [0.3, 0.7])),
            "priority_rank": rank,
            "urgency": np.where(rank < 12, "red", np.where(rank < 24, "blue", "green")),
            "vip_tier": pick(["none", "silver", "gold", "diamond"], [0.9, 0.05, 0.03, 0.02]),
            "group_class": pick([None, "A", "B", "C"], [0.9, 0.005, 0.025, 0.07]),
            "credit": pick(["none", "grey", "red", "black"], [0.9, 0.06, 0.02, 0.02]),
            "arpu_3m": arpu.round(2),
        }
    )
    seg["exclusion_reason"] = np.where(seg["excluded"], "tenure_under_3_months", None)
    seg["stability_group"] = seg["a"] + "-" + seg["b"] + "-" + seg["c"]
    tend = {"C1": 0.25, "C2": 0.08, "C3": 0.03}
    pc = np.clip(np.array([tend[x] for x in c]) * rng.lognormal(0, 0.5, n), 0, 0.95)
    pc = np.where(a == "A1", np.clip(pc * 2, 0, 0.95), pc)
    scores = pd.DataFrame(
        {
            "month": month,
            "subscriber_id": ids,
            "model_version": "test-1",
            "p_churn": pc,
            "p_churn_2m": pc,
            "p_churn_3m": pc,
            "reasons": "[]",
        }
    )
    return seg, scores


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
    ).fetchall()[0][0]
    return bool(exists) and bool(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def load(con: duckdb.DuckDBPyConnection, segments: pd.DataFrame, scores: pd.DataFrame | None):
    """Create/append the ``segments`` and ``churn_scores`` tables from frames."""
    con.register("_seg_df", segments)
    if _has_rows(con, "segments"):
        con.execute("INSERT INTO segments BY NAME SELECT * FROM _seg_df")
    else:  # replaces the store's empty table by the frame's layout
        con.execute("CREATE OR REPLACE TABLE segments AS SELECT * FROM _seg_df")
    con.unregister("_seg_df")
    if scores is not None:
        con.register("_sc_df", scores)
        if _has_rows(con, "churn_scores"):
            con.execute("INSERT INTO churn_scores BY NAME SELECT * FROM _sc_df")
        else:
            con.execute("CREATE OR REPLACE TABLE churn_scores AS SELECT * FROM _sc_df")
        con.unregister("_sc_df")
