"""Daily event feeds (服务营销机会): the ``events`` table, its mapping and its validated import.

One row per customer event: ``event_date, event_id, customer_id, subscriber_id, event_type,
value, detail, source``. The import reuses the monthly import's reader
(:func:`weixi.ingest.read.stage_file`), validator (:func:`weixi.ingest.validate.select_sql`),
quarantine and reconciliation (``read == loaded + quarantined``); it replaces the day's rows of
one ``source`` only, so other producers (complaints, VIP care calendar) append their own event
types to the same table without being overwritten. The contract is in ``docs/triggers.md``.

Example:
    >>> "customer_churn_warning" in EVENT_TYPES, "usage_drop" in EVENT_TYPES
    (False, True)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel, ValidationError, model_validator

from weixi.config import get_settings
from weixi.errors import ConfigError, IngestError
from weixi.ingest import messages as msg
from weixi.ingest.mapping import Mapping, _check_types, _format_errors
from weixi.ingest.messages import ImportProblem
from weixi.ingest.models import FileResult
from weixi.ingest.read import drop_staged, q_str, stage_file
from weixi.ingest.schema import Field
from weixi.ingest.validate import CrossCheck

#: Event types and their meaning (English, Simplified Chinese). Producers append types here.
EVENT_TYPES: dict[str, tuple[str, str]] = {
    # churn signals (存在流失倾向)
    "usage_drop": ("Sudden usage drop", "业务量突降"),
    "zero_call_days": ("Several days with zero calls", "多日零通话"),
    "competitor_call": ("Called a competitor's service number", "拨打竞争对手客服电话"),
    "contract_expiring": ("Contract about to expire", "协议到期"),
    "complaint_filed": ("Complaint filed", "客户投诉"),
    # care signals (服务关怀要求)
    "business_handled": ("Business just handled", "办理业务"),
    "new_subscription": ("New subscription", "新入网"),
    "membership_upgrade": ("Became a member / upgraded", "成为会员/升级"),
    "birthday": ("Birthday", "生日"),
    "holiday": ("Holiday", "节假日"),
    "vip_tier_anniversary": ("VIP tier anniversary", "会员纪念日"),
    # number portability (携号转网): the line left for a competitor, ``detail`` = its key below
    "port_out": ("Ported out to a competitor", "携号转网"),
}
#: Destinations of a port-out (``detail`` of a ``port_out`` event): key -> (English, Chinese).
PORT_OUT_DESTINATIONS: dict[str, tuple[str, str]] = {
    "china_mobile": ("China Mobile", "中国移动"),
    "china_unicom": ("China Unicom", "中国联通"),
    "china_broadnet": ("China Broadnet", "中国广电"),
}
CHURN_SIGNALS = (
    "usage_drop",
    "zero_call_days",
    "competitor_call",
    "contract_expiring",
    "complaint_filed",
)

EVENT_FIELDS: tuple[Field, ...] = (
    Field("event_id", "str", "事件标识", "Unique id of the event", required=True, identifier=True),
    Field("event_date", "date", "事件日期", "Day the event happened", required=True),
    Field("customer_id", "str", "客户标识", "Customer id", required=True, identifier=True),
    Field("subscriber_id", "str", "用户标识", "Line concerned, if known", identifier=True),
    Field(
        "event_type",
        "str",
        "事件类型",
        "Kind of event",
        required=True,
        choices=tuple(EVENT_TYPES),
    ),
    Field("value", "float", "事件数值", "Size of the event (drop %, days, days to expiry…)"),
    Field("detail", "str", "事件说明", "Free text (competitor, business handled, holiday…)"),
    Field("source", "str", "来源", "Producer of the row", default="feed", identifier=True),
)


class EventMapping(Mapping):
    """A mapping file of an event feed: ``columns`` name event fields instead of snapshot ones."""

    @model_validator(mode="after")
    def _check_columns(self) -> EventMapping:  # replaces the snapshot's check
        fields = {f.name: f for f in EVENT_FIELDS}
        unknown = sorted(set(self.columns) - set(fields))
        if unknown:
            raise ValueError(f"unknown event column(s) {unknown}; expected {sorted(fields)}")
        missing = [f.name for f in EVENT_FIELDS if f.required and f.name not in self.columns]
        if missing:
            raise ValueError(f"required event column(s) {missing} have no mapping entry")
        if self.reference:
            raise ValueError("an event mapping has no reference tables")
        _check_types(self.columns, fields, "columns")
        return self


def load_event_mapping(path: Path | str) -> EventMapping:
    """Read and validate an event-feed mapping YAML (raises ConfigError)."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except FileNotFoundError as exc:
        raise ConfigError("mapping file not found: {path}", path=path) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(
            "mapping {path} is not valid YAML: {error}", path=path, error=str(exc)
        ) from exc
    try:
        return EventMapping.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            "mapping {path} is invalid: {errors}", path=path, errors=_format_errors(exc)
        ) from exc


