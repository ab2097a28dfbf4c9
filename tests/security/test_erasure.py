"""PIPL erasure: the person's phone, name, ID number and free text are gone from every table of
both stores, identifiers are pseudonymized consistently, the months' aggregates (counts, ARPU,
customers, churn labels, plans, tasks) are unchanged, the audit event holds no personal data and
a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from typer.testing import CliRunner

from tests.factories import make_history
from weixi.cli import app
from weixi.dispatch.models import Campaign, ChannelConsent, ContactLog, Outcome, Task
from weixi.security import audit
from weixi.store.analytics import open_store
from weixi.store.db import session_scope
from weixi.store.months import churn_label_sql
from weixi.store.schema import ensure as ensure_schema
from weixi.web import migrate
from weixi.web.orm import import_all

NAME = "欧阳测试"  # unique, so "the name is nowhere" is a real check
NOTE_PHONE = "回访 {phone}，客户 {name} 要求删除"


def _build(settings) -> dict[str, str]:
    """Two months, quarantine, a plan, tasks with outcomes; return the target's identity."""
    history = make_history(300, months=2, seed=3)
    with open_store() as con:
        ensure_schema(con)
        for _, table in history:
            con.register("m", table)
            cols = ", ".join(table.column_names)
            con.execute(f"INSERT INTO snapshot ({cols}) SELECT {cols} FROM m")
            con.unregister("m")
        # the target: present in both months, so the churn label joins across the erasure
        sid = con.execute(
            "SELECT subscriber_id FROM snapshot GROUP BY 1 HAVING count(*) = 2 ORDER BY 1 LIMIT 1"
        ).fetchall()[0][0]
        con.execute("UPDATE snapshot SET name = ? WHERE subscriber_id = ?", [NAME, sid])
        who = dict(
            zip(
                ("subscriber_id", "customer_id", "account_id", "phone", "name", "id_number"),
                con.execute(
                    "SELECT subscriber_id, customer_id, account_id, phone, name, id_number "
                    "FROM snapshot WHERE subscriber_id = ? LIMIT 1",
                    [sid],
                ).fetchall()[0],
                strict=True,
            )
        )
        other = con.execute(
            "SELECT phone FROM snapshot WHERE subscriber_id <> ? LIMIT 1", [sid]
        ).fetchall()[0][0]
        con.execute(
            "INSERT INTO quarantine VALUES "
            "('r1', DATE '2025-09-01', 'm.csv', 7, 'phone', 'bad_format', ?, ?),"
            "('r1', DATE '2025-09-01', 'm.csv', 9, 'arpu', 'out_of_range', '-5', ?)",
            [
                who["phone"],
                json.dumps({"用户标识": sid, "手机号码": who["phone"]}, ensure_ascii=False),
                json.dumps({"手机号码": other, "arpu": "-5"}, ensure_ascii=False),
            ],
        )
        ensure_schema(con)
        con.execute(
            "INSERT INTO plan_assignments (month, campaign_id, subscriber_id, customer_id, "
            "branch_id, action, channel, is_control, p_churn, expected_value, cost, reason) "
            "SELECT month, 'q1', subscriber_id, customer_id, branch_id, 'care_call', "
            "'call_center', false, 0.3, arpu, 5, 'P(churn) 30%; ' || name "
            "FROM snapshot WHERE month = DATE '2025-10-01'"
        )
    migrate.upgrade()
    with session_scope() as s:
        camp = Campaign(
            key="q1",
            name_en="Q1",
            period_start=dt.date(2025, 10, 1),
            period_end=dt.date(2025, 10, 1),
            salt="s",
        )
        s.add(camp)
        s.flush()
        for i, subscriber in enumerate((sid, "S-OTHER")):
            task = Task(
                campaign_id=camp.id,
                month=dt.date(2025, 10, 1),
                subscriber_id=subscriber,
                customer_id=who["customer_id"] if i == 0 else "C-OTHER",
                branch_id="HZ",
                channel="call_center",
                action="care_call",
                reason="P(churn) 30%",
            )
            s.add(task)
            s.flush()
            s.add(
                Outcome(
                    task_id=task.id,
                    result="refused",
                    refusal_reason="price" if i else f"说了手机号 {who['phone']}",
                    note=NOTE_PHONE.format(phone=who["phone"], name=NAME) if i == 0 else "ok",
                )
            )
            s.add(
                ContactLog(
                    subscriber_id=subscriber,
                    customer_id=task.customer_id,
                    task_id=task.id,
                    channel="call_center",
                    result="refused",
                )
            )
        s.add(ChannelConsent(subscriber_id=sid, channel="sms", allowed=False))
        from weixi.complaints import service as complaints

        filed = complaints.create(
            session=s,
            subscriber_id=sid,
            customer_id=who["customer_id"],
            branch_id="HZ",
            summary=NOTE_PHONE.format(phone=who["phone"], name=NAME),
        )
        complaints.advance(
            session=s,
            complaint=filed,
            to_status="classified",
            category="price",
            note=f"called back {who['phone']}",
        )
        audit.record(
            session=s, action="unmask", username="agent1", object_type="customer", object_id=sid
        )
    return who


