"""PIPL erasure (个人信息删除): remove one subscriber's personal data, keep the aggregates usable.

What :func:`erase` does, in one DuckDB transaction and one operational-database transaction:

* **Personal fields are deleted** (set to NULL) in every analytics table that has them on the
  subscriber's rows: ``phone``, ``name``, ``id_number`` (``snapshot`` and any derived table that
  copied them).
* **Free text is scrubbed**: quarantined raw rows (``quarantine.raw_row``/``raw_value``) that hold
  the subscriber's id, phone or ID number are set to NULL (the violation row itself, its reason
  and counts stay); any other text column on the subscriber's analytics rows has the phone, name
  and ID number replaced by ``[erased]``; outcome notes (``outcomes.note``) of the subscriber's
  tasks are deleted and a free-text ``refusal_reason`` (not a reason code) too.
* **Identifiers are pseudonymized**: ``subscriber_id``, and the subscriber's ``customer_id`` and
  ``account_id``, are replaced by :func:`pseudonym` (a keyed HMAC-SHA-256 of the value) in every
  row of every table, analytics and operational, that holds them. Because the same value always
  maps to the same pseudonym, every grouping and join is unchanged: month counts, ARPU sums,
  segments, churn labels (month t joined to month t+1), plans, tasks, evaluation rows keyed by
  subscriber all still add up, but no row can be joined back to the operator's BSS records
  without weixi's secret key. A household's other lines share the customer's pseudonymous
  ``customer_id`` in the months already loaded.

Not touched, on purpose:

* ``audit_events``: the record of processing PIPL asks operators to keep (Art. 54-55). It is
  append-only and hash-chained, and never holds a phone number, name or ID number (only the
  subscriber id of an unmask). The erasure event itself holds the pseudonym, not the id.
* Files outside the stores: exported lists and reports (already masked), backups taken before the
  erasure (they expire with their retention), raw import files. The operator must also stop
  sending the subscriber in future exports: a re-import of a month brings the person back, and
  ``erase`` must then be run again.
* Free space: SQLite runs with ``secure_delete`` during the erasure and the CLI truncates its
  WAL, so old page contents are overwritten; DuckDB is checkpointed, but may keep freed blocks on
  disk until they are reused (compacting the file is not done yet, see docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import sqlalchemy as sa
from sqlalchemy.orm import Session

from weixi.errors import NotFoundError
from weixi.security import audit

#: Identifier columns replaced by their pseudonym everywhere.
ID_COLUMNS = ("subscriber_id", "customer_id", "account_id")
#: Personal-data columns deleted on the subscriber's rows.
PII_COLUMNS = ("phone", "name", "id_number")
#: Operational tables never rewritten (see the module docstring).
KEEP_TABLES = frozenset({"audit_events", "audit_chain_head", "alembic_version"})
#: Prefix of every pseudonym (never a real subscriber id).
PREFIX = "erased-"
ERASED = "[erased]"
_REASON_CODE = re.compile(r"^[a-z_]{1,40}$")


def pseudonym(value: str, key: str) -> str:
    """The pseudonym of an identifier: ``erased-`` and 20 hex digits of HMAC-SHA-256(key, value).

    Deterministic (an interrupted or repeated erasure converges on the same value in both
    stores) and keyed (without the key nobody can tell which id it was).

    >>> pseudonym("S0001", "k")
    'erased-4c2c8d193392952b1878'
    >>> pseudonym(pseudonym("S0001", "k"), "k") == pseudonym("S0001", "k")
    True
    """
    if value.startswith(PREFIX):
        return value
    digest = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:20]


@dataclass
class ErasureResult:
    """What :func:`erase` changed: rows per table, and whether it was already done."""

    pseudonym: str
    already_erased: bool
    # "store.table" -> row updates (a row changed by two statements counts twice)
    rows: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` payload (and the audit detail): no personal data, no original id."""
        return {
            "pseudonym": self.pseudonym,
            "already_erased": self.already_erased,
            "row_updates": sum(self.rows.values()),
            "tables": dict(sorted(self.rows.items())),
        }