class EventImportResult(BaseModel):
    """What ``weixi events import`` reports (``read == loaded + quarantined``)."""

    run_id: str
    date: dt.date
    source: str
    read: int = 0
    loaded: int = 0
    quarantined: int = 0
    by_type: dict[str, int] = {}
    defects: dict[str, int] = {}
    files: list[FileResult] = []


def import_events(
    *,
    con: duckdb.DuckDBPyConnection,
    date: dt.date,
    mapping: EventMapping | Path | str,
    paths: Sequence[Path | str],
    source: str = "feed",
) -> EventImportResult:
    """Import one day's event files: validate, quarantine bad rows, replace the day's ``source`` rows.

    Rows dated another day are quarantined (``event_date_mismatch``); duplicated event ids
    are all quarantined (``duplicate_id``). Raises IngestError when a file cannot be read or
    lacks a required column (nothing changes then).
    """
    from weixi.ingest.service import (
        _build,
        _check_required,
        _defects,
        _drop_target,
        _file_result,
        _Target,
        _write_target,
    )

    if not isinstance(mapping, EventMapping):
        mapping = load_event_mapping(mapping)
    if not paths:
        raise ImportProblem(msg.NO_FILES)
    run_id = "ev" + uuid.uuid4().hex[:10]
    prefix = f"_wx_{run_id}_"
    fields = tuple(
        dataclasses.replace(f, default=source) if f.name == "source" else f for f in EVENT_FIELDS
    )
    day = q_str(date.isoformat())
    target = _Target(
        table="events",
        fields=fields,
        columns=mapping.columns,
        key="event_id",
        replace_where=f"event_date = DATE {day} AND source = {q_str(source)}",
        names=[Path(p).name for p in paths],
        all_table=f"{prefix}all",
    )
    checks = (
        CrossCheck(
            "event_date", "event_date_mismatch", ("event_date",), f"v_event_date <> DATE {day}"
        ),
    )
    tmp_root = get_settings().home / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="events-", dir=tmp_root) as tmp:
            for n, path in enumerate(paths):
                raw = stage_file(
                    con,
                    Path(path),
                    prefix=f"{prefix}{n}_",
                    tmpdir=Path(tmp),
                    encoding=mapping.encoding,
                    delimiter=mapping.delimiter,
                    quote=mapping.quote,
                )
                target.raws.append(raw)
                _check_required(raw, target)
                target.results.append(_file_result(raw, target.names[n], target))
            _build(con, target, mapping, checks)
            defects = _defects(con, target)
            con.execute("BEGIN TRANSACTION")
            try:
                _write_target(con, target, run_id=run_id, month=date)
                read = sum(r.read for r in target.raws)
                loaded = con.execute(
                    f"SELECT count(*) FROM events WHERE {target.replace_where}"
                ).fetchone()[0]
                quarantined = con.execute(
                    "SELECT count(*) FROM (SELECT DISTINCT file, row_number FROM quarantine "
                    "WHERE run_id = ?)",
                    [run_id],
                ).fetchone()[0]
                if read != loaded + quarantined:
                    raise ImportProblem(
                        msg.RECONCILE,
                        month=date.isoformat(),
                        read=read,
                        loaded=loaded,
                        quarantined=quarantined,
                    )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
    except duckdb.Error as exc:
        raise IngestError(
            "event import of {date} failed: {error}", date=date, error=type(exc).__name__
        ) from None
    finally:
        _drop_target(con, target)
        for raw in target.raws:
            drop_staged(con, raw)
    by_type = dict(
        con.execute(
            f"SELECT event_type, count(*) FROM events WHERE {target.replace_where} "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    )
    return EventImportResult(
        run_id=run_id,
        date=date,
        source=source,
        read=read,
        loaded=loaded,
        quarantined=quarantined,
        by_type=by_type,
        defects=defects,
        files=target.results,
    )
