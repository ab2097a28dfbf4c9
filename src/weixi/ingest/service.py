"""Import service: validated, reconciled, atomic monthly import (and its run history).

The work happens in DuckDB. Each file is recognised and scanned (:mod:`weixi.ingest.read`),
then read once, converted and checked as it streams in by generated SQL
(:mod:`weixi.ingest.validate`) into one typed temporary table per target (a quarantined row
keeps its masked text beside it), and then ONE transaction replaces the month::

    BEGIN; DELETE month; INSERT good rows; INSERT quarantine; replace reference tables;
    mark the run succeeded; COMMIT

A crash or kill before COMMIT leaves the previous month in place (DuckDB only makes a
transaction durable at commit, through its write-ahead log). A run that fails is rolled back
and then recorded as ``failed`` in its own transaction. A run that was killed keeps its
``running`` row (its process could not write anything more): the run records its process id,
host and process start time, and the next import or listing of runs marks every ``running``
run whose process is gone (same host), or that is older than
``Settings.import_timeout_hours``, as ``interrupted`` (:func:`mark_interrupted`).

Unlike other services, this one owns its transaction: the import *is* the unit of work, and
its atomicity is the contract.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from weixi.config import get_settings
from weixi.errors import ConfigError, WeixiError
from weixi.ingest import messages as msg
from weixi.ingest import schema
from weixi.ingest.mapping import ColumnMap, Mapping, load_mapping
from weixi.ingest.messages import ImportProblem, scrub
from weixi.ingest.models import FileResult, ImportResult, QuarantineRow
from weixi.ingest.read import (
    RawFile,
    drop_staged,
    q_ident,
    q_str,
    read_staged,
    stage_file,
    with_record_numbers,
)
from weixi.ingest.schema import Field
from weixi.ingest.spark_read import display_path, stage_file_spark
from weixi.ingest.validate import (
    duplicate_violation,
    duplicates_sql,
    mapped_sql,
    select_sql,
    snapshot_checks,
    typed_expr,
)
from weixi.security.masking import mask_id_sql, mask_name_sql, mask_phone_sql, pii_kind_of_key
from weixi.store.months import parse_month

Progress = Callable[[str, int, int], None]

# Test hook: when set to a file path, the import writes that file after inserting the new
# month and before COMMIT, then waits, so a test can kill the process mid-transaction.
HOLD_ENV = "WEIXI_INGEST_HOLD_BEFORE_COMMIT"


@dataclass
class _Target:
    """One destination table and the files that feed it."""

    table: str
    fields: tuple[Field, ...]
    columns: dict[str, ColumnMap]
    key: str
    replace_where: str  # SQL condition of the rows the import replaces
    raws: list[RawFile] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    results: list[FileResult] = field(default_factory=list)
    all_table: str = ""  # the typed rows of all files, in file order (rowid = position)
    offsets: list[int] = field(default_factory=list)  # first rowid of each file's rows
    duplicated: int = 0  # key values that occur more than once
    key_texts: list[str | None] = field(default_factory=list)  # per file: SQL of the key

    @property
    def checked(self) -> str:
        """The view of the typed rows with ``__pos`` and every violation (duplicates too)."""
        return f"{self.all_table}_checked"

    @property
    def dups(self) -> str:
        """The table of the duplicated key values (column ``k``)."""
        return f"{self.all_table}_dups"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# Imports running in this process (a "running" row of this pid that is not here is dead).
_ACTIVE_RUNS: set[str] = set()


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a Linux process, None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _process_alive(pid: int, proc_start: int | None) -> bool:
    """True when process ``pid`` of this host still exists and is the one that was recorded."""
    if pid == os.getpid():
        return True  # the caller checks this process's own runs through _ACTIVE_RUNS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:  # pragma: no cover - e.g. not supported on this platform
        return True
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: trust the signal check
    state, started = stat
    if state in ("Z", "X"):
        return False  # killed, not yet reaped by its parent
    return proc_start is None or started == proc_start  # else the pid was reused


def _interruption(
    *,
    run_id: str,
    started_at: dt.datetime,
    pid: int | None,
    host: str | None,
    proc_start: int | None,
    now: dt.datetime,
    timeout_hours: float,
) -> str | None:
    """Why a ``running`` run is dead (``process_gone`` | ``timeout``), or None if it may live."""
    if pid is not None and host == socket.gethostname():
        if pid == os.getpid():
            if run_id not in _ACTIVE_RUNS:
                return "process_gone"
        elif not _process_alive(pid, proc_start):
            return "process_gone"
    if now - started_at > dt.timedelta(hours=timeout_hours):
        return "timeout"
    return None


def _interruption_text(kind: str, pid: int | None, host: str | None, hours: float) -> str:
    if kind == "process_gone":
        return (
            f"interrupted: the import process {pid} on {host} ended before it finished "
            "(killed or crashed); the month was left as it was"
        )
    return (
        f"interrupted: still marked running {hours:.1f} h after it started "
        "(WEIXI_IMPORT_TIMEOUT_HOURS); presumed dead, the month was left as it was"
    )


def _find_interrupted(
    con: duckdb.DuckDBPyConnection, timeout_hours: float | None
) -> list[tuple[str, str, str, dt.datetime]]:
    """(run_id, kind, error text, finished_at) of every dead ``running`` run."""
    limit = get_settings().import_timeout_hours if timeout_hours is None else timeout_hours
    cols = _run_cols(con)
    rows = con.execute(
        f"SELECT run_id, started_at, pid, host, proc_start FROM ({cols}) r WHERE status = 'running'"
    ).fetchall()
    now = _now()
    out = []
    for run_id, started, pid, host, proc_start in rows:
        kind = _interruption(
            run_id=run_id,
            started_at=started,
            pid=pid,
            host=host,
            proc_start=proc_start,
            now=now,
            timeout_hours=limit,
        )
        if kind:
            hours = (now - started).total_seconds() / 3600
            out.append((run_id, kind, _interruption_text(kind, pid, host, hours), now))
    return out


def mark_interrupted(
    *, con: duckdb.DuckDBPyConnection, timeout_hours: float | None = None
) -> list[str]:
    """Mark ``running`` runs whose process is gone, or older than the timeout, ``interrupted``.

    A run is dead when it was started on this host by a process that no longer exists (or
    whose pid now belongs to another process), or when it started more than
    ``timeout_hours`` ago (default ``Settings.import_timeout_hours``; the only test for runs of
    another host). Its month is unchanged: a ``running`` row means the import never committed.

    Args:
        con: a writable connection to the analytics store.
        timeout_hours: override of the configured timeout.

    Returns:
        The run ids marked.
    """
    found = _find_interrupted(con, timeout_hours)
    for run_id, kind, text, finished in found:
        con.execute(
            "UPDATE import_runs SET status = 'interrupted', finished_at = ?, error = ?, "
            "interruption = ? WHERE run_id = ? AND status = 'running'",
            [finished, text, kind, run_id],
        )
    return [f[0] for f in found]


def _display_names(paths: Sequence[Path | str]) -> list[str]:
    names = [str(p).rsplit("/", 1)[-1] if isinstance(p, str) else p.name for p in paths]
    if len(set(names)) != len(names):
        return [str(p) for p in paths]
    return names


def _resolve_sources(raw: RawFile, columns: dict[str, ColumnMap]) -> dict[str, ColumnMap]:
    """Match mapping sources to the file's headers, tolerating surrounding whitespace."""
    stripped = {c.strip(): c for c in raw.columns}
    out = {}
    for name, col in columns.items():
        if col.source not in raw.columns and col.source in stripped:
            col = col.model_copy(update={"source": stripped[col.source]})
        out[name] = col
    return out