def _duck_tables(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_name = c.table_name "
        "AND t.table_schema = c.table_schema "
        "WHERE t.table_type = 'BASE TABLE' AND c.table_schema = 'main' "
        "ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column, typ in rows:
        out.setdefault(table, {})[column] = typ
    return out


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _identity(con: duckdb.DuckDBPyConnection, tables, subscriber_id: str) -> dict[str, set[str]]:
    """The subscriber's identifier and personal values found in the analytics store."""
    found: dict[str, set[str]] = {c: set() for c in (*ID_COLUMNS, *PII_COLUMNS)}
    found["subscriber_id"].add(subscriber_id)
    if "snapshot" in tables:
        cols = [c for c in (*ID_COLUMNS, *PII_COLUMNS) if c in tables["snapshot"]]
        sel = ", ".join(_q(c) for c in cols)
        for row in con.execute(
            f"SELECT DISTINCT {sel} FROM snapshot WHERE subscriber_id = ?", [subscriber_id]
        ).fetchall():
            for c, v in zip(cols, row, strict=True):
                if v is not None and str(v).strip():
                    found[c].add(str(v))
    return found


def _erase_analytics(
    con: duckdb.DuckDBPyConnection, subscriber_id: str, key: str, result: ErasureResult
) -> dict[str, set[str]]:
    tables = _duck_tables(con)
    ident = _identity(con, tables, subscriber_id)
    # longest first, so a value inside a longer one is not half-replaced
    personal = sorted({v for c in PII_COLUMNS for v in ident[c] if len(v) >= 2}, key=len)[::-1]

    def count(table: str, sql: str, params: list) -> None:
        n = con.execute(sql, params).fetchall()[0][0]  # DuckDB returns the changed-row count
        if n:
            result.rows[f"analytics.{table}"] = result.rows.get(f"analytics.{table}", 0) + n

    # 1. quarantined raw rows that mention the subscriber (id, phone or ID number)
    if "quarantine" in tables:
        needles = sorted(ident["subscriber_id"] | ident["phone"] | ident["id_number"])
        cond = " OR ".join(
            ["raw_row LIKE ? ESCAPE '\\'"] * len(needles) + ["raw_value = ?"] * len(needles)
        )
        like = ['%"' + re.sub(r"([%_\\])", r"\\\1", v) + '"%' for v in needles]
        count(
            "quarantine",
            "UPDATE quarantine SET raw_row = NULL, raw_value = NULL "
            f"WHERE (raw_row IS NOT NULL OR raw_value IS NOT NULL) AND ({cond})",
            [*like, *needles],
        )
    for table, cols in tables.items():
        if "subscriber_id" not in cols or table == "quarantine":
            continue
        # 2. personal columns and personal values inside other text on the subscriber's rows
        sets = [f"{_q(c)} = NULL" for c in PII_COLUMNS if c in cols]
        texts = [
            c
            for c, typ in cols.items()
            if typ == "VARCHAR" and c not in (*ID_COLUMNS, *PII_COLUMNS)
        ]
        params: list[Any] = []
        for c in texts if personal else ():
            expr = _q(c)
            for v in personal:
                expr = f"replace({expr}, ?, '{ERASED}')"
                params.append(v)
            sets.append(f"{_q(c)} = {expr}")
        if sets:
            count(
                table,
                f"UPDATE {_q(table)} SET {', '.join(sets)} WHERE subscriber_id = ?",
                [*params, subscriber_id],
            )
    # 3. identifiers -> pseudonyms, in every table (a household's other lines included)
    for column in ID_COLUMNS:
        for value in sorted(ident[column]):
            new = pseudonym(value, key)
            for table, cols in tables.items():
                if column in cols:
                    count(
                        table,
                        f"UPDATE {_q(table)} SET {_q(column)} = ? WHERE {_q(column)} = ?",
                        [new, value],
                    )
    return ident


def _erase_operational(
    session: Session, ident: dict[str, set[str]], key: str, result: ErasureResult
) -> None:
    from weixi.web.orm import import_all

    metadata = import_all()
    subscriber_id = next(iter(sorted(ident["subscriber_id"])))
    if "tasks" in metadata.tables and "outcomes" in metadata.tables:
        tasks, outcomes = metadata.tables["tasks"], metadata.tables["outcomes"]
        their = sa.select(tasks.c.id).where(tasks.c.subscriber_id == subscriber_id)
        n = session.execute(
            outcomes.update()
            .where(outcomes.c.task_id.in_(their), outcomes.c.note.is_not(None))
            .values(note=None)
        ).rowcount
        rows = session.execute(
            sa.select(outcomes.c.id, outcomes.c.refusal_reason).where(
                outcomes.c.task_id.in_(their), outcomes.c.refusal_reason.is_not(None)
            )
        ).all()  # one subscriber's outcomes: a handful of rows
        free = [r.id for r in rows if not _REASON_CODE.match(r.refusal_reason)]
        if free:
            n += session.execute(
                outcomes.update().where(outcomes.c.id.in_(free)).values(refusal_reason=None)
            ).rowcount
        if n:
            result.rows["operational.outcomes"] = n
    if "complaints" in metadata.tables:  # the complainant's own words are free text
        complaints, steps = metadata.tables["complaints"], metadata.tables["complaint_steps"]
        theirs = sa.select(complaints.c.id).where(complaints.c.subscriber_id == subscriber_id)
        n = session.execute(
            complaints.update()
            .where(complaints.c.subscriber_id == subscriber_id, complaints.c.summary != "[erased]")
            .values(summary="[erased]")
        ).rowcount
        n += session.execute(
            steps.update()
            .where(steps.c.complaint_id.in_(theirs), steps.c.note != "")
            .values(note="")
        ).rowcount
        if n:
            result.rows["operational.complaints"] = n
    # customer/account ids known only to the operational side (no snapshot row left)
    if "tasks" in metadata.tables:
        tasks = metadata.tables["tasks"]
        for (cid,) in session.execute(
            sa.select(tasks.c.customer_id)
            .where(tasks.c.subscriber_id == subscriber_id, tasks.c.customer_id.is_not(None))
            .distinct()
        ).all():
            if not cid.startswith(PREFIX):
                ident["customer_id"].add(cid)
    for column in ID_COLUMNS:
        for value in sorted(ident[column]):
            new = pseudonym(value, key)
            for table in metadata.sorted_tables:
                if table.name in KEEP_TABLES or column not in table.c:
                    continue
                n = session.execute(
                    table.update().where(table.c[column] == value).values({column: new})
                ).rowcount
                if n:
                    name = f"operational.{table.name}"
                    result.rows[name] = result.rows.get(name, 0) + n


def _still_present(con: duckdb.DuckDBPyConnection, session: Session, subscriber_id: str) -> bool:
    from weixi.web.orm import import_all

    for table, cols in _duck_tables(con).items():
        if "subscriber_id" in cols:
            sql = f"SELECT count(*) FROM {_q(table)} WHERE subscriber_id = ?"
            if con.execute(sql, [subscriber_id]).fetchall()[0][0]:
                return True
    for table in import_all().sorted_tables:
        if table.name not in KEEP_TABLES and "subscriber_id" in table.c:
            stmt = sa.select(sa.func.count()).where(table.c.subscriber_id == subscriber_id)
            if session.scalar(stmt):
                return True
    return False


def erase(
    *,
    session: Session,
    con: duckdb.DuckDBPyConnection,
    subscriber_id: str,
    key: str,
    actor: str = "cli",
) -> ErasureResult:
    """Erase one subscriber's personal data from both stores and audit it (idempotent).

    Runs the analytics changes in one DuckDB transaction, which it commits; the operational
    changes and the audit event are flushed into ``session`` (the caller commits). Should the
    process die between the two commits, running it again finishes the job: pseudonyms are
    deterministic, so both stores converge.

    Raises:
        NotFoundError: the id is neither in the stores nor erased before.
    """
    subscriber_id = subscriber_id.strip()
    alias = pseudonym(subscriber_id, key)
    result = ErasureResult(pseudonym=alias, already_erased=False)
    if _still_present(con, session, subscriber_id):
        if session.get_bind().dialect.name == "sqlite":  # overwrite the old page contents
            session.execute(sa.text("PRAGMA secure_delete = ON"))
        con.execute("BEGIN TRANSACTION")
        try:
            ident = _erase_analytics(con, subscriber_id, key, result)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("CHECKPOINT")
        _erase_operational(session, ident, key, result)
    elif _still_present(con, session, alias):
        result.already_erased = True
    else:
        raise NotFoundError(
            "subscriber {subscriber_id} is not in weixi's stores and was not erased before "
            "(check the id; it must be the subscriber_id, not a phone number)",
            subscriber_id=subscriber_id,
        )
    audit.record(
        session=session,
        action="pipl_erase",
        username=actor,
        object_type="subscriber",
        object_id=alias,  # the pseudonym: the audit log must not re-identify the person
        detail=result.as_dict(),
    )
    return result
