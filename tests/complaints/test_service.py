"""The complaint workflow: every state in order, audit of each step, branch scope, escalation,
file import, trigger events and the complaint-history churn features."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from weixi.auth.models import AuditEvent, User
from weixi.churn import features as F
from weixi.complaints import service as svc
from weixi.complaints.models import FLOW
from weixi.store import schema
from weixi.web.orm import import_all


@pytest.fixture
def session():
    engine = create_engine("sqlite://")
    import_all().create_all(engine)
    with Session(engine) as s:
        yield s


def _user(role="branch_manager", branch="HZ"):
    return User(id=7, username=f"u_{role}", role=role, branch_id=branch, display_name="x")


def test_a_complaint_goes_through_every_state_with_an_audited_step_each(session):
    u = _user()
    c = svc.create(
        session=session,
        subscriber_id="s1",
        summary="手机 13812345678 信号差",
        branch_id="HZ",
        user=u,
    )
    assert c.status == "received" and c.deadline - c.received_at == dt.timedelta(days=3)
    with pytest.raises(svc.ComplaintError):  # classifying needs a category
        svc.advance(session=session, complaint=c, to_status="classified", user=u)
    with pytest.raises(svc.ComplaintError):  # no skipping
        svc.advance(session=session, complaint=c, to_status="handled", user=u)
    svc.advance(
        session=session,
        complaint=c,
        to_status="classified",
        category="technical",
        owner="am1",
        user=u,
    )
    for status in FLOW[2:]:
        svc.advance(session=session, complaint=c, to_status=status, user=u, note=status)
    assert c.status == "archived" and not c.is_open and c.answered_at and c.archived_at
    assert [s.to_status for s in c.steps] == list(FLOW)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "complaint")
    ).all()
    assert actions == [f"complaint_{s}" for s in FLOW]
    with pytest.raises(svc.ComplaintError):
        svc.advance(session=session, complaint=c, to_status="archived", user=u)


def test_branch_sees_its_own_and_overdue_ones_are_escalated_once_a_day(session):
    t0 = dt.datetime(2026, 3, 1, 9, 0)
    a = svc.create(session=session, subscriber_id="s1", summary="a", branch_id="HZ", received_at=t0)
    b = svc.create(
        session=session,
        subscriber_id="s2",
        summary="b",
        branch_id="NB",
        received_at=t0,
        category="price",
    )
    assert svc.get(session=session, complaint_id=b.id, branch="HZ") is None
    assert [c.id for c in svc.get_all(session=session, branch="HZ")] == [a.id]
    assert len(svc.get_all(session=session)) == 2
    for st in FLOW[2:5]:  # b answered in time
        svc.advance(session=session, complaint=b, to_status=st)
    now = t0 + dt.timedelta(days=3, hours=1)  # one hour past the deadline
    assert [c.id for c in svc.escalate_overdue(session=session, now=now)] == [a.id]
    assert a.escalation_level == 1 and a.steps[-1].to_status == "escalated"
    assert svc.escalate_overdue(session=session, now=now + dt.timedelta(hours=2)) == []
    assert svc.escalate_overdue(session=session, now=now + dt.timedelta(days=1)) == [a]
    assert a.escalation_level == 2
    assert [c.id for c in svc.get_all(session=session, overdue=True, now=now)] == [a.id]


def test_file_import_rejects_unknown_lines_and_categories(session, tmp_path):
    path = tmp_path / "c.csv"
    pd.DataFrame(
        {
            "subscriber_id": ["s1", "zz", "s2"],
            "summary": ["x", "y", "z"],
            "category": ["price", "", "nonsense"],
        }
    ).to_csv(path, index=False)
    df = svc.read_file(path)
    lines = {"s1": {"branch_id": "HZ", "customer_id": "c1"}, "s2": {"branch_id": "HZ"}}
    out = svc.import_frame(session=session, df=df, lines=lines)
    assert out["read"] == 3 and out["loaded"] == 1
    assert [r["reason"] for r in out["rejected"]] == [
        "unknown subscriber",
        "unknown category nonsense",
    ]
    c = svc.get(session=session, complaint_id=out["ids"][0])
    assert c.channel == "file" and c.status == "classified" and c.customer_id == "c1"


def test_complaint_events_feed_the_trigger_engine(session):
    svc.create(
        session=session,
        subscriber_id="s1",
        summary="a",
        branch_id="HZ",
        received_at=dt.datetime(2026, 3, 2, 10),
        category="price",
    )
    svc.create(
        session=session,
        subscriber_id="s2",
        summary="b",
        branch_id="HZ",
        received_at=dt.datetime(2026, 3, 5, 10),
    )
    ev = svc.complaint_events(session=session, since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 2))
    assert list(ev.columns) == ["event_date", "customer_id", "event_type", "attributes"]
    assert ev["customer_id"].tolist() == ["s1"] and ev["event_type"].tolist() == ["complaint_filed"]
    assert json.loads(ev["attributes"][0])["category"] == "price"


def test_complaint_history_becomes_churn_features(session, fresh_con):
    schema.ensure(fresh_con)
    for m in (dt.date(2026, 2, 1), dt.date(2026, 3, 1)):
        for sid in ("s1", "s2"):
            fresh_con.execute(
                "INSERT INTO snapshot (month, subscriber_id, branch_id, line_type, status, "
                "activation_date, arpu) VALUES (?, ?, 'HZ', 'mobile', 'active', DATE '2020-01-01', 50)",
                [m, sid],
            )
    c = svc.create(
        session=session,
        subscriber_id="s1",
        summary="a",
        branch_id="HZ",
        received_at=dt.datetime(2026, 3, 10),
        category="price",
    )
    svc.create(
        session=session,
        subscriber_id="s1",
        summary="b",
        branch_id="HZ",
        received_at=dt.datetime(2026, 2, 3),
        category="technical",
    )
    for st in FLOW[2:5]:
        svc.advance(session=session, complaint=c, to_status=st)
    c.answered_at = dt.datetime(2026, 4, 2)  # answered after March's end: open at month end
    assert svc.sync_analytics(session=session, con=fresh_con) == 2
    assert F.has_complaints(fresh_con)
    df = F.load_features(fresh_con, [dt.date(2026, 3, 1)], with_complaints=True).set_index(
        "subscriber_id"
    )
    s1, s2 = df.loc["s1"], df.loc["s2"]
    assert (s1.cmp_count_6m, s1.cmp_open, s1.cmp_overdue) == (2, 2, 2)
    assert s1.cmp_days_since_last == 22 and s1.cmp_last_category == "price"
    assert (s2.cmp_count_6m, s2.cmp_open, s2.cmp_last_category) == (0, 0, "none")
    feb = F.load_features(fresh_con, [dt.date(2026, 2, 1)], with_complaints=True)
    assert feb.set_index("subscriber_id").loc["s1"].cmp_count_6m == 1  # never looks ahead
    assert "cmp_open" not in F.load_features(fresh_con, [dt.date(2026, 3, 1)]).columns
