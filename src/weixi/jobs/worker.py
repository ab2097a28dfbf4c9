"""The job worker: a thread pool inside the web app process.

Why not Celery, RQ, Dramatiq, arq or Huey: they need a broker (Redis/RabbitMQ) or a separate
consumer process, which an operator's intranet install of weixi does not have; the jobs here
are few (a planner's preview, an upload) and the state a page needs is one row in the
operational database. ``concurrent.futures`` plus the ``jobs`` table gives queueing, progress
and results with nothing new to run.

Two lanes: the *writer* lane has one thread, so jobs that write the analytics store run one at
a time and publish a snapshot when they end; the *reader* lane runs the rest (uploads that write
only the operational database) side by side.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from weixi.errors import ConfigError, WeixiError, localized
from weixi.i18n import LOCALES
from weixi.jobs import service
from weixi.store import snapshots
from weixi.store.db import session_scope

log = logging.getLogger(__name__)

STORE_BUSY = (
    "The analytics store is busy with another process (e.g. the monthly job); "
    "try again when it finishes"
)


class JobContext:
    """What a job function gets: its id, progress reporting and the analytics store."""

    def __init__(self, runner: JobRunner, job_id: int) -> None:
        self.runner = runner
        self.job_id = job_id

    def progress(self, fraction: float | None = None, stage: str | None = None) -> None:
        """Record how far the job is (0..1) and what it does now (English; pages translate)."""
        with session_scope(self.runner.db_url) as s:
            job = service.get(session=s, job_id=self.job_id)
            if job is not None:
                service.update(session=s, job=job, stage=stage, progress=fraction)

    @contextmanager
    def analytics(
        self, *, publish: bool = True, stage: str = "Opening the analytics store"
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writable analytics connection (this process's only writer). Waits while another
        process holds the file; when the block succeeds and ``publish`` is on, publishes a new
        snapshot for the pages."""
        from weixi.store.analytics import connect

        path = self.runner.analytics_path
        if not path.exists():
            raise ConfigError("no analytics store yet: import and segment a month first")
        self.progress(stage=stage)
        deadline = time.monotonic() + self.runner.store_wait_seconds
        with snapshots.writer_lock(path):
            while True:
                try:
                    con = connect(path)
                    break
                except duckdb.IOException as exc:  # another process holds the write lock
                    if time.monotonic() > deadline:
                        raise ConfigError(STORE_BUSY) from exc
                    self.progress(stage="Waiting for the analytics store (another job is writing)")
                    time.sleep(1.0)
            try:
                yield con
                if publish:
                    self.progress(stage="Publishing the new data for the pages")
                    snap = snapshots.publish(con, path)
                    self.runner.last_publish = snap
            finally:
                con.close()

    @contextmanager
    def snapshot(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the current snapshot (temporary tables allowed)."""
        con = snapshots.connect_snapshot(self.runner.analytics_path)
        if con is None:
            raise ConfigError("no analytics store yet: import and segment a month first")
        try:
            yield con
        finally:
            con.close()


def error_texts(exc: BaseException) -> dict[str, str] | None:
    """A failed job's error in each language of the app, when it is one of weixi's (its
    template and values are only at hand while the job runs); None for any other error."""
    if not isinstance(exc, WeixiError):
        return None
    return {loc: localized(exc, loc) for loc in LOCALES}


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars, dates and other non-JSON leaves turned into JSON types."""

    def default(o: Any) -> Any:
        if hasattr(o, "item"):  # numpy scalar
            return o.item()
        if hasattr(o, "isoformat"):
            return o.isoformat()
        return str(o)

    return None if value is None else json.loads(json.dumps(value, default=default))


JobFunc = Callable[[JobContext], dict[str, Any] | None]


class JobRunner:
    """Queue jobs as rows and run them on the writer or reader lane of this process."""

    def __init__(
        self,
        *,
        db_url: str,
        analytics_path: Path,
        readers: int = 2,
        store_wait_seconds: float = 900.0,
    ) -> None:
        self.db_url = db_url
        self.analytics_path = Path(analytics_path)
        self.store_wait_seconds = store_wait_seconds
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="weixi-writer")
        self._readers = ThreadPoolExecutor(max(readers, 1), thread_name_prefix="weixi-job")
        self.last_publish: snapshots.Snapshot | None = None

    def submit(
        self,
        func: JobFunc,
        *,
        kind: str,
        params: dict[str, Any] | None = None,
        created_by: str | None = None,
        writes: bool,
    ) -> int:
        """Record a queued job and start it on the writer (``writes``) or reader lane."""
        with session_scope(self.db_url) as s:
            job_id = service.create(session=s, kind=kind, params=params, created_by=created_by).id
        lane = self._writer if writes else self._readers
        lane.submit(self._run, job_id, func)
        return job_id

    def _run(self, job_id: int, func: JobFunc) -> None:
        ctx = JobContext(self, job_id)
        try:
            ctx.progress(0.0, "Starting")
            result = func(ctx)
        except Exception as exc:  # every failure ends on the job row, shown on the page
            if not isinstance(exc, WeixiError | ValueError | LookupError):
                log.exception("job %s failed", job_id)
            with session_scope(self.db_url) as s:
                job = service.get(session=s, job_id=job_id)
                if job is not None:
                    service.fail(
                        session=s,
                        job=job,
                        error=str(exc) or type(exc).__name__,
                        texts=error_texts(exc),
                    )
            return
        with session_scope(self.db_url) as s:
            job = service.get(session=s, job_id=job_id)
            if job is not None:
                service.finish(session=s, job=job, result=jsonable(result))

    def recover(self) -> int:
        """Fail jobs left queued or running by a process that is gone (app restart)."""
        with session_scope(self.db_url) as s:
            return service.interrupt_orphans(session=s)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Block until both lanes have run what was queued so far (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        for lane in (self._writer, self._readers):
            fut = lane.submit(lambda: None)
            fut.result(timeout=max(deadline - time.monotonic(), 0.1))

    def shutdown(self) -> None:
        """Stop taking jobs and wait for the running ones."""
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
