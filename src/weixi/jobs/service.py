"""Job rows: create, read and move through queued → running → done | failed.

Services flush and never commit; the worker (or the route) owns the transaction.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from weixi.jobs.models import Job, JobStatus, _now


def worker_id() -> str:
    """``host:pid`` of this process (which process runs a job, for restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def create(
    *, session: Session, kind: str, params: dict[str, Any] | None, created_by: str | None
) -> Job:
    """Queue a new job of ``kind`` and return it (with its id)."""
    job = Job(
        kind=kind,
        status=JobStatus.queued.value,
        params=params,
        created_by=created_by,
        worker=worker_id(),
    )
    session.add(job)
    session.flush()
    return job


def get(*, session: Session, job_id: int) -> Job | None:
    """The job with ``job_id`` or None."""
    return session.get(Job, job_id)


def get_all(*, session: Session, created_by: str | None = None, limit: int = 20) -> list[Job]:
    """The newest jobs (of one user when ``created_by`` is given)."""
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if created_by is not None:
        stmt = stmt.where(Job.created_by == created_by)
    return list(session.scalars(stmt))


def update(
    *,
    session: Session,
    job: Job,
    stage: str | None = None,
    progress: float | None = None,
) -> Job:
    """Move a job on: mark it running on first call, set its stage text and progress (0..1)."""
    if job.status == JobStatus.queued.value:
        job.status = JobStatus.running.value
        job.started_at = _now()
        job.worker = worker_id()
    if stage is not None:
        job.stage = stage
    if progress is not None:
        job.progress = max(0.0, min(float(progress), 1.0))
    session.flush()
    return job


def finish(*, session: Session, job: Job, result: dict[str, Any] | None) -> Job:
    """Mark a job done with its JSON-ready ``result``."""
    job.status = JobStatus.done.value
    job.result = result
    job.progress = 1.0
    job.stage = "Done"
    job.finished_at = _now()
    session.flush()
    return job


def fail(*, session: Session, job: Job, error: str, texts: dict[str, str] | None = None) -> Job:
    """Mark a job failed with the message to show (English; ``texts``: the message in each
    language of the app, when it has been rendered in them)."""
    job.status = JobStatus.failed.value
    job.error = error
    job.error_texts = texts
    job.stage = "Failed"
    job.finished_at = _now()
    session.flush()
    return job


def interrupt_orphans(*, session: Session) -> int:
    """Fail queued or running jobs whose process on this host is gone (a restart); returns
    how many. Jobs of live processes (several app workers share one database) are left alone."""
    host = socket.gethostname()
    n = 0
    for job in session.scalars(
        select(Job).where(Job.status.in_((JobStatus.queued.value, JobStatus.running.value)))
    ):
        owner_host, _, pid = (job.worker or "").rpartition(":")
        if owner_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        fail(session=session, job=job, error="interrupted: the web app restarted; run it again")
        n += 1
    return n


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
