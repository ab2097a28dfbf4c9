"""A hand-built operator of enterprise groups for the group-campaign tests.

``build(con, n_groups)`` loads two identical months (M0, M1) of member lines: group ``Gddd`` has
``8 + i % 23`` members in branch HZ or NB, key persons ``decision_maker`` (its first line) and
``contact`` (its second), one account manager per branch in the books of M1, and a churn score
per line (its group's risk). ``next_month(con, lost)`` writes M2 where ``lost(group_id, arm)``
members of each group have cancelled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from tests.segment.helpers import load_months
from weixi.store.months import add_months
from weixi.vip import groups

M0, M1 = dt.date(2026, 5, 1), dt.date(2026, 6, 1)
M2 = add_months(M1, 1)


def size(i: int) -> int:
    """Members of group number ``i``."""
    return 8 + i % 23


def _snapshot(month: dt.date, sub, grp, branch, status, dnd) -> pa.Table:
    n = len(sub)
    return pa.table(
        {
            "month": pa.array([month] * n, pa.date32()),
            "subscriber_id": pa.array(sub, pa.string()),
            "customer_id": pa.array(["C" + s for s in sub], pa.string()),
            "branch_id": pa.array(branch, pa.string()),
            "line_type": pa.array(["mobile"] * n, pa.string()),
            "status": pa.array(status, pa.string()),
            "group_id": pa.array(grp, pa.string()),
            "do_not_disturb": pa.array(dnd, pa.bool_()),
        }
    )


def _insert(con, t: pa.Table) -> None:
    con.register("_gw", t)
    con.execute(f"INSERT INTO snapshot BY NAME SELECT {', '.join(t.column_names)} FROM _gw")
    con.unregister("_gw")


def build(con, n_groups: int = 200, *, dnd: set[str] | None = None, seed: int = 0) -> list[str]:
    """Load M0 and M1 of ``n_groups`` groups; return the group ids. ``dnd``: do-not-disturb
    lines."""
    rng = np.random.default_rng(seed)
    sub, grp, branch = [], [], []
    for i in range(n_groups):
        for j in range(size(i)):
            sub.append(f"L{i:04d}{j:02d}")
            grp.append(f"G{i:04d}")
            branch.append("HZ" if i % 2 else "NB")
    gids = [f"G{i:04d}" for i in range(n_groups)]
    load_months(
        con,
        [],
        {
            "enterprise_groups": pa.table(
                {
                    "group_id": gids,
                    "name": [f"集团{i}" for i in range(n_groups)],
                    "branch_id": ["HZ" if i % 2 else "NB" for i in range(n_groups)],
                    "handset_count": [size(i) * 2 for i in range(n_groups)],
                    "industry": ["retail"] * n_groups,
                    "is_top500_taxpayer": [False] * n_groups,
                    "annual_spend": [1000.0] * n_groups,
                }
            ),
            "group_contacts": pa.table(
                {
                    "subscriber_id": [f"L{i:04d}{j:02d}" for i in range(n_groups) for j in (0, 1)],
                    "group_id": [g for g in gids for _ in (0, 1)],
                    "role": ["decision_maker", "contact"] * n_groups,
                }
            ),
        },
    )
    dnd = dnd or set()
    flags = [s in dnd for s in sub]
    for m in (M0, M1):
        _insert(con, _snapshot(m, sub, grp, branch, ["active"] * len(sub), flags))
    con.execute(
        """INSERT INTO books SELECT ?, 'group', group_id, branch_id, 'AM-' || branch_id, 'new'
           FROM enterprise_groups""",
        [M1],
    )
    risk = {g: float(r) for g, r in zip(gids, rng.uniform(0.05, 0.6, n_groups), strict=True)}
    con.register(
        "_gw_sc",
        pa.table(
            {
                "subscriber_id": sub,
                "p_churn": [risk[g] for g in grp],
            }
        ),
    )
    con.execute(
        "INSERT INTO churn_scores (month, subscriber_id, model_version, p_churn) "
        "SELECT ?, subscriber_id, 'test', p_churn FROM _gw_sc",
        [M1],
    )
    con.unregister("_gw_sc")
    groups.compute_month(con, M1)
    return gids


def next_month(con, arms: dict[str, bool], lost: Callable[[int, int, bool], int]) -> None:
    """Write M2: M1 again, where ``lost(i, size, is_control)`` members of group ``i`` cancelled
    (its last lines, never the key persons); groups not in ``arms`` count as treated."""
    rows = con.execute(
        "SELECT subscriber_id, group_id, branch_id FROM snapshot WHERE month = ? "
        "ORDER BY subscriber_id",
        [M1],
    ).fetchall()
    by_group: dict[str, list] = {}
    for r in rows:
        by_group.setdefault(r[1], []).append(r)
    sub, grp, branch, status = [], [], [], []
    for g, lines in by_group.items():
        k = lost(int(g[1:]), len(lines), arms.get(g, False))
        for j, (s, _, b) in enumerate(lines):
            sub.append(s)
            grp.append(g)
            branch.append(b)
            status.append("cancelled" if j >= len(lines) - k else "active")
    _insert(con, _snapshot(M2, sub, grp, branch, status, [False] * len(sub)))
