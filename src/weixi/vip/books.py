"""Books of business (客户经理责任田): one account manager per VIP customer and per group.

``assign`` is the pure step: within one branch, it places the customers (or groups) each
manager holds plus the new and orphaned ones so that no book exceeds its ratio (1:400 VIP
customers, 1:50 groups by default), moving as few existing relationships as possible and, among
those solutions, keeping the largest book small. It is a small integer program over *cells*
(current holder → new holder), solved with HiGHS: customers with the same holder are
interchangeable, so its size is managers², not customers.

``rebalance`` is the service: it reads the month's VIP customers, the groups, the account
managers and last month's books from DuckDB, calls ``assign`` per branch and kind, and writes the
month's ``books`` table (re-running a month replaces it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from weixi.errors import ConfigError, NotFoundError
from weixi.store.months import parse_month
from weixi.vip.params import VipParams, load_params

KINDS = ("vip", "group")


@dataclass(frozen=True)
class Assignment:
    """The solution for one branch: ``flow[s, m]`` items from holder ``s`` to manager ``m``.

    Row ``s = len(managers)`` is the unassigned pool (new and orphaned items); ``unplaced[s]``
    are items no manager has room for (the branch needs more managers).
    """

    flow: np.ndarray
    unplaced: np.ndarray

    @property
    def moves(self) -> int:
        """Existing relationships handed to another manager."""
        m = self.flow.shape[1]
        return int(self.flow[:m].sum() - np.trace(self.flow[:m]))

    @property
    def loads(self) -> np.ndarray:
        """Book size per manager after the assignment."""
        return self.flow.sum(axis=0)


def assign(held: np.ndarray, pool: int, capacity: int) -> Assignment:
    """Assign one branch's items to its managers within ``capacity``, moving as few as possible.

    Args:
        held: items each manager holds now (kept relationships only).
        pool: new and orphaned items to place.
        capacity: the most items one book may hold.

    Returns:
        The :class:`Assignment` (integer flows).

    Example:
        >>> a = assign(np.array([450, 100]), pool=20, capacity=400)
        >>> a.moves, a.loads.tolist(), int(a.unplaced.sum())
        (50, [400, 170], 0)
    """
    import highspy
    from scipy.sparse import coo_matrix

    from weixi.dispatch.allocate import _quiet_stdout

    held = np.asarray(held, dtype=np.int64)
    k = len(held)
    if capacity < 1:
        raise ConfigError("capacity must be at least 1, got {capacity}", capacity=capacity)
    counts = np.append(held, int(pool)).astype(float)
    if k == 0:
        return Assignment(np.zeros((1, 0), np.int64), counts.astype(np.int64))
    ns = k + 1
    # columns: flow[s, m] (ns*k, row-major), unplaced[s] (ns), z (largest book)
    n_flow = ns * k
    n = n_flow + ns + 1
    s_idx, m_idx = np.divmod(np.arange(n_flow), k)
    cost = np.zeros(n)
    cost[:n_flow] = ((s_idx < k) & (s_idx != m_idx)).astype(float)  # a move costs 1
    cost[n_flow : n_flow + ns] = 10.0 * (counts.sum() + 1)  # leaving one out costs more
    cost[-1] = 0.5 / (capacity + 1)  # then keep the largest book small (< one move)
    rows, cols, vals = [], [], []
    # each holder's items all go somewhere: sum_m flow[s, m] + unplaced[s] = counts[s]
    rows += [s_idx, np.arange(ns)]
    cols += [np.arange(n_flow), n_flow + np.arange(ns)]
    vals += [np.ones(n_flow), np.ones(ns)]
    # each book: sum_s flow[s, m] - z <= 0 (z <= capacity via its bound)
    rows += [ns + m_idx, ns + np.arange(k)]
    cols += [np.arange(n_flow), np.full(k, n - 1)]
    vals += [np.ones(n_flow), -np.ones(k)]
    a = coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(ns + k, n)
    ).tocsc()
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, ns + k
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n)
    upper = np.full(n, inf)
    upper[-1] = capacity
    lp.col_upper_ = upper
    lp.row_lower_ = np.concatenate([counts, np.full(k, -inf)])
    lp.row_upper_ = np.concatenate([counts, np.zeros(k)])
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    with _quiet_stdout():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise ConfigError("books: HiGHS found no assignment ({status})", status=h.getModelStatus())
    x = np.rint(np.asarray(h.getSolution().col_value)).astype(np.int64)
    return Assignment(x[:n_flow].reshape(ns, k), x[n_flow : n_flow + ns])


@dataclass
class KindReport:
    """What a rebalance did to one kind of book (``vip`` customers or ``group``s)."""

    kind: str
    capacity: int
    items: int = 0
    managers: int = 0
    kept: int = 0
    moves: int = 0
    new: int = 0
    orphaned: int = 0
    unplaced: int = 0
    largest_book: int = 0
    largest_by_branch: dict[str, int] = field(default_factory=dict)

    @property
    def within_ratio(self) -> bool:
        """Every book within its ratio and every item placed."""
        return self.largest_book <= self.capacity and self.unplaced == 0


def _items(con: duckdb.DuckDBPyConnection, kind: str, m: dt.date) -> pa.Table:
    if kind == "group":
        return con.sql(
            "SELECT group_id AS key, branch_id, coalesce(annual_spend, 0)::DOUBLE AS value "
            "FROM enterprise_groups ORDER BY group_id"
        ).to_arrow_table()
    if not con.execute("SELECT EXISTS (SELECT 1 FROM segments)").fetchall()[0][0]:
        raise NotFoundError("no segments: run `weixi segment --month {month:%Y-%m}` first", month=m)
    # a VIP customer is one customer (all their lines): the branch of their best line
    return con.sql(
        """SELECT g.customer_id AS key, arg_max(g.branch_id, g.arpu_3m) AS branch_id,
                  sum(g.arpu_3m)::DOUBLE AS value
           FROM segments g JOIN snapshot s ON s.month = g.month AND s.subscriber_id = g.subscriber_id
           WHERE g.month = ? AND g.vip_tier <> 'none' AND s.status <> 'cancelled'
           GROUP BY g.customer_id ORDER BY g.customer_id""",
        params=[m],
    ).to_arrow_table()


def rebalance(
    con: duckdb.DuckDBPyConnection, month: str | dt.date, params: VipParams | None = None
) -> dict[str, KindReport]:
    """Assign new and orphaned customers and groups and rebalance the books of ``month``."""
    p = (params or load_params()).books
    m = parse_month(month)
    if not con.execute("SELECT EXISTS (SELECT 1 FROM staff)").fetchall()[0][0]:
        raise NotFoundError("no staff table: import a month with its reference tables")
    managers = con.execute(
        "SELECT staff_id, branch_id FROM staff WHERE channel = 'account_manager' "
        "ORDER BY branch_id, staff_id"
    ).fetchall()
    prev_month = con.execute("SELECT max(month) FROM books WHERE month < ?", [m]).fetchall()[0][0]
    out: dict[str, KindReport] = {}
    frames = []
    for kind, cap in (("vip", p.vip_per_manager), ("group", p.groups_per_manager)):
        items = _items(con, kind, m)
        con.register("_books_items", items)
        prev = con.sql(
            """SELECT i.key, i.branch_id, i.value, b.staff_id AS prev_staff,
                      st.staff_id IS NOT NULL AS valid
               FROM _books_items i
               LEFT JOIN books b ON b.month = ? AND b.kind = ? AND b.key = i.key
               LEFT JOIN staff st ON st.staff_id = b.staff_id AND st.branch_id = i.branch_id
                    AND st.channel = 'account_manager'
               ORDER BY i.branch_id, i.value DESC, i.key""",
            params=[prev_month, kind],
        ).to_arrow_table()
        con.unregister("_books_items")
        rep = KindReport(kind, cap, items=prev.num_rows)
        keys = np.asarray(prev.column("key").to_pylist(), dtype=object)
        branch = np.asarray(prev.column("branch_id").to_pylist(), dtype=object)
        prev_staff = np.asarray(prev.column("prev_staff").to_pylist(), dtype=object)
        valid = np.asarray(prev.column("valid").to_pylist(), dtype=bool)
        new_staff = np.full(len(keys), None, dtype=object)
        status = np.where(valid, "kept", np.where(prev_staff == None, "new", "orphaned"))  # noqa: E711
        rep.new = int((status == "new").sum())
        rep.orphaned = int((status == "orphaned").sum())
        for b in sorted(set(branch.tolist()) | {br for _, br in managers}):
            mgr = sorted(sid for sid, br in managers if br == b)
            rep.managers += len(mgr)
            at = np.flatnonzero(branch == b)  # already ordered by value, most valuable first
            if not len(at):
                continue
            holder = np.full(len(at), len(mgr))
            mgr_ids = np.array(mgr, dtype=object)  # sorted by staff_id (the query's order)
            v = valid[at]
            holder[v] = np.searchsorted(mgr_ids, prev_staff[at][v])
            held = np.bincount(holder, minlength=len(mgr) + 1)
            sol = assign(held[:-1], int(held[-1]), cap)
            rep.moves += sol.moves
            rep.unplaced += int(sol.unplaced.sum())
            loads = sol.loads
            if len(loads):
                rep.largest_by_branch[b] = int(loads.max())
            # holders' most valuable items stay; the rest go where the flows say
            for s in range(len(mgr) + 1):
                rows = at[holder == s]
                if not len(rows):
                    continue
                order = [s] if s < len(mgr) else []
                order += [j for j in range(len(mgr)) if j != s]
                counts = [int(sol.flow[s, j]) for j in order]
                target = np.repeat(np.array([*order, -1]), [*counts, len(rows) - sum(counts)])
                new_staff[rows] = np.where(target >= 0, mgr_ids[np.maximum(target, 0)], None)
        moved = valid & (new_staff != prev_staff)
        status = np.where(moved, "moved", status)
        status = np.where(new_staff == None, "unplaced", status)  # noqa: E711
        rep.kept = int((status == "kept").sum())
        rep.largest_book = max(rep.largest_by_branch.values(), default=0)
        out[kind] = rep
        frames.append(
            pa.table(
                {
                    "month": pa.array([m] * len(keys), pa.date32()),
                    "kind": pa.array([kind] * len(keys)),
                    "key": pa.array(keys.tolist(), pa.string()),
                    "branch_id": pa.array(branch.tolist(), pa.string()),
                    "staff_id": pa.array(new_staff.tolist(), pa.string()),
                    "status": pa.array(status.tolist(), pa.string()),
                }
            )
        )
    con.execute("DELETE FROM books WHERE month = ?", [m])
    for f in frames:
        con.register("_books_new", f)
        con.execute("INSERT INTO books SELECT * FROM _books_new")
        con.unregister("_books_new")
    return out


def report_dict(month: str | dt.date, reports: dict[str, KindReport]) -> dict:
    """Return the rebalance report as plain JSON-ready data."""
    return {
        "month": f"{parse_month(month):%Y-%m}",
        "within_ratios": all(r.within_ratio for r in reports.values()),
        "books": {
            k: {
                "capacity": r.capacity,
                "items": r.items,
                "managers": r.managers,
                "kept": r.kept,
                "moves": r.moves,
                "new": r.new,
                "orphaned": r.orphaned,
                "unplaced": r.unplaced,
                "largest_book": r.largest_book,
                "within_ratio": r.within_ratio,
                "largest_by_branch": r.largest_by_branch,
            }
            for k, r in reports.items()
        },
    }


def book_of(
    con: duckdb.DuckDBPyConnection, month: str | dt.date, staff_id: str
) -> dict[str, list[dict]]:
    """Return one manager's book: VIP customers (tier, value, churn risk) and groups."""
    from weixi.vip.programme import rank_case

    m = parse_month(month)
    bm = con.execute(
        "SELECT max(month) FROM books WHERE month <= ? AND staff_id = ?", [m, staff_id]
    ).fetchall()[0][0]
    cur = con.execute(
        f"""
        SELECT b.key AS customer_id, any_value(s.phone) AS phone, any_value(s.name) AS name,
               arg_max(g.vip_tier, {
            rank_case(load_params(), "g.vip_tier")
        }) AS vip_tier, round(sum(g.arpu_3m), 2) AS arpu_3m,
               max(c.p_churn) AS p_churn, b.status
        FROM books b
        JOIN segments g ON g.month = ? AND g.customer_id = b.key
        JOIN snapshot s ON s.month = g.month AND s.subscriber_id = g.subscriber_id
        LEFT JOIN churn_scores c ON c.month = g.month AND c.subscriber_id = g.subscriber_id
        WHERE b.month = ? AND b.kind = 'vip' AND b.staff_id = ?
        GROUP BY b.key, b.status ORDER BY p_churn DESC NULLS LAST, b.key""",
        [m, bm, staff_id],
    )
    cols = [d[0] for d in cur.description]
    vip = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    grp = con.execute(
        "SELECT key FROM books WHERE month = ? AND kind = 'group' AND staff_id = ? ORDER BY key",
        [bm, staff_id],
    ).fetchall()
    return {"vip": vip, "group": [{"group_id": g[0]} for g in grp]}


def open_tasks(*, session, staff_id: str, limit: int = 50) -> list[dict]:
    """Return a manager's open retention tasks (from dispatch), newest month first."""
    from sqlalchemy import select

    from weixi.dispatch.models import Task, TaskStatus

    stmt = (
        select(Task.id, Task.subscriber_id, Task.action, Task.month, Task.status)
        .where(Task.staff_id == staff_id, Task.status == TaskStatus.open.value)
        .order_by(Task.month.desc(), Task.id)
        .limit(limit)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def latest_month(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """Return the latest month with books, or None."""
    return con.execute("SELECT max(month) FROM books").fetchall()[0][0]
