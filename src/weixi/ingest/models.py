"""The ingest domain's DuckDB tables and the typed results its service returns."""

from __future__ import annotations

import datetime as dt

import duckdb
from pydantic import BaseModel, Field

from weixi.i18n import t
from weixi.ingest import schema
from weixi.ingest.messages import render_key

IMPORT_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS import_runs (
  run_id VARCHAR NOT NULL,
  month DATE NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  status VARCHAR NOT NULL,          -- running | succeeded | failed | interrupted
  files VARCHAR,                    -- JSON list of per-file results
  "read" BIGINT,
  loaded BIGINT,
  quarantined BIGINT,
  defects VARCHAR,                  -- JSON {reason: count}
  mapping_hash VARCHAR,
  error VARCHAR,
  pid INTEGER,                      -- the importing process, its host and its start time
  host VARCHAR,                     -- (ticks since boot), to tell a dead run from a live one
  proc_start BIGINT,
  interruption VARCHAR,             -- process_gone | timeout, when status = interrupted
  error_key VARCHAR                 -- JSON {msgid, params} of a failed run's error (i18n)
)"""

# Columns added after the first release; older analytics files get them on the next import.
IMPORT_RUNS_NEW_COLUMNS = (
    ("pid", "INTEGER"),
    ("host", "VARCHAR"),
    ("proc_start", "BIGINT"),
    ("interruption", "VARCHAR"),
    ("error_key", "VARCHAR"),
)

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
  run_id VARCHAR NOT NULL,
  month DATE NOT NULL,
  file VARCHAR NOT NULL,
  row_number BIGINT,                -- CSV record number, header = 1; Parquet: 1-based row
  column_name VARCHAR,              -- canonical column (NULL when the whole row is malformed)
  reason VARCHAR NOT NULL,
  raw_value VARCHAR,
  raw_row VARCHAR                   -- JSON of the row as read
)"""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the snapshot, reference, import_runs and quarantine tables when missing."""
    con.execute(schema.snapshot_ddl())
    for f in schema.FIELDS:  # a store created before a field existed gets it (NULL in old months)
        con.execute(
            f"ALTER TABLE snapshot ADD COLUMN IF NOT EXISTS {f.name} {schema.DUCKDB_TYPES[f.type]}"
        )
    for table in schema.REFERENCE_TABLES:
        con.execute(schema.reference_ddl(table))
    con.execute(IMPORT_RUNS_DDL)
    for name, sql_type in IMPORT_RUNS_NEW_COLUMNS:
        con.execute(f"ALTER TABLE import_runs ADD COLUMN IF NOT EXISTS {name} {sql_type}")
    con.execute(QUARANTINE_DDL)


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
