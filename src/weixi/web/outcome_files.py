"""Outcome files from an external dialer or SMS gateway: validate every row, record the good
ones idempotently, and account for every row (read = recorded + repeated + rejected).

Rows go through the same rules as the queue page and the API (``weixi.security.access`` and
``record_outcome``): a task outside the uploader's scope is "not found"; a task that already
took its outcome, waits for a call-back or is on someone's screen is rejected with the reason.
An optional ``staff_id`` column names the agent who worked the row: the task must be assigned
to them or pooled (a pooled task is then assigned to them)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field

from charset_normalizer import from_bytes
from sqlalchemy.orm import Session

from weixi.auth.models import User
from weixi.dispatch import service as dispatch_service
from weixi.dispatch.models import Outcome
from weixi.errors import ConflictError, IngestError
from weixi.security import access
from weixi.web import operations

REQUIRED = ("task_id", "result")
OPTIONAL = ("refusal_reason", "callback_at", "note", "idempotency_key", "staff_id")


@dataclass
class FileReport:
    """What happened to every row of one uploaded file."""

    file: str
    read: int = 0
    recorded: int = 0
    repeated: int = 0
    rejected: list[dict] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return self.read == self.recorded + self.repeated + len(self.rejected)


def _decode(data: bytes, name: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            raise IngestError(f"{name}: cannot tell the text encoding; save it as UTF-8") from None
        return str(best)


def record_file(*, session: Session, user: User, name: str, data: bytes) -> FileReport:
    """Validate and record an outcome CSV (columns task_id, result, refusal_reason,
    callback_at, note, idempotency_key); flushes, the caller commits."""
    text = _decode(data, name)
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip().lower() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise IngestError(
            f"{name}: missing column(s) {', '.join(missing)}; the header must include "
            f"{', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})"
        )
    digest = hashlib.sha256(data).hexdigest()[:16]
    report = FileReport(file=name)
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        report.read += 1

        def reject(reason: str, row=row, line_no=line_no) -> None:
            report.rejected.append({"row": line_no, "reason": reason, **row})

        try:
            task_id = int(row["task_id"])
        except ValueError:
            reject(f"task_id {row['task_id']!r} is not a number")
            continue
        task = operations.get_task(session=session, task_id=task_id)
        if not access.task_in_scope(user, task):
            reject(f"task {task_id} not found")
            continue
        assert task is not None
        staff = row.get("staff_id") or None
        if staff and task.staff_id not in (None, staff):
            reject(f"task {task_id} is assigned to {task.staff_id}, not {staff}")
            continue
        callback = None
        if row.get("callback_at"):
            try:
                callback = dt.datetime.fromisoformat(row["callback_at"]).replace(tzinfo=None)
            except ValueError:
                reject("callback_at must look like 2026-01-31 15:00")
                continue
        if row["result"] == "refused" and not row.get("refusal_reason"):
            reject("a refusal needs refusal_reason")
            continue
        key = row.get("idempotency_key") or f"file:{digest}:{line_no}"
        seen = session.query(Outcome.id).filter(Outcome.idempotency_key == key).first()
        if seen is not None:
            report.repeated += 1
            continue
        try:
            dispatch_service.record_outcome(
                session=session,
                task_id=task_id,
                result=row["result"],
                refusal_reason=row.get("refusal_reason") or None,
                callback_at=callback,
                note=row.get("note") or None,
                source="file",
                idempotency_key=key,
                recorded_by=user.username,
                credit_staff=staff,
            )
        except (ValueError, ConflictError) as exc:  # unknown result, closed or held task
            reject(str(exc))
            continue
        report.recorded += 1
    return report