def _check_required(raw: RawFile, target: _Target) -> None:
    have = set(raw.columns)
    columns = _resolve_sources(raw, target.columns)
    missing = [
        (f, col)
        for f in target.fields
        if f.required and (col := columns.get(f.name)) is not None and col.source not in have
    ]
    if not missing:
        return
    delim = repr(raw.delimiter) if raw.delimiter else "-"
    if not any(c.source in have for c in columns.values()):
        # row 1 is probably not a header (or is misread): do not echo it, it may be data
        sources = [c.source for c in columns.values()]
        raise ImportProblem(
            msg.NO_MAPPED_HEADER,
            file=raw.path,
            expected=", ".join(sources[:6]) + (" …" if len(sources) > 6 else ""),
            n=len(raw.columns),
            delim=delim,
        )
    f, col = missing[0]
    shown = ", ".join(h[:40] for h in raw.columns[:12]) + (" …" if len(raw.columns) > 12 else "")
    raise ImportProblem(
        msg.REQUIRED_MISSING,
        file=raw.path,
        column=repr(f.name),
        source=repr(col.source),
        delim=delim,
        headers=shown,
    )


def _file_result(raw: RawFile, name: str, target: _Target) -> FileResult:
    sources = {c.source for c in _resolve_sources(raw, target.columns).values()}
    return FileResult(
        file=name,
        path=str(raw.path),
        table=target.table,
        format=raw.format,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        read=raw.read,
        ignored_columns=[c for c in raw.columns if c not in sources],
        defaulted_columns=[
            n
            for n, c in _resolve_sources(raw, target.columns).items()
            if c.source not in set(raw.columns)
        ],
    )


