"""The append-only, hash-chained audit log: record an event, browse, filter, verify the chain.

There is deliberately no update or delete function; the ORM and database triggers refuse both
(see ``weixi.auth.models``). Every unmask and every export calls :func:`record`.

Tamper evidence: each event stores ``prev_hash`` (the previous event's hash) and ``hash``, the
SHA-256 of its canonical content (:func:`canonical`, which includes ``id`` and ``prev_hash``).
Whoever edits, deletes or inserts a row behind weixi's back (raw SQL with the triggers dropped,
a file editor) breaks the chain at that row, and :func:`verify` names the first broken event.
The head row (``audit_chain_head``) also holds the last id and hash, so cutting events off the
end is caught too unless the head is forged as well; keep the head hash that
``weixi audit verify`` prints somewhere else (a ticket, an e-mail) to catch even that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from weixi.auth.models import AUDIT_GENESIS, AuditChainHead, AuditEvent, User, utcnow

#: Actions written by weixi (the filter list of the audit page).
ACTIONS = (
    "login",
    "login_failed",
    "locked_out",
    "logout",
    "unmask",
    "export",
    "user_created",
    "user_updated",
    "password_changed",
    "token_created",
    "model_promoted",
    "pipl_erase",
    "backup",
    "restore",
    "complaint_received",
    "complaint_classified",
    "complaint_investigated",
    "complaint_handled",
    "complaint_answered",
    "complaint_archived",
    "complaint_escalated",
)

#: The fields of an event covered by its hash, in canonical order.
CHAINED_FIELDS = (
    "id",
    "at",
    "user_id",
    "username",
    "role",
    "branch_id",
    "action",
    "object_type",
    "object_id",
    "detail",
    "ip",
    "prev_hash",
)


@dataclass(frozen=True)
class AuditFilter:
    """Filters of the audit browser; every field optional."""

    username: str | None = None
    action: str | None = None
    object_type: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def record(
    *,
    session: Session,
    action: str,
    user: User | None = None,
    username: str | None = None,
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Append one event to the audit log, chained to the last one (flushes; the caller commits).

    The first statement updates the chain head, which holds the database write lock (SQLite) or
    the head row's lock (PostgreSQL) until the caller commits or rolls back: concurrent writers
    wait for each other, so each reads the true last hash and the chain never forks.
    """
    head = AuditChainHead.__table__
    session.execute(update(head).where(head.c.id == 1).values(last_id=head.c.last_id))
    row = session.execute(select(head.c.last_id, head.c.last_hash).where(head.c.id == 1)).first()
    if row is None:  # a database created without the seed row (should not happen)
        session.execute(head.insert().values(id=1, last_id=0, last_hash=AUDIT_GENESIS))
        last_id, last_hash = 0, AUDIT_GENESIS
    else:
        last_id, last_hash = int(row.last_id), row.last_hash
    event = AuditEvent(
        id=last_id + 1,
        prev_hash=last_hash,
        at=utcnow(),
        user_id=user.id if user else None,
        username=(user.username if user else username) or "",
        role=user.role if user else "",
        branch_id=user.branch_id if user else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:128],
        detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
        ip=ip,
    )
    event.hash = event_hash(_fields(event))
    session.add(event)
    session.flush()
    session.execute(
        update(head).where(head.c.id == 1).values(last_id=event.id, last_hash=event.hash)
    )
    return event


def _fields(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in CHAINED_FIELDS}


def canonical(fields: dict[str, Any]) -> bytes:
    """The canonical bytes of an event: sorted-key compact JSON of :data:`CHAINED_FIELDS`.

    Timestamps are written as ISO 8601 with microseconds, so SQLite and PostgreSQL (which both
    keep microseconds) give the same bytes for the same event.

    >>> canonical({"id": 1, "at": dt.datetime(2026, 1, 2, 3, 4, 5), "detail": "{}"})
    b'{"at":"2026-01-02T03:04:05.000000","detail":"{}","id":1}'
    """
    out = {}
    for key, value in fields.items():
        if isinstance(value, dt.datetime):
            value = value.isoformat(timespec="microseconds")
        out[key] = value
    return json.dumps(out, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of an event's canonical content (``prev_hash`` included)."""
    return hashlib.sha256(canonical(fields)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found: OK with the count, or the first broken event and why."""

    ok: bool
    count: int  # events checked
    head_id: int | None  # the last event's id
    head_hash: str | None  # the last event's hash (keep it elsewhere to anchor the chain)
    broken_id: int | None = None  # the first event whose link is broken
    reason: str | None = None  # content_changed | link_broken | head_mismatch | not_chained
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` payload."""
        return {
            "ok": self.ok,
            "events": self.count,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
            "broken_id": self.broken_id,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
        }


def verify(*, session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order and return the first broken link, or OK with the count.

    An event is broken when its stored hash differs from the hash of its content
    (``content_changed``: a field was edited), when its ``prev_hash`` differs from the previous
    event's hash (``link_broken``: an event was deleted, inserted or moved before it), or when it
    has no hash (``not_chained``). Finally the head row must point at the last event
    (``head_mismatch``: events were cut off the end).
    """
    import time

    started = time.perf_counter()
    cols = [getattr(AuditEvent, name) for name in CHAINED_FIELDS]
    prev, last_id, n = AUDIT_GENESIS, None, 0

    def broken(event_id: int | None, reason: str) -> ChainReport:
        return ChainReport(False, n, last_id, prev, event_id, reason, time.perf_counter() - started)

    after = 0
    while True:  # keyset pages: constant memory, one query per ``batch`` events
        rows = session.execute(
            select(*cols, AuditEvent.hash)
            .where(AuditEvent.id > after)
            .order_by(AuditEvent.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            fields = dict(zip(CHAINED_FIELDS, row[:-1], strict=True))
            stored = row[-1]
            if stored is None or fields["prev_hash"] is None:
                return broken(fields["id"], "not_chained")
            if fields["prev_hash"] != prev:
                return broken(fields["id"], "link_broken")
            if event_hash(fields) != stored:
                return broken(fields["id"], "content_changed")
            prev, last_id, n = stored, fields["id"], n + 1
        after = rows[-1][0]
    head = session.execute(
        select(AuditChainHead.last_id, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
    ).first()
    if head is not None and (int(head.last_id) != (last_id or 0) or head.last_hash != prev):
        # events cut off the end (the first missing one) or appended around record()
        return broken(min(int(head.last_id), last_id or 0) + 1, "head_mismatch")
    return ChainReport(True, n, last_id, prev if n else None, seconds=time.perf_counter() - started)


def _filtered(stmt, flt: AuditFilter):
    if flt.username:
        stmt = stmt.where(AuditEvent.username == flt.username)
    if flt.action:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.object_type:
        stmt = stmt.where(AuditEvent.object_type == flt.object_type)
    if flt.since:
        stmt = stmt.where(AuditEvent.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEvent.at < flt.until)
    return stmt


def get_all(
    *, session: Session, flt: AuditFilter | None = None, limit: int = 100, offset: int = 0
) -> list[AuditEvent]:
    """Return audit events matching ``flt``, newest first."""
    stmt = _filtered(select(AuditEvent), flt or AuditFilter())
    stmt = stmt.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count(*, session: Session, flt: AuditFilter | None = None) -> int:
    """Return how many audit events match ``flt``."""
    stmt = _filtered(select(func.count(AuditEvent.id)), flt or AuditFilter())
    return int(session.scalar(stmt) or 0)
