"""Outcome files from an external dialer or SMS gateway: the whole file is validated at once and
recorded in one bulk, idempotent write; every row is accounted for
(read = recorded + already recorded + rejected).

The rules are those of the queue page and the API: the task must be in the uploader's scope
(``weixi.security.access.scope_condition``, the SQL form of ``task_in_scope``; otherwise "not
found"), open, not waiting for a call-back that is not due, not held by someone else's claim
(the messages of ``record_outcome``). An optional ``staff_id`` column names the agent who worked
the row: the task must be assigned to them or pooled (a pooled task is then assigned to them).
A row's idempotency key is its ``idempotency_key`` column or ``file:<file digest>:<line>``, so
uploading the same file twice records nothing new (the rows count as already recorded).

Rows of one file are taken in file order: the first usable row of a task records its outcome,
later rows of that task are rejected as ``record_outcome`` would reject them then (the task is
done, or waits for the call-back the first row set). The write is one transaction: the tasks are
moved with a guard on their state (open, call-back due, no foreign claim); if a concurrent
change moved one of them first, nothing is written and the upload is refused as a conflict
(uploading the file again is safe).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from charset_normalizer import from_bytes
from sqlalchemy import (
    DateTime,
    and_,
    case,
    column,
    func,
    insert,
    literal,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause as Table

from weixi.auth.models import User
from weixi.dispatch import cells
from weixi.dispatch.models import ContactLog, Outcome, OutcomeResult, Task, TaskStatus
from weixi.errors import ConflictError, IngestError
from weixi.store.bulk import insert_arrow

REQUIRED = ("task_id", "result")
OPTIONAL = ("refusal_reason", "callback_at", "note", "idempotency_key", "staff_id")
#: Task ids spanning less than this many times their number are read by one range scan.
DENSE = 4


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
            raise IngestError(
                "{name}: cannot tell the text encoding; save it as UTF-8", name=name
            ) from None
        return str(best)


def _read(text: str, name: str) -> pd.DataFrame:
    """Every cell as stripped text ("" when empty), columns named in lower case."""
    header = text.split("\n", 1)[0]
    names = [c.strip().strip('"').strip().lower() for c in header.rstrip("\r").split(",")]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise IngestError(
            "{name}: missing column(s) {missing}; the header must include "
            "{required} (optional: {optional})",
            name=name,
            missing=", ".join(missing),
            required=", ".join(REQUIRED),
            optional=", ".join(OPTIONAL),
        )
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise IngestError(
            "{name}: not a readable CSV file ({error})", name=name, error=str(exc)
        ) from None
    cols = {}
    for col in (*REQUIRED, *OPTIONAL):
        if col in names:
            cols[col] = pc.utf8_trim_whitespace(table.column(names.index(col))).to_pandas()
        else:
            cols[col] = pd.Series([""] * table.num_rows, dtype=object)
    return pd.DataFrame(cols)


def _take(part, hit: np.ndarray):
    """The ``hit`` rows of one part of a message (a text stays a text)."""
    if isinstance(part, str):
        return part
    if callable(part):
        return part(hit)
    if isinstance(part, pd.Series):
        return part.to_numpy(object)[hit]
    return np.asarray(part, dtype=object)[hit]


def _line_keys(digest: str, line: np.ndarray) -> np.ndarray:
    """``file:<digest>:<line>`` of every line (Arrow kernels, no Python per row)."""
    text = pc.binary_join_element_wise(
        f"file:{digest}:", pa.array(line, pa.int64()).cast(pa.string()), ""
    )
    return text.to_numpy(zero_copy_only=False)


def _cat(*parts) -> np.ndarray:
    """Concatenate texts and per-row values (any dtype; missing values as "") row by row."""
    out: np.ndarray | str = ""
    for part in parts:
        if not isinstance(part, str):
            part = pd.Series(np.asarray(part, dtype=object)).fillna("").astype(str).to_numpy()
            part = part.astype(str)
        out = np.char.add(out, part)
    return np.asarray(out, dtype=object)


def _stage(session: Session, name: str, data: pa.Table, ddl: str) -> Table:
    """Load ``data`` into the connection's temporary table ``name`` (``ddl``: its columns) in
    bulk (COPY on PostgreSQL); return it as a SQLAlchemy table for joins. Dropped by
    :func:`_unstage`."""
    conn = session.connection()
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {name} ({ddl})")
    insert_arrow(session, name, data)
    return table(name, *(column(c) for c in data.column_names))


def _unstage(session: Session, *names: str) -> None:
    conn = session.connection()
    for name in names:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def _frame(result, names: list[str]) -> pd.DataFrame:
    """The rows of a query as object columns, fetched from the driver's cursor as they come
    (no SQLAlchemy processing per value: SQLite gives times as text, parsed per column)."""
    rows = result.cursor.fetchall()
    # columns via zip (C speed): a DataFrame built from 10^6 Row objects takes seconds
    data = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in zip(names, data, strict=True)})


def _load_tasks(session: Session, user: User, ids: np.ndarray) -> pd.DataFrame:
    """The file's tasks in the user's scope: the ids staged in a temporary table, one join."""
    from weixi.security.access import scope_condition

    cols = [
        Task.id,
        Task.status,
        Task.drop_reason,
        Task.staff_id,
        Task.callback_at,
        Task.claimed_by,
        Task.claimed_until,
    ]
    uniq = np.unique(ids)
    if len(uniq) and int(uniq[-1]) - int(uniq[0]) < DENSE * len(uniq):  # Python ints: no overflow
        # the ids fill most of their range (a campaign's tasks): one range scan of the primary
        # key, the file's ids kept below, costs less than staging them
        stmt = select(*cols).where(
            Task.id.between(int(uniq[0]), int(uniq[-1])), scope_condition(user)
        )
    else:
        staged = _stage(
            session, "_of_ids", pa.table({"id": pa.array(uniq, pa.int64())}), "id BIGINT"
        )
        stmt = select(*cols).join(staged, staged.c.id == Task.id).where(scope_condition(user))
    frame = _frame(session.connection().execute(stmt), [c.key for c in cols])
    frame["id"] = frame["id"].astype(np.int64)  # an object index makes isin/reindex quadratic
    frame = frame[np.isin(frame["id"].to_numpy(), uniq)]
    return frame.set_index("id")


def _known_keys(session: Session, keys: np.ndarray, prefix: str) -> pd.Series:
    """Task of every idempotency key of ``keys`` already recorded. The file's own line keys
    (``prefix``: ``file:<digest>:``) are found by one range scan of the key index, any other
    keys staged in a temporary table and joined."""
    conn = session.connection()
    key = Outcome.idempotency_key
    arr = pa.array(keys, pa.string())
    own = pc.starts_with(arr, prefix)
    parts = []
    if pc.any(own).as_py():
        # every key starting with prefix sorts in [prefix, prefix with ":" raised to ";")
        stmt = select(key, Outcome.task_id).where(key >= prefix, key < prefix[:-1] + ";")
        parts.append(_frame(conn.execute(stmt), ["key", "task_id"]))
    other = arr.filter(pc.invert(own))
    if len(other):
        staged = _stage(session, "_of_keys", pa.table({"k": pc.unique(other)}), "k VARCHAR(128)")
        stmt = select(key, Outcome.task_id).join(staged, staged.c.k == key)
        parts.append(_frame(conn.execute(stmt), ["key", "task_id"]))
    got = pd.concat(parts) if parts else pd.DataFrame({"key": [], "task_id": []})
    return pd.Series(got["task_id"].to_numpy(), index=got["key"].to_numpy(), dtype=object)


def record_file(
    *,
    session: Session,
    user: User,
    name: str,
    data: bytes,
    now: dt.datetime | None = None,
) -> FileReport:
    """Validate an outcome CSV as a whole and record its good rows in one bulk write.

    Columns: task_id, result (required), refusal_reason, callback_at, note, idempotency_key,
    staff_id. Flushes; the caller commits. Raises ConflictError (nothing written) when a task
    changed between the check and the write.
    """
    try:
        return _record(session=session, user=user, name=name, data=data, now=now)
    finally:  # the staged ids, keys and rows (temporary tables of this connection)
        _unstage(session, "_of_ids", "_of_keys", "_of_rows")


def _record(
    *, session: Session, user: User, name: str, data: bytes, now: dt.datetime | None
) -> FileReport:
    df = _read(_decode(data, name), name)
    report = FileReport(file=name, read=len(df))
    if df.empty:
        return report
    when = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    digest = hashlib.sha256(data).hexdigest()[:16]
    n = len(df)
    line = np.arange(2, n + 2)
    reason = np.full(n, None, dtype=object)

    def reject(mask: np.ndarray, text: tuple | str) -> None:
        """Reject rows of ``mask`` not rejected yet, with ``text``: one text, or the parts of
        each row's text (texts, per-row values, functions of the hit mask giving them) joined
        for the hit rows only."""
        hit = mask & pd.isna(reason)
        if not hit.any():
            return
        if isinstance(text, str):
            reason[hit] = text
        else:
            reason[hit] = _cat(*(_take(part, hit) for part in text))

    raw_id = df["task_id"]
    task_id = pd.to_numeric(raw_id.where(raw_id.str.fullmatch(r"[+-]?\d+"), None), errors="coerce")
    bad_id = task_id.isna().to_numpy()
    reject(bad_id, ("task_id ", lambda h: raw_id[h].map(repr), " is not a number"))
    ids = task_id.fillna(-1).astype(np.int64).to_numpy()
    tasks = _load_tasks(session, user, ids[~bad_id])
    found = np.isin(ids, tasks.index.to_numpy())
    reject(~found, ("task ", lambda h: raw_id[h].str.lstrip("+"), " not found"))
    t = tasks.reindex(ids).reset_index(drop=True)  # the task of every row (NaN: none)
    t_staff = t["staff_id"].to_numpy(object)
    staff = df["staff_id"].to_numpy(object)
    wrong_staff = (staff != "") & pd.notna(t_staff) & (t_staff != staff)
    reject(wrong_staff, ("task ", ids, " is assigned to ", t_staff, ", not ", staff))
    cb_text = df["callback_at"]
    callback = pd.to_datetime(cb_text.where(cb_text != "", None), errors="coerce", format="ISO8601")
    if callback.dt.tz is not None:
        callback = callback.dt.tz_localize(None)
    bad_cb = ((cb_text != "") & callback.isna()).to_numpy()
    reject(bad_cb, "callback_at must look like 2026-01-31 15:00")
    result = df["result"]
    reject(
        ((result == "refused") & (df["refusal_reason"] == "")).to_numpy(),
        "a refusal needs refusal_reason",
    )
    keys = pd.Series(
        np.where(df["idempotency_key"] != "", df["idempotency_key"], _line_keys(digest, line)),
        dtype=object,
    )
    # an idempotency key seen before (in the database, or earlier in this file) is a repeat of
    # that outcome — or a conflict when it named another task
    alive = pd.isna(reason)
    known = _known_keys(session, keys.to_numpy()[alive], f"file:{digest}:")
    first_task = keys.map(known)
    # a key used again later in this file: the first usable row with it came first
    alive_keys = keys[alive]
    first_id = pd.Series(ids[alive]).groupby(alive_keys.to_numpy()).first()
    again = np.zeros(n, dtype=bool)
    again[np.flatnonzero(alive)[alive_keys.duplicated(keep="first").to_numpy()]] = True
    if again.any():
        first_task = first_task.where(~again | first_task.notna(), keys.map(first_id))
    seen = first_task.notna().to_numpy() & alive
    first = first_task.fillna(-1).astype(np.int64).to_numpy()
    other = seen & (first != ids)
    reject(
        other,
        (
            "idempotency key ",
            lambda h: keys[h].map(repr),
            " was already used for task ",
            first,
            ", not task ",
            ids,
            ": use a new key for each outcome",
        ),
    )
    repeated = seen & ~other
    valid = [r.value for r in OutcomeResult]
    unknown = ~result.isin(valid).to_numpy()
    reject(
        unknown & ~repeated,
        ("unknown outcome ", lambda h: result[h].map(repr), f": use one of {valid}"),
    )
    reject(
        ((result == OutcomeResult.call_back.value) & callback.isna()).to_numpy() & ~repeated,
        "a call back needs its time (callback_at, e.g. 2026-01-31 15:00)",
    )
    # the task's state (record_outcome's _check_open); repeats are answered before it
    status = t["status"].to_numpy(object)
    closed = (status != TaskStatus.open.value) & found & ~repeated
    drop = t["drop_reason"].to_numpy(object)

    def status_txt(h: np.ndarray) -> np.ndarray:
        d = drop[h]
        return _cat(status[h], np.where(pd.notna(d), _cat(" (", d, ")"), ""))

    reject(closed, ("task ", ids, " is already ", status_txt, ": it takes no further outcome"))
    t_cb = pd.to_datetime(t["callback_at"])
    waiting = (t_cb > when).to_numpy() & found & ~repeated
    reject(
        waiting,
        (
            "task ",
            ids,
            " waits for its call back at ",
            lambda h: t_cb[h].dt.strftime("%Y-%m-%d %H:%M"),
            " UTC; it returns to the queue then",
        ),
    )
    t_until = pd.to_datetime(t["claimed_until"])
    held = (
        (t_until >= when).to_numpy()
        & (t["claimed_by"].to_numpy(object) != user.username)
        & found
        & ~repeated
    )
    reject(
        held,
        (
            "task ",
            ids,
            " is being worked by ",
            t["claimed_by"],
            " until ",
            lambda h: t_until[h].dt.strftime("%H:%M"),
            " UTC",
        ),
    )
    ok = pd.isna(reason) & ~repeated
    # rows after a task's first recorded row meet the state that row left
    dup = pd.Series(ids).where(ok).duplicated(keep="first").to_numpy() & ok
    if dup.any():
        firsts = (
            pd.DataFrame(
                {"id": ids[ok], "result": result.to_numpy()[ok], "cb": callback.to_numpy()[ok]}
            )
            .drop_duplicates("id")
            .set_index("id")
        )
        later = firsts.reindex(ids[dup])
        left_open = later["result"].to_numpy() == OutcomeResult.call_back.value
        later_txt = np.where(
            left_open,
            _cat(
                "task ",
                ids[dup],
                " waits for its call back at ",
                later["cb"].dt.strftime("%Y-%m-%d %H:%M"),
                " UTC; it returns to the queue then",
            ),
            _cat("task ", ids[dup], " is already done: it takes no further outcome"),
        )
        full = np.full(n, None, dtype=object)
        full[dup] = later_txt
        reject(dup, (full,))
        ok &= ~dup
    report.repeated = int(repeated.sum())
    bad = ~pd.isna(reason) & ~repeated
    if bad.any():
        rej = df[bad].copy()
        rej.insert(0, "reason", reason[bad])
        rej.insert(0, "row", line[bad])
        # the original columns only (as read), in the row's order
        present = ["row", "reason", *[c for c in df.columns if c in REQUIRED or c in OPTIONAL]]
        report.rejected = rej[present].to_dict("records")
    if ok.any():
        _write(
            session,
            user=user,
            when=when,
            ids=ids[ok],
            result=result.to_numpy(object)[ok],
            refusal=df["refusal_reason"].to_numpy(object)[ok],
            callback=callback.to_numpy()[ok],
            note=df["note"].to_numpy(object)[ok],
            keys=keys.to_numpy(object)[ok],
            staff=staff[ok],
            line=line[ok],
            tasks=tasks,
        )
        report.recorded = int(ok.sum())
    return report


def _nullable(values: np.ndarray) -> pa.Array:
    """Text column with "" (and None) as NULL."""
    arr = pa.array(values, pa.string(), from_pandas=True)
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _write(
    session: Session,
    *,
    user: User,
    when: dt.datetime,
    ids: np.ndarray,
    result: np.ndarray,
    refusal: np.ndarray,
    callback: np.ndarray,
    note: np.ndarray,
    keys: np.ndarray,
    staff: np.ndarray,
    line: np.ndarray,
    tasks: pd.DataFrame,
) -> None:
    """Move the tasks, add the outcomes and the contact log: one bulk write, all or nothing.

    The rows are staged with :func:`insert_arrow` (COPY on
    PostgreSQL) into a temporary table, then the tasks are moved by one guarded
    ``UPDATE … FROM`` and the outcomes and contact log added by ``INSERT … SELECT``."""
    tt = Task.__table__
    # the state record_outcome checks, as a guard on every moved row
    guard = and_(
        tt.c.status == TaskStatus.open.value,
        or_(tt.c.callback_at.is_(None), tt.c.callback_at <= when),
        or_(
            tt.c.claimed_until.is_(None),
            tt.c.claimed_until < when,
            tt.c.claimed_by == user.username,
        ),
    )
    credit = (staff != "") & pd.isna(tasks["staff_id"].reindex(ids).to_numpy(object))
    n_rows = len(ids)
    cb_times = pa.array(pd.Series(callback, dtype="datetime64[ns]"), from_pandas=True).cast(
        pa.timestamp("us")
    )
    nested = session.begin_nested()
    try:
        rows = _stage(
            session,
            "_of_rows",
            pa.table(
                {
                    "id": pa.array(ids, pa.int64()),
                    "line": pa.array(line, pa.int64()),
                    "sf": _nullable(np.where(credit, staff, None)),
                    "result": pa.array(result, pa.string()),
                    "refusal_reason": _nullable(refusal),
                    "callback_at": cb_times,
                    "note": _nullable(note),
                    "idempotency_key": pa.array(keys, pa.string()),
                }
            ),
            "id BIGINT PRIMARY KEY, line BIGINT, sf VARCHAR(64), result VARCHAR(24), "
            "refusal_reason VARCHAR(200), callback_at TIMESTAMP, note TEXT, "
            "idempotency_key VARCHAR(128)",
        )
        conn = session.connection()
        # SQLite fires row triggers per task and outcome: grouped statements instead
        bulk = (
            cells.sqlite_bulk_outcomes(conn, "_of_rows")
            if conn.dialect.name == "sqlite"
            else nullcontext()
        )
        call_back = rows.c.result == OutcomeResult.call_back.value
        # each task's outcome summary is set here, in the same pass: on SQLite the outcome
        # trigger is dropped for the write, on PostgreSQL it then finds nothing left to change
        summary = cells.summary_after(tt, rows.c.result)
        with bulk:
            moved = conn.execute(
                update(tt)
                .where(tt.c.id == rows.c.id, guard)
                .values(
                    # a call back keeps the task open until its time; any other result closes it
                    status=case((call_back, TaskStatus.open.value), else_=TaskStatus.done.value),
                    callback_at=case((call_back, rows.c.callback_at), else_=None),
                    staff_id=func.coalesce(rows.c.sf, tt.c.staff_id),
                    version=tt.c.version + 1,
                    claimed_by=None,
                    claimed_until=None,
                    updated_at=when,
                    **summary,
                )
            ).rowcount
            if moved != n_rows:
                raise ConflictError(
                    "{n} task(s) of the file changed while it was recorded; nothing was written — "
                    "upload the file again",
                    n=n_rows - moved,
                )
            # the claim tokens apart: few tasks hold one, and leaving the column out of the
            # update above spares rewriting its index for every task of the file
            conn.execute(
                update(tt)
                .where(tt.c.claim_token.is_not(None), tt.c.id.in_(select(rows.c.id)))
                .values(claim_token=None, updated_at=when)
            )
            at = literal(when, DateTime())
            ot = Outcome.__table__
            conn.execute(
                insert(ot).from_select(
                    [
                        ot.c.task_id,
                        ot.c.result,
                        ot.c.refusal_reason,
                        ot.c.callback_at,
                        ot.c.note,
                        ot.c.source,
                        ot.c.idempotency_key,
                        ot.c.recorded_by,
                        ot.c.recorded_at,
                    ],
                    select(
                        rows.c.id,
                        rows.c.result,
                        rows.c.refusal_reason,
                        rows.c.callback_at,
                        rows.c.note,
                        literal("file"),
                        rows.c.idempotency_key,
                        literal(user.username),
                        at,
                    ).order_by(rows.c.line),
                )
            )
            ct = ContactLog.__table__
            conn.execute(
                insert(ct).from_select(
                    [
                        ct.c.subscriber_id,
                        ct.c.customer_id,
                        ct.c.campaign_id,
                        ct.c.task_id,
                        ct.c.channel,
                        ct.c.result,
                        ct.c.contacted_at,
                    ],
                    select(
                        tt.c.subscriber_id,
                        tt.c.customer_id,
                        tt.c.campaign_id,
                        rows.c.id,
                        tt.c.channel,
                        rows.c.result,
                        at,
                    )
                    .join(tt, tt.c.id == rows.c.id)
                    .where(rows.c.result != OutcomeResult.already_churned.value)
                    .order_by(rows.c.line),
                )
            )
    except BaseException:
        nested.rollback()
        raise
    nested.commit()