def _build(con: duckdb.DuckDBPyConnection, target: _Target, mapping: Mapping, checks) -> None:
    """Read each file once into the target's typed table; find the duplicated keys."""
    all_t = q_ident(target.all_table)
    offset = 0
    for i, raw in enumerate(target.raws):
        columns = _resolve_sources(raw, target.columns)
        select = select_sql(
            source=raw.source,
            file_idx=i,
            fields=target.fields,
            columns=columns,
            mapping=mapping,
            available=raw.columns,
            numbered=raw.numbered,
            temporal=raw.temporal,
            checks=checks,
            raw_json=lambda refs, raw=raw: _raw_json_sql(raw, target.columns, refs),
        )
        key_col = columns.get(target.key)
        key_field = next(f for f in target.fields if f.name == target.key)
        target.key_texts.append(
            typed_expr(
                key_field,
                key_col,
                mapping,
                mapped_sql(key_col, q_ident(key_col.source)),
                iso_date=key_col.source in raw.temporal,
            )
            if key_col is not None and key_col.source in raw.columns
            else None
        )
        into = f"CREATE TEMP TABLE {all_t} AS " if i == 0 else f"INSERT INTO {all_t} "
        read_staged(con, raw, into + select)
        target.offsets.append(offset)
        offset += raw.good_rows
        target.results[i].read = raw.read
    dups = q_ident(target.dups)
    con.execute(f"CREATE TEMP TABLE {dups} AS {duplicates_sql(target.all_table, target.key)}")
    target.duplicated = con.execute(f"SELECT count(*) FROM {dups}").fetchall()[0][0]
    if target.duplicated:
        key = q_ident(target.key)
        con.execute(
            f"CREATE TEMP VIEW {q_ident(target.checked)} AS SELECT t.rowid AS __pos, "
            f"t.* REPLACE (CASE WHEN d.k IS NULL THEN t.__viol "
            f"ELSE list_append(t.__viol, {duplicate_violation(target.key)}) END AS __viol) "
            f"FROM {all_t} t LEFT JOIN {dups} d ON t.{key} = d.k"
        )
    else:
        con.execute(
            f"CREATE TEMP VIEW {q_ident(target.checked)} AS SELECT rowid AS __pos, * FROM {all_t}"
        )
    counts = dict.fromkeys(range(len(target.raws)), (0, 0))
    for idx, n, good in con.execute(
        f"SELECT __file, count(*), count(*) FILTER (WHERE len(__viol) = 0) "
        f"FROM {q_ident(target.checked)} GROUP BY __file"
    ).fetchall():
        counts[idx] = (n, good)
    for i, raw in enumerate(target.raws):
        n, good = counts[i]
        res = target.results[i]
        if n != raw.good_rows:  # pragma: no cover - would be a bug in the SQL
            raise ImportProblem(
                msg.RECONCILE, month=str(raw.path), read=raw.good_rows, loaded=n, quarantined=0
            )
        res.loaded = good
        res.quarantined = (n - good) + raw.rejected_rows


def _drop_target(con: duckdb.DuckDBPyConnection, target: _Target) -> None:
    """Drop the target's temporary tables and view (not its files' objects)."""
    con.execute(f"DROP VIEW IF EXISTS {q_ident(target.checked)}")
    con.execute(f"DROP TABLE IF EXISTS {q_ident(target.dups)}")
    con.execute(f"DROP TABLE IF EXISTS {q_ident(target.all_table)}")


def _raw_json_sql(raw: RawFile, columns: dict[str, ColumnMap], refs: list[str]) -> str:
    """SQL of a row's text as JSON for the quarantine, personal data masked (see docs/import.md).

    ``refs`` are SQL references to the file's columns, in order.
    """
    masked = _masked_columns(raw, columns)
    values = [
        _mask_sql(masked[c], ref) if c in masked else ref
        for c, ref in zip(raw.columns, refs, strict=True)
    ]
    return (
        "json_object("
        + ", ".join(
            f"{q_str(c)}, {_text_mask_sql(v)}" for c, v in zip(raw.columns, values, strict=True)
        )
        + ")"
    )


def _defects(con: duckdb.DuckDBPyConnection, target: _Target) -> dict[str, int]:
    """Count violations by reason per file (stored on each FileResult); return the total."""
    rows = con.execute(
        f"SELECT __file, v.reason, count(*) FROM (SELECT __file, unnest(__viol) AS v "
        f"FROM {q_ident(target.checked)} WHERE len(__viol) > 0) GROUP BY ALL"
    ).fetchall()
    for i, raw in enumerate(target.raws):
        if raw.rejects:
            rows += [
                (i, reason, n)
                for reason, n in con.execute(
                    f"SELECT reason, count(*) FROM {q_ident(raw.rejects)} GROUP BY 1"
                ).fetchall()
            ]
    total: dict[str, int] = {}
    for idx, reason, n in rows:
        per_file = target.results[idx].defects
        per_file[reason] = per_file.get(reason, 0) + n
        total[reason] = total.get(reason, 0) + n
    for res in target.results:
        res.defects = _sorted_counts(res.defects)
    return _sorted_counts(total)