def _aggregates() -> dict:
    with open_store(read_only=True) as con:
        snap = con.execute(
            "SELECT month, count(*), round(sum(arpu), 4), count(DISTINCT customer_id), "
            "count(DISTINCT account_id), count(*) FILTER (WHERE status = 'active') "
            "FROM snapshot GROUP BY month ORDER BY month"
        ).fetchall()
        labels = con.execute(
            f"SELECT month, count(*), sum(churned) FROM ({churn_label_sql()}) GROUP BY 1 ORDER BY 1"
        ).fetchall()
        plan = con.execute(
            "SELECT count(*), count(DISTINCT subscriber_id), round(sum(expected_value), 4), "
            "count(DISTINCT customer_id) FROM plan_assignments"
        ).fetchall()
        joined = con.execute(  # plans still join the snapshot, keyed by subscriber
            "SELECT count(*) FROM plan_assignments p JOIN snapshot s "
            "ON s.subscriber_id = p.subscriber_id AND s.month = p.month"
        ).fetchall()
        quarantine = con.execute(
            "SELECT count(*), count(DISTINCT reason) FROM quarantine"
        ).fetchall()
    with session_scope() as s:
        ops = (
            s.scalar(sa.select(sa.func.count()).select_from(Task)),
            s.scalar(sa.select(sa.func.count()).select_from(Outcome)),
            s.scalar(sa.select(sa.func.count(sa.distinct(ContactLog.subscriber_id)))),
        )
    return {
        "snapshot": snap,
        "labels": labels,
        "plan": plan,
        "joined": joined,
        "quarantine": quarantine,
        "ops": ops,
    }


def _occurrences(values: list[str]) -> list[str]:
    """Every table.column (both stores) whose text contains one of ``values``."""
    hits = []
    with open_store(read_only=True) as con:
        cols = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
        ).fetchall()
        for table, column in cols:
            for v in values:
                sql = f'SELECT count(*) FROM "{table}" WHERE strpos("{column}", ?) > 0'
                if con.execute(sql, [v]).fetchall()[0][0]:
                    hits.append(f"analytics.{table}.{column}")
    with session_scope() as s:
        for table in import_all().sorted_tables:
            for column in table.c:
                if not isinstance(column.type, sa.String | sa.Text):
                    continue
                for v in values:
                    stmt = sa.select(sa.func.count()).where(column.contains(v, autoescape=True))
                    if s.scalar(stmt.select_from(table)):
                        hits.append(f"operational.{table.name}.{column.name}")
    return hits


def test_erase_removes_the_person_and_keeps_aggregates(settings):
    """On SQLite and on PostgreSQL (``op_db``: the settings' database is the run's)."""
    _check_erase(settings)


def _check_erase(settings) -> None:
    who = _build(settings)
    personal = [who["phone"], who["name"], who["id_number"]]
    assert set(_occurrences(personal)) >= {
        "analytics.snapshot.phone",
        "analytics.quarantine.raw_row",
        "analytics.plan_assignments.reason",
        "operational.outcomes.note",
    }
    before = _aggregates()

    runner = CliRunner()
    result = runner.invoke(app, ["pipl", "erase", "--subscriber", who["subscriber_id"], "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert not out["already_erased"] and out["row_updates"] > 0
    assert out["pseudonym"].startswith("erased-")

    # the person's personal data is nowhere; the ids are nowhere but in the audit log's unmask
    assert _occurrences(personal) == []
    ids = [who["subscriber_id"], who["customer_id"], who["account_id"]]
    assert set(_occurrences(ids)) <= {"operational.audit_events.object_id"}
    assert _aggregates() == before

    with open_store(read_only=True) as con:
        rows = con.execute(
            "SELECT subscriber_id, phone, name, id_number, arpu FROM snapshot "
            "WHERE subscriber_id = ?",
            [out["pseudonym"]],
        ).fetchall()
        assert len(rows) == 2 and all(r[1:4] == (None, None, None) and r[4] for r in rows)
        # the other quarantined row (someone else) keeps its raw row
        assert con.execute("SELECT count(raw_row) FROM quarantine").fetchall()[0][0] == 1
    with session_scope() as s:
        kept = s.scalars(sa.select(Outcome.refusal_reason).order_by(Outcome.id)).all()
        assert kept == [None, "price"]  # free text erased, a reason code kept
        consent = s.scalars(sa.select(ChannelConsent.subscriber_id)).all()
        assert consent == [out["pseudonym"]]  # the opt-out stays with the pseudonym
        event = s.scalars(
            sa.select(audit.AuditEvent).where(audit.AuditEvent.action == "pipl_erase")
        ).one()
        text = event.object_id + event.detail
        assert not any(v in text for v in (*personal, *ids))
        assert event.object_id == out["pseudonym"]
        assert audit.verify(session=s).ok

    # idempotent: a second run changes nothing and says so (and is audited again)
    again = runner.invoke(app, ["pipl", "erase", "--subscriber", who["subscriber_id"], "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["already_erased"] is True
    assert json.loads(again.stdout)["row_updates"] == 0
    assert _aggregates() == before

    unknown = runner.invoke(app, ["pipl", "erase", "--subscriber", "NOPE"])
    assert unknown.exit_code == 1 and "NOPE is not in weixi" in unknown.stderr
