"""The points ledger: earned from spend once a month, redeemed for offers, never negative
(checked by the service and enforced by the database), every movement audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.segment.helpers import load_history
from weixi.errors import ConflictError
from weixi.security import audit
from weixi.segment.service import segment_month
from weixi.store.db import session_factory
from weixi.vip import points
from weixi.vip.models import PointsEntry
from weixi.web import migrate


@pytest.fixture
def session():
    migrate.upgrade()  # the migrations (0006_vip_points) build the ledger, not create_all
    s = session_factory()()
    yield s
    s.close()


def test_database_refuses_a_negative_balance(session):
    session.add(PointsEntry(customer_id="C1", seq=1, kind="adjust", ref="x", delta=-5, balance=-5))
    with pytest.raises(sa.exc.IntegrityError, match=r"ck_points_balance|CHECK"):
        session.flush()
    session.rollback()


def test_database_refuses_two_entries_on_one_balance(session):
    session.add(PointsEntry(customer_id="C1", seq=1, kind="adjust", ref="a", delta=9, balance=9))
    session.flush()
    session.add(PointsEntry(customer_id="C1", seq=1, kind="redeem", ref="b", delta=-9, balance=0))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()
    session.rollback()


def test_earn_redeem_and_audit(session, fresh_con):
    months = load_history(fresh_con, 3000, 1, seed=4)
    segment_month(fresh_con, months[0])
    pts = points.earned(fresh_con, months[0])
    assert pts.num_rows > 0
    first = points.earn_month(session=session, con=fresh_con, month=months[0], actor="planner")
    session.commit()
    assert first["customers"] == sum(1 for p in pts.column("points").to_pylist() if p > 0)
    again = points.earn_month(session=session, con=fresh_con, month=months[0], actor="planner")
    session.commit()
    assert again["customers"] == 0 and again["already"] == first["customers"]
    # the richest customer redeems until the balance would go negative
    row = max(pts.to_pylist(), key=lambda r: r["points"])
    cid, bal = row["customer_id"], row["points"]
    assert points.get_balance(session=session, customer_id=cid) == bal
    cost = 3000  # data_10g in the shipped params
    n_ok = bal // cost
    for i in range(n_ok):
        points.redeem(
            session=session, customer_id=cid, offer="data_10g", request_id=f"r{i}", actor="am1"
        )
    session.commit()
    with pytest.raises(ConflictError, match="needs 3000"):
        points.redeem(
            session=session, customer_id=cid, offer="data_10g", request_id="late", actor="am1"
        )
    session.rollback()
    ledger = points.get_all(session=session, customer_id=cid)
    assert [e.balance for e in ledger] == [bal - i * cost for i in range(n_ok + 1)]
    assert all(e.balance >= 0 for e in ledger)
    actions = [e.action for e in audit.get_all(session=session)]
    assert actions.count("vip.points.redeem") == n_ok and actions.count("vip.points.earn") == 2
    assert audit.verify(session=session).ok