def _sorted_counts(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


_SQL_MASKERS = {"phone": mask_phone_sql, "name": mask_name_sql, "id_number": mask_id_sql}
_MOBILE_SQL = r"(^|[^0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})([^0-9]|$)"
_ID_SQL = r"(^|[^0-9A-Za-z])([0-9]{4})[0-9]{10}([0-9]{3}[0-9Xx])([^0-9A-Za-z]|$)"


def _text_mask_sql(expr: str) -> str:
    """SQL masking mobile and ID numbers inside free text (like ``masking.mask_text``)."""
    for _ in range(2):  # a second pass catches numbers right after one already masked
        expr = f"regexp_replace({expr}, {q_str(_MOBILE_SQL)}, '\\1\\2****\\3\\4', 'g')"
    return f"regexp_replace({expr}, {q_str(_ID_SQL)}, '\\1\\2**********\\3\\4', 'g')"


def _hide_sql(expr: str) -> str:
    """SQL keeping only the first character of a value of unknown content."""
    return (
        f"(CASE WHEN length({expr}) <= 1 THEN {expr} "
        f"ELSE left({expr}, 1) || repeat('*', length({expr}) - 1) END)"
    )


def _masked_columns(raw: RawFile, columns: dict[str, ColumnMap]) -> dict[str, str]:
    """Raw column -> how the quarantine masks it: ``phone``/``name``/``id_number`` for the
    personal fields, ``other`` for columns no mapping entry uses (their content is unknown;
    a name column under a misspelt header must not leak). Mapped non-personal columns are
    kept as they are (absent here)."""
    field_of = {c.source: n for n, c in _resolve_sources(raw, columns).items()}
    out = {}
    for c in raw.columns:
        if c in field_of:
            if field_of[c] in _SQL_MASKERS:
                out[c] = field_of[c]
        else:
            out[c] = pii_kind_of_key(c) or "other"
    return out


def _mask_sql(kind: str, expr: str) -> str:
    return _hide_sql(expr) if kind == "other" else _SQL_MASKERS[kind](expr)


def _masked_line_sql(line: str, delim: str | None, positions: list[int], width: int) -> str:
    """SQL masking a malformed row's raw text: the fields at or near masked columns.

    The row's fields may not line up with the header (that is why it was rejected), so every
    field within ``|fields - header fields|`` of a masked column (``positions``) is masked,
    then phone and ID numbers anywhere.
    """
    if not positions or not delim:
        return _text_mask_sql(line)
    parts = f"string_split({line}, {q_str(delim)})"
    shift = f"abs(len({parts}) - {width})"
    near = " OR ".join(f"abs(i - {p + 1}) <= {shift}" for p in positions)
    hide = _hide_sql("x")
    masked = f"list_transform({parts}, lambda x, i: CASE WHEN {near} THEN {hide} ELSE x END)"
    return _text_mask_sql(f"array_to_string({masked}, {q_str(delim)})")


def _in_subscriber_order(con: duckdb.DuckDBPyConnection, target: _Target) -> bool:
    """Whether the target's good rows, as the files hold them, are already in strictly
    increasing subscriber order (byte order, as DuckDB sorts text). Without duplicated ids the
    checked rows are a plain scan of the file-order table, so an insert without ORDER BY keeps
    that order; with duplicates the view joins, and the insert sorts."""
    if target.duplicated:
        return False
    ids = (
        con.sql(
            f"SELECT {q_ident(target.key)} FROM {q_ident(target.all_table)} WHERE len(__viol) = 0"
        )
        .to_arrow_table()
        .column(0)
    )
    if len(ids) < 2:
        return True
    return not pc.any(pc.less(ids[1:], ids[:-1])).as_py()


def _write_target(
    con: duckdb.DuckDBPyConnection,
    target: _Target,
    *,
    run_id: str,
    month: dt.date,
    data: bool = True,
) -> None:
    """Replace the target's rows (unless ``data`` is false) and store its quarantine."""
    names = [f.name for f in target.fields]
    cols = ", ".join(q_ident(n) for n in names)
    rows = q_ident(target.checked)
    month_lit = f"DATE {q_str(month.isoformat())}"
    if data and target.table == "snapshot":
        con.execute(f"DELETE FROM {q_ident(target.table)} WHERE {target.replace_where}")
        # in subscriber order: each row group then covers a narrow id range and its zone map
        # lets a look-up of one line (customer 360, on-demand reasons) skip the others. An
        # export already in that order (one by key usually is) keeps its own: sorting a
        # province's month again costs a fifth of the import and spills gigabytes.
        order = "" if _in_subscriber_order(con, target) else " ORDER BY subscriber_id"
        con.execute(
            f"INSERT INTO snapshot (month, {cols}) SELECT {month_lit}, {cols} FROM {rows} "
            f"WHERE len(__viol) = 0{order}"
        )
    elif data:
        con.execute(f"DELETE FROM {q_ident(target.table)} WHERE {target.replace_where}")
        con.execute(
            f"INSERT INTO {q_ident(target.table)} ({cols}) SELECT {cols} FROM {rows} "
            f"WHERE len(__viol) = 0"
        )
    for i, raw in enumerate(target.raws):
        source_to_name = {c.source: n for n, c in _resolve_sources(raw, target.columns).items()}
        fname = q_str(target.names[i])
        if target.results[i].quarantined > raw.rejected_rows:  # some rows failed the checks
            # the failing rows' text (masked) was kept as they were read; only duplicated ids
            # whose rows passed every other check need their text read again
            by_field = " ".join(
                f"WHEN {q_str(n)} THEN {fn('q.v.raw_value')}"
                for n, fn in _SQL_MASKERS.items()
                if n in {f.name for f in target.fields}
            )
            value = _text_mask_sql(
                f"CASE q.v.column_name {by_field} ELSE q.v.raw_value END"
                if by_field
                else "q.v.raw_value"
            )
            bad = (
                f"(SELECT __pos - {target.offsets[i]} AS __p, __row, __viol, __raw FROM {rows} "
                f"WHERE __file = {i} AND len(__viol) > 0)"
            )
            texts = _duplicate_texts(con, target, i)
            text, join = "q.__raw", ""
            if texts is not None:
                on = "__row" if raw.numbered else "__p"
                text = "coalesce(q.__raw, d.raw)"
                join = f" LEFT JOIN {q_ident(texts)} d ON d.{on} = q.{on}"
            con.execute(
                f"INSERT INTO quarantine SELECT {q_str(run_id)}, {month_lit}, {fname}, q.__row, "
                f"q.v.column_name, q.v.reason, {value}, {text} "
                f"FROM (SELECT __p, __row, __raw, unnest(__viol) AS v "
                f"FROM ({with_record_numbers(raw, bad, '__p')})) q{join}"
            )
        if raw.rejects and raw.rejected_rows:
            when = " ".join(f"WHEN {q_str(s)} THEN {q_str(n)}" for s, n in source_to_name.items())
            col = f"CASE column_name {when} ELSE column_name END" if when else "column_name"
            masked = _masked_columns(raw, target.columns)
            positions = [i for i, c in enumerate(raw.columns) if c in masked]
            line = _masked_line_sql("raw_line", raw.delimiter, positions, len(raw.columns))
            con.execute(
                f"INSERT INTO quarantine SELECT {q_str(run_id)}, {month_lit}, {fname}, "
                f"row_number, {col}, reason, NULL, CAST(json_object('line', {line}) AS VARCHAR) "
                f"FROM {q_ident(raw.rejects)}"
            )


def _duplicate_texts(con: duckdb.DuckDBPyConnection, target: _Target, i: int) -> str | None:
    """A table of the masked text of file ``i``'s rows with a duplicated id, read again.

    Rows that failed another check kept their text as they were read; a duplicate that did
    not is only known once every row is in. Columns ``__p`` (position) or ``__row`` (when the
    engine numbered the records), and ``raw``. None when the file has no such row.
    """
    raw = target.raws[i]
    if not target.duplicated or target.key_texts[i] is None:
        return None
    pending = con.execute(
        f"SELECT count(*) FROM {q_ident(target.checked)} WHERE __file = {i} AND __raw IS NULL "
        f"AND {q_ident(target.key)} IN (SELECT k FROM {q_ident(target.dups)})"
    ).fetchall()[0][0]
    if not pending:
        return None
    table = f"{target.all_table}_dtext{i}"
    raw.temp_objects.append(("TABLE", table))
    text = (
        f"CAST({_raw_json_sql(raw, target.columns, [q_ident(c) for c in raw.columns])} AS VARCHAR)"
    )
    if raw.numbered:
        source, number = raw.plain, "__row"
    else:  # the position of each row read, in the order the first read wrote them
        source, number = f"(SELECT row_number() OVER () - 1 AS __p, * FROM {raw.plain})", "__p"
    con.execute(
        f"CREATE TEMP TABLE {q_ident(table)} AS SELECT {number}, {text} AS raw FROM {source} "
        f"WHERE {target.key_texts[i]} IN (SELECT k FROM {q_ident(target.dups)})"
    )
    return table


def _reconcile(
    con: duckdb.DuckDBPyConnection, target: _Target, *, run_id: str, month: dt.date
) -> tuple[int, int, int]:
    """Count what the transaction actually wrote and check ``read = loaded + quarantined``."""
    read = sum(r.read for r in target.raws)
    loaded = con.execute("SELECT count(*) FROM snapshot WHERE month = ?", [month]).fetchone()[0]
    names = ", ".join(q_str(n) for n in target.names) or "NULL"
    quarantined = con.execute(
        f"SELECT count(*) FROM (SELECT DISTINCT file, row_number FROM quarantine "
        f"WHERE run_id = ? AND file IN ({names}))",
        [run_id],
    ).fetchone()[0]
    if read != loaded + quarantined:
        raise ImportProblem(
            msg.RECONCILE,
            month=f"{month:%Y-%m}",
            read=read,
            loaded=loaded,
            quarantined=quarantined,
        )
    return read, loaded, quarantined


def _shrink_problem(
    con: duckdb.DuckDBPyConnection,
    snap: _Target,
    result: ImportResult,
    *,
    month: dt.date,
    allow: bool,
) -> ImportProblem | None:
    """The refusal when the import would empty the month or shrink it more than allowed."""
    if allow:
        return None
    new = sum(r.loaded for r in snap.results)
    read = sum(r.read for r in snap.results)
    if new == 0:
        top = list(result.defects.items())[:3]
        return ImportProblem(
            msg.EMPTY_MONTH,
            month=f"{month:%Y-%m}",
            files=", ".join(snap.names),
            read=f"{read:,}",
            quarantined=f"{read:,}",
            reasons="; " + ", ".join(f"{r} {n:,}" for r, n in top) if top else "",
            run_id=result.run_id,
        )
    limit = get_settings().import_max_shrink
    old = con.execute("SELECT count(*) FROM snapshot WHERE month = ?", [month]).fetchone()[0]
    if old and new < old * (1 - limit):
        return ImportProblem(
            msg.SHRINK,
            month=f"{month:%Y-%m}",
            files=", ".join(snap.names),
            old=f"{old:,}",
            new=f"{new:,}",
            pct=f"{(old - new) / old:.0%}",
            limit=f"{limit:.0%}",
            run_id=result.run_id,
        )
    return None


def _hold_before_commit() -> None:
    marker = os.environ.get(HOLD_ENV)
    if marker:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(float(os.environ.get(HOLD_ENV + "_SECONDS", "60")))


def import_month(
    *,
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    mapping: Mapping | Path | str,
    paths: Sequence[Path | str],
    on_progress: Progress | None = None,
    allow_shrink: bool = False,
    engine: str = "duckdb",
) -> ImportResult:
    """Import one month's files: validate, quarantine bad rows, replace the month atomically.

    Args:
        con: a DuckDB connection to the analytics store (not inside a transaction).
        month: ``YYYY-MM`` or a date in the month.
        mapping: a :class:`Mapping` or the path of a mapping YAML file.
        paths: the month's CSV / Parquet files (rows of all files form the month).
        on_progress: optional callback ``(step, done, total)``.
        allow_shrink: accept a month that loads no row, or that replaces a loaded month with
            more than ``Settings.import_max_shrink`` (default 20 %) fewer rows.
        engine: ``duckdb`` reads the files in the store; ``spark`` reads them on Spark, from
            any path Spark reads (``hdfs://``, ``s3a://``, local), and hands the store their
            rows as Parquet (:mod:`weixi.ingest.spark_read`); validation, quarantine and the
            write are the same SQL either way.

    Returns:
        The run's :class:`ImportResult`, with ``read == loaded + quarantined``.

    Raises:
        IngestError: a file cannot be read or lacks a required column, or the month would
            shrink (the month is unchanged, the run is recorded as failed). Import problems are
            :class:`~weixi.ingest.messages.ImportProblem`: one line, no personal data.
    """
    month_d = parse_month(month)
    mark_interrupted(con=con)  # runs killed earlier stop looking as if they were running
    run_id = uuid.uuid4().hex[:12]
    started = _now()
    me = _proc_stat(os.getpid())
    result = ImportResult(
        run_id=run_id,
        month=month_d,
        status="running",
        started_at=started,
        pid=os.getpid(),
        host=socket.gethostname(),
        proc_start=me[1] if me else None,
    )
    con.execute(
        "INSERT INTO import_runs (run_id, month, started_at, status, pid, host, proc_start) "
        "VALUES (?, ?, ?, 'running', ?, ?, ?)",
        [run_id, month_d, started, result.pid, result.host, result.proc_start],
    )
    _ACTIVE_RUNS.add(run_id)
    prefix = f"_wx_{run_id}_"
    recorded = False  # a refused run was committed with its quarantine
    targets: list[_Target] = []
    tick = on_progress or (lambda step, done, total: None)
    try:
        if not isinstance(mapping, Mapping):
            mapping = load_mapping(mapping)
        result.mapping_hash = mapping.digest()
        if engine not in ("duckdb", "spark"):
            raise ConfigError("unknown engine {engine!r}: use duckdb or spark", engine=engine)
        stage = stage_file if engine == "duckdb" else stage_file_spark
        file_paths = [display_path(p) if engine == "spark" else Path(p) for p in paths]
        if not file_paths:
            raise ImportProblem(msg.NO_FILES)
        snap = _Target(
            table="snapshot",
            fields=schema.FIELDS,
            columns=mapping.columns,
            key="subscriber_id",
            replace_where=f"month = DATE {q_str(month_d.isoformat())}",
            names=_display_names(file_paths),
            all_table=f"{prefix}all",
        )
        targets.append(snap)
        jobs: list[tuple[_Target, Path, str | None, str | None]] = [
            (snap, p, mapping.encoding, mapping.delimiter) for p in file_paths
        ]
        for table, ref in mapping.reference.items():
            fields = schema.reference_fields(table)
            tgt = _Target(
                table=table,
                fields=fields,
                columns=ref.columns,
                key=fields[0].name,
                replace_where="true",
                names=[Path(ref.file).name],
                all_table=f"{prefix}all_{table}",
            )
            targets.append(tgt)
            jobs.append(
                (
                    tgt,
                    mapping.reference_path(table),
                    ref.encoding or mapping.encoding,
                    ref.delimiter,
                )
            )
        total = len(jobs) + 2
        tmp_root = get_settings().home / "tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="ingest-", dir=tmp_root) as tmp:
            for n, (tgt, path, enc, delim) in enumerate(jobs):
                tick(f"read {_display_names([path])[0]}", n, total)
                raw = stage(
                    con,
                    path,
                    prefix=f"{prefix}{n}_",
                    tmpdir=Path(tmp),
                    encoding=enc,
                    delimiter=delim,
                    quote=mapping.quote,
                )
                tgt.raws.append(raw)
                _check_required(raw, tgt)
                tgt.results.append(_file_result(raw, tgt.names[len(tgt.raws) - 1], tgt))
            tick("validate", len(jobs), total)
            month_checks = snapshot_checks(month_d)
            for tgt in targets:
                _build(con, tgt, mapping, month_checks if tgt.table == "snapshot" else ())
            result.defects = _defects(con, snap)
            for tgt in targets[1:]:
                _defects(con, tgt)

            refusal = _shrink_problem(con, snap, result, month=month_d, allow=allow_shrink)
            tick("write", len(jobs) + 1, total)
            con.execute("BEGIN TRANSACTION")
            try:
                for tgt in targets:
                    _write_target(con, tgt, run_id=run_id, month=month_d, data=refusal is None)
                result.files = [r for tgt in targets for r in tgt.results]
                if refusal is None:
                    counts = _reconcile(con, snap, run_id=run_id, month=month_d)
                    result.read, result.loaded, result.quarantined = counts
                    result.status = "succeeded"
                else:  # the month stays as it was; the quarantine is kept to show why
                    result.read = sum(r.read for r in snap.results)
                    result.quarantined = sum(r.quarantined for r in snap.results)
                    result.status = "failed"
                    result.error, result.error_key = refusal.render("en"), refusal.key
                result.finished_at = _now()
                _update_run(con, result)
                _hold_before_commit()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            if refusal is not None:
                recorded = True
                raise refusal
            tick("done", total, total)
    except Exception as exc:
        if recorded:
            raise
        problem = exc
        if not isinstance(exc, WeixiError):  # engine text may quote rows: keep its gist only
            problem = ImportProblem(
                msg.FAILED, month=f"{month_d:%Y-%m}", what=scrub(str(exc)), kind=type(exc).__name__
            )
        result.status = "failed"
        result.finished_at = _now()
        if isinstance(problem, ImportProblem):
            result.error, result.error_key = problem.render("en"), problem.key
        else:
            result.error = str(problem)
        result.files = [r for tgt in targets for r in tgt.results]
        result.read = result.loaded = result.quarantined = 0
        try:
            _update_run(con, result)  # its own (auto-committed) transaction, after the rollback
        except duckdb.Error as db_exc:  # pragma: no cover - the store itself is broken
            exc.add_note(f"the failed run could not be recorded: {db_exc}")
        if problem is exc:
            raise
        # DuckDB's text may quote a row: keep it out of tracebacks that end up in logs
        raise problem from (None if isinstance(exc, duckdb.Error) else exc)
    finally:
        _ACTIVE_RUNS.discard(run_id)
        try:
            for tgt in targets:
                _drop_target(con, tgt)
                for raw in tgt.raws:
                    drop_staged(con, raw)
        except duckdb.Error:  # pragma: no cover - temporary objects vanish with the connection
            pass
    return result


def _update_run(con: duckdb.DuckDBPyConnection, result: ImportResult) -> None:
    con.execute(
        'UPDATE import_runs SET finished_at = ?, status = ?, files = ?, "read" = ?, loaded = ?, '
        "quarantined = ?, defects = ?, mapping_hash = ?, error = ?, error_key = ? WHERE run_id = ?",
        [
            result.finished_at,
            result.status,
            json.dumps([f.model_dump() for f in result.files], ensure_ascii=False),
            result.read,
            result.loaded,
            result.quarantined,
            json.dumps(result.defects, ensure_ascii=False),
            result.mapping_hash,
            result.error,
            result.error_key,
            result.run_id,
        ],
    )


_RUN_COLS = (
    "run_id",
    "month",
    "started_at",
    "finished_at",
    "status",
    "files",
    "read",
    "loaded",
    "quarantined",
    "defects",
    "mapping_hash",
    "error",
    "pid",
    "host",
    "proc_start",
    "interruption",
    "error_key",
)


def _run_cols(con: duckdb.DuckDBPyConnection) -> str:
    """A SELECT of import_runs with every column of _RUN_COLS (NULL where an older store
    lacks one: read-only readers cannot add them)."""
    have = {r[0] for r in con.execute("DESCRIBE import_runs").fetchall()}
    cols = ", ".join(f'"{c}"' if c in have else f'NULL AS "{c}"' for c in _RUN_COLS)
    return f"SELECT {cols} FROM import_runs"


def _run_from_row(row: tuple) -> ImportResult:
    (run_id, month, started, finished, status, files, read, loaded, quar, defects, mh, err) = row[
        :12
    ]
    pid, host, proc_start, interruption, error_key = row[12:]
    return ImportResult(
        run_id=run_id,
        month=month,
        started_at=started,
        finished_at=finished,
        status=status,
        files=[FileResult(**f) for f in json.loads(files or "[]")],
        read=read or 0,
        loaded=loaded or 0,
        quarantined=quar or 0,
        defects=json.loads(defects or "{}"),
        mapping_hash=mh,
        error=err,
        pid=pid,
        host=host,
        proc_start=proc_start,
        interruption=interruption,
        error_key=error_key,
    )


def get_runs(
    *, con: duckdb.DuckDBPyConnection, month: str | dt.date | None = None, limit: int = 100
) -> list[ImportResult]:
    """Return import runs, newest first (optionally of one month).

    Runs left ``running`` by a dead process are marked ``interrupted`` first (see
    :func:`mark_interrupted`; on a read-only connection only in the returned list).
    """
    try:
        mark_interrupted(con=con)
        patch = False
    except duckdb.Error:  # read-only connection: patch the returned runs instead
        patch = True
    where, params = "", []
    if month is not None:
        where, params = "WHERE month = ?", [parse_month(month)]
    rows = con.execute(
        f"SELECT * FROM ({_run_cols(con)}) r {where} ORDER BY started_at DESC, run_id LIMIT ?",
        [*params, int(limit)],
    ).fetchall()
    runs = [_run_from_row(r) for r in rows]
    if patch:
        _patch_interrupted(con, runs)
    return runs


def _patch_interrupted(con: duckdb.DuckDBPyConnection, runs: list[ImportResult]) -> None:
    dead = {r[0]: r for r in _find_interrupted(con, None)}
    for run in runs:
        if run.run_id in dead:
            _, kind, text, finished = dead[run.run_id]
            run.status, run.interruption = "interrupted", kind
            run.error, run.finished_at = text, finished


def get_run(*, con: duckdb.DuckDBPyConnection, run_id: str) -> ImportResult | None:
    """Return one import run, or None."""
    runs = [
        _run_from_row(r)
        for r in con.execute(
            f"SELECT * FROM ({_run_cols(con)}) r WHERE run_id = ?", [run_id]
        ).fetchall()
    ]
    if runs and runs[0].status == "running":
        _patch_interrupted(con, runs)  # shown as it is; get_runs / imports persist it
    return runs[0] if runs else None


def get_quarantine(
    *,
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    limit: int = 100,
    offset: int = 0,
    reason: str | None = None,
) -> list[QuarantineRow]:
    """Return a page of a run's quarantine (one row per violation), by file and row."""
    where, params = "WHERE run_id = ?", [run_id]
    if reason:
        where += " AND reason = ?"
        params.append(reason)
    rows = con.execute(
        "SELECT run_id, month, file, row_number, column_name, reason, raw_value, raw_row "
        f"FROM quarantine {where} ORDER BY file, row_number, column_name NULLS FIRST, reason "
        "LIMIT ? OFFSET ?",
        [*params, int(limit), int(offset)],
    ).fetchall()
    keys = QuarantineRow.model_fields.keys()
    return [QuarantineRow(**dict(zip(keys, r, strict=True))) for r in rows]


def count_quarantine(
    *, con: duckdb.DuckDBPyConnection, run_id: str, reason: str | None = None
) -> int:
    """Return how many violations a run quarantined (for paging)."""
    sql, params = "SELECT count(*) FROM quarantine WHERE run_id = ?", [run_id]
    if reason:
        sql += " AND reason = ?"
        params.append(reason)
    return con.execute(sql, params).fetchone()[0]
