"""The typed results the ingest service returns (its tables: weixi.store.schema.tables)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from weixi.i18n import t
from weixi.ingest.messages import render_key


class FileResult(BaseModel):
    """Reconciliation of one input file: ``read == loaded + quarantined``."""

    file: str
    path: str
    table: str = "snapshot"  # or a reference table name
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    defects: dict[str, int] = Field(default_factory=dict)  # violations by reason
    ignored_columns: list[str] = Field(default_factory=list)
    defaulted_columns: list[str] = Field(default_factory=list)


class ImportResult(BaseModel):
    """The outcome of one ``import_month`` call (also stored as a row of ``import_runs``)."""

    run_id: str
    month: dt.date
    status: str
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    files: list[FileResult] = Field(default_factory=list)
    defects: dict[str, int] = Field(default_factory=dict)  # snapshot files' violations
    mapping_hash: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = None
    pid: int | None = None  # the process that ran (runs) the import, and its host
    host: str | None = None
    proc_start: int | None = None
    interruption: str | None = None  # process_gone | timeout when status == "interrupted"
    error_key: str | None = None  # a failed run's error as {msgid, params} JSON (any language)

    @property
    def balanced(self) -> bool:
        """True when the reconciliation holds in total and for every file."""
        return self.read == self.loaded + self.quarantined and all(
            f.read == f.loaded + f.quarantined for f in self.files
        )

    def summary(self) -> dict:
        """The ``--json`` payload."""
        data = self.model_dump(mode="json")
        return {
            "read": data["read"],
            "loaded": data["loaded"],
            "quarantined": data["quarantined"],
            "run_id": data["run_id"],
            "month": data["month"][:7],
            "status": data["status"],
            "files": data["files"],
            "defects": data["defects"],
            "mapping_hash": data["mapping_hash"],
        }

    def error_in(self, locale: str | None = None) -> str | None:
        """The run's error in ``locale``; an interrupted run's explanation is rebuilt there."""
        if self.status == "interrupted" and self.interruption == "process_gone":
            return t(
                "the import process {pid} on {host} ended before it finished (killed or "
                "crashed); the month was left as it was",
                locale,
                pid=self.pid,
                host=self.host,
            )
        if self.status == "interrupted" and self.interruption == "timeout":
            return t(
                "still marked running {hours} h after it started (WEIXI_IMPORT_TIMEOUT_HOURS); "
                "presumed dead, the month was left as it was",
                locale,
                hours=_hours_since(self.started_at, self.finished_at),
            )
        return render_key(self.error_key, locale) or self.error


def _hours_since(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "?"
    return f"{(end - start).total_seconds() / 3600:.1f}"


class QuarantineRow(BaseModel):
    """One violation of one quarantined row."""

    run_id: str
    month: dt.date
    file: str
    row_number: int | None
    column_name: str | None
    reason: str
    raw_value: str | None
    raw_row: str | None
