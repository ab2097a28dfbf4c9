"""The analytics store's schema: one registry of tables, versioned steps, a ``schema_version``.

The counterpart of Alembic for the DuckDB file. :func:`upgrade` brings a store to
:data:`SCHEMA_VERSION` in one transaction: the steps newer than the store's version run in order
(:mod:`.steps`), then every declared table (:mod:`.tables`) is created when missing and given
its missing columns, the result is checked against the declaration and the version recorded.
Opening a writable store (:func:`weixi.store.analytics.connect`) upgrades it when it is behind;
``weixi db upgrade`` does it for both stores. An upgraded store is left untouched (no-op).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import duckdb

from weixi.errors import ConfigError
from weixi.store.schema.steps import STEPS, Step
from weixi.store.schema.tables import TABLES, Column, Table

log = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "STEPS",
    "TABLES",
    "Column",
    "Step",
    "Table",
    "UpgradeResult",
    "ensure",
    "missing",
    "upgrade",
    "version",
]

#: The version this weixi writes: its newest step.
SCHEMA_VERSION: int = STEPS[-1].version

VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version (
  version INTEGER NOT NULL,
  name VARCHAR NOT NULL,
  applied_at TIMESTAMP NOT NULL
)"""


@dataclass
class UpgradeResult:
    """What :func:`upgrade` did: the version before (None: never versioned) and after, the steps
    applied, and the tables and columns it created."""

    before: int | None
    after: int
    applied: list[str] = field(default_factory=list)
    created_tables: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the store was not already at the version."""
        return bool(self.applied or self.created_tables or self.added_columns)


def version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The store's schema version (None: a store written before versions, or an empty one)."""
    try:
        rows = con.execute("SELECT max(version) FROM schema_version").fetchall()
    except duckdb.CatalogException:
        return None
    return None if rows[0][0] is None else int(rows[0][0])


def _present(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
    ).fetchall():
        out.setdefault(table, set()).add(column)
    return out


def missing(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Declared tables and columns the store lacks (``table`` or ``table.column``)."""
    have = _present(con)
    out = []
    for t in TABLES.values():
        if t.name not in have:
            out.append(t.name)
        else:
            out += [f"{t.name}.{c}" for c in t.names if c not in have[t.name]]
    return out


def _check_not_newer(before: int | None) -> None:
    if before is not None and before > SCHEMA_VERSION:
        raise ConfigError(
            "the analytics store is at schema version {before}, newer than this weixi "
            "({supported}): upgrade weixi before opening it",
            before=before,
            supported=SCHEMA_VERSION,
        )


def upgrade(con: duckdb.DuckDBPyConnection) -> UpgradeResult:
    """Bring the store on ``con`` to :data:`SCHEMA_VERSION` in one transaction (idempotent)."""
    before = version(con)
    _check_not_newer(before)
    result = UpgradeResult(before=before, after=before or 0)
    afterwards = []
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(VERSION_DDL)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for step in STEPS:
            if step.version > (before or 0):
                if step.apply is not None:
                    step.apply(con)
                if step.after is not None:
                    afterwards.append(step)
                con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)", [step.version, step.name, now]
                )
                result.applied.append(f"{step.version}: {step.name}")
        have = _present(con)
        for t in TABLES.values():
            if t.name not in have:
                con.execute(t.ddl())
                result.created_tables.append(t.name)
                continue
            for c in t.columns:
                if c.name not in have[t.name]:
                    con.execute(f'ALTER TABLE "{t.name}" ADD COLUMN "{c.name}" {c.addable}')
                    result.added_columns.append(f"{t.name}.{c.name}")
        gaps = missing(con)
        if gaps:  # pragma: no cover - a declaration the sync could not apply
            raise ConfigError("analytics schema upgrade left out: {gaps}", gaps=", ".join(gaps))
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    result.after = SCHEMA_VERSION
    for step in afterwards:
        con.execute("BEGIN TRANSACTION")
        try:
            step.after(con)
            con.execute("COMMIT")
        except Exception as exc:  # the upgrade stands; the follow-up's writer redoes it later
            con.execute("ROLLBACK")
            log.warning("schema step %s: follow-up not done (%s)", step.version, exc)
    return result


def ensure(con: duckdb.DuckDBPyConnection) -> UpgradeResult | None:
    """Upgrade the store when it is behind :data:`SCHEMA_VERSION`; None when it was current."""
    before = version(con)
    _check_not_newer(before)
    if before == SCHEMA_VERSION:
        return None
    return upgrade(con)
