"""ORM of the jobs domain: one row per background job (what, who, where it stands, result)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from weixi.store.db import Base


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JobStatus(enum.StrEnum):
    """Life cycle of a job."""

    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


FINISHED = (JobStatus.done.value, JobStatus.failed.value)


class Job(Base):
    """A long action run by the app's worker; pages poll it and show its result."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued.value)
    # English stage text (the message id); pages translate it with t()
    stage: Mapped[str] = mapped_column(String(120), default="Waiting for the worker")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # English
    # the error in each language of the app ({"en": …, "zh-CN": …}) when it is one of ours
    error_texts: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(80), nullable=True)  # host:pid
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=_now)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED
