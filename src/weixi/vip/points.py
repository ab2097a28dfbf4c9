"""VIP points (积分): earned from spend each month, redeemed for offers; an audited ledger.

Every movement is one appended :class:`~weixi.vip.models.PointsEntry` carrying the balance after
it. The database enforces ``balance >= 0`` and one entry per ``(customer, seq)``; this module
checks first so that the caller gets a clear message, and audits every redemption and every
monthly earning run.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from weixi.errors import ConflictError, NotFoundError
from weixi.security import audit
from weixi.store.months import parse_month
from weixi.vip.models import PointsEntry
from weixi.vip.params import VipParams, load_params


def _last(session: Session, customer_id: str) -> PointsEntry | None:
    return session.scalars(
        select(PointsEntry)
        .where(PointsEntry.customer_id == customer_id)
        .order_by(PointsEntry.seq.desc())
        .limit(1)
    ).first()


def get_balance(*, session: Session, customer_id: str) -> int:
    """Return a customer's points balance (0 without any entry)."""
    last = _last(session, customer_id)
    return last.balance if last else 0


def get_all(*, session: Session, customer_id: str) -> list[PointsEntry]:
    """Return a customer's ledger, oldest first."""
    return list(
        session.scalars(
            select(PointsEntry)
            .where(PointsEntry.customer_id == customer_id)
            .order_by(PointsEntry.seq)
        )
    )


def redeem(
    *,
    session: Session,
    customer_id: str,
    offer: str,
    request_id: str,
    actor: str,
    params: VipParams | None = None,
) -> PointsEntry:
    """Redeem points for ``offer`` (flushes, audits; the caller commits).

    Raises ConflictError when the balance is short or ``request_id`` was already used.
    """
    o = (params or load_params()).offer(offer)
    last = _last(session, customer_id)
    have = last.balance if last else 0
    if have < o.points:
        raise ConflictError(
            "customer {customer_id} has {have} points; {offer} needs {points}",
            customer_id=customer_id,
            have=have,
            offer=o.code,
            points=o.points,
        )
    ref = f"{o.code}:{request_id}"[:64]
    entry = PointsEntry(
        customer_id=customer_id,
        seq=(last.seq if last else 0) + 1,
        kind="redeem",
        ref=ref,
        delta=-o.points,
        balance=have - o.points,
        actor=actor,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session=session,
        action="vip.points.redeem",
        username=actor,
        object_type="customer",
        object_id=customer_id,
        detail={"offer": o.code, "points": o.points, "balance": entry.balance, "ref": ref},
    )
    return entry


def earned(
    con: duckdb.DuckDBPyConnection, month: str | dt.date, params: VipParams | None = None
) -> pa.Table:
    """Return ``(customer_id, tier, points)``: the month's points of every VIP customer.

    Points are the customer's spend this month (all their live lines) times their best tier's
    ``points_per_yuan``, rounded down.
    """
    p = params or load_params()
    m = parse_month(month)
    if not con.execute("SELECT EXISTS (SELECT 1 FROM segments)").fetchall()[0][0]:
        raise NotFoundError("no segments: run `weixi segment --month {month:%Y-%m}` first", month=m)
    rank = p.tier_rank()
    rank_case = " ".join(f"WHEN '{c}' THEN {r}" for c, r in rank.items())
    rate_case = " ".join(f"WHEN {rank[t.code]} THEN {t.points_per_yuan}" for t in p.tiers)
    return con.sql(
        f"""
        SELECT customer_id, tier, floor(spend * CASE best {rate_case} ELSE 0 END)::BIGINT AS points
        FROM (
          SELECT g.customer_id, max(CASE g.vip_tier {rank_case} ELSE 0 END) AS best,
                 arg_max(g.vip_tier, CASE g.vip_tier {rank_case} ELSE 0 END) AS tier,
                 sum(coalesce(s.arpu, 0)) AS spend
          FROM segments g JOIN snapshot s ON s.month = g.month AND s.subscriber_id = g.subscriber_id
          WHERE g.month = ? AND s.status <> 'cancelled'
          GROUP BY g.customer_id)
        WHERE best > 0 ORDER BY customer_id
        """,
        params=[m],
    ).to_arrow_table()


def earn_month(
    *,
    session: Session,
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    actor: str,
    params: VipParams | None = None,
) -> dict:
    """Credit the month's points to every VIP customer once (re-running adds nothing)."""
    m = parse_month(month)
    ref = f"earn:{m:%Y-%m}"
    pts = earned(con, m, params).filter(pc.field("points") > 0)
    done = {
        r
        for (r,) in session.execute(
            select(PointsEntry.customer_id).where(
                PointsEntry.kind == "earn", PointsEntry.ref == ref
            )
        )
    }
    if done:
        pts = pts.filter(pc.invert(pc.is_in(pts.column("customer_id"), pa.array(sorted(done)))))
    latest = (
        select(PointsEntry.customer_id, func.max(PointsEntry.seq).label("seq"))
        .group_by(PointsEntry.customer_id)
        .subquery()
    )
    prev = session.execute(
        select(PointsEntry.customer_id, PointsEntry.seq, PointsEntry.balance).join(
            latest,
            and_(latest.c.customer_id == PointsEntry.customer_id, latest.c.seq == PointsEntry.seq),
        )
    ).all()
    prev_t = pa.table(
        {
            "customer_id": pa.array([r[0] for r in prev], pa.string()),
            "seq0": pa.array([r[1] for r in prev], pa.int64()),
            "bal0": pa.array([r[2] for r in prev], pa.int64()),
        }
    )
    rows = pts.join(prev_t, "customer_id", join_type="left outer")
    seq0 = pc.fill_null(rows.column("seq0"), 0)
    bal0 = pc.fill_null(rows.column("bal0"), 0)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    n = rows.num_rows
    out = pa.table(
        {
            "customer_id": rows.column("customer_id"),
            "seq": pc.add(seq0, 1),
            "kind": pa.array(["earn"] * n),
            "ref": pa.array([ref] * n),
            "delta": rows.column("points"),
            "balance": pc.add(bal0, rows.column("points")),
            "actor": pa.array([actor] * n),
            "at": pa.array([now] * n, pa.timestamp("us")),
        }
    )
    if n:
        session.execute(insert(PointsEntry), out.to_pylist())
    total = int(pc.sum(out.column("delta")).as_py() or 0)
    audit.record(
        session=session,
        action="vip.points.earn",
        username=actor,
        object_type="month",
        object_id=f"{m:%Y-%m}",
        detail={"customers": n, "points": total, "already": len(done)},
    )
    return {"month": f"{m:%Y-%m}", "customers": n, "points": total, "already": len(done)}
