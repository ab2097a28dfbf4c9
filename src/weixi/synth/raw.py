"""Write a synthetic operator as an operator-like raw export plus the mapping that reads it back.

The raw format imitates a provincial warehouse export: pinyin-abbreviation and Chinese headers
(``YHBS``, ``DS``, ``业务类型`` …), Chinese values (是/否, 移动/宽带, 正常/停机 …), dates as
``YYYYMMDD``, money partly in fen (分) and data volume in KB, so that importing it exercises
renaming, value mapping, date parsing and unit conversion. ``mapping.yaml`` maps it back to the
canonical schema (format owned by ``weixi.ingest.mapping``).

Files written to ``out_dir``:
    subscribers_YYYY-MM.csv|parquet   one per month
    branches.csv, enterprise_groups.csv, group_contacts.csv, staff.csv   reference tables
    mapping.yaml

Example:
    >>> import tempfile
    >>> from weixi.synth.generate import SyntheticOperator, _ymd
    >>> out = write_raw(SyntheticOperator(300, seed=1), tempfile.mkdtemp(), months=2)
    >>> [m["month"] for m in out["months"]]
    ['2025-09', '2025-10']
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from weixi.errors import ConfigError
from weixi.ingest.schema import BY_NAME, FIELDS
from weixi.store.months import format_month
from weixi.synth import reference as ref
from weixi.synth.generate import SyntheticOperator, _ymd

YES_NO = {True: "是", False: "否"}
Y_N = {True: "Y", False: "N"}


@dataclass(frozen=True)
class RawColumn:
    """How one canonical field appears in the raw export."""

    canonical: str
    source: str
    kind: str = "plain"  # plain | values | scaled | date | int (whole numbers written as ints)
    values: dict[Any, str] = field(default_factory=dict)  # canonical -> raw
    scale: float = 1.0  # canonical = raw * scale


SUBSCRIBER_COLUMNS: tuple[RawColumn, ...] = (
    RawColumn("subscriber_id", "YHBS"),
    RawColumn("customer_id", "KHBS"),
    RawColumn("account_id", "ZHBS"),
    RawColumn("phone", "业务号码"),
    RawColumn("name", "客户姓名"),
    RawColumn("id_number", "证件号码"),
    RawColumn("branch_id", "DS", "values", {b[0]: b[2] for b in ref.BRANCHES}),
    RawColumn("district", "QX"),
    RawColumn(
        "line_type",
        "业务类型",
        "values",
        {
            "mobile": "移动",
            "broadband": "宽带",
            "data_card": "数据卡",
            "iot": "物联网",
            "payphone": "公话",
            "fixed": "固话",
        },
    ),
    RawColumn(
        "status",
        "YHZT",
        "values",
        {
            "active": "正常",
            "suspended": "停机",
            "arrears_stopped": "欠费停机",
            "cancelling": "预销户",
            "cancelled": "销户",
        },
    ),
    RawColumn("is_free_account", "公免", "values", YES_NO),
    RawColumn("is_public_paid", "公纳", "values", YES_NO),
    RawColumn("is_dedicated_line", "ZXBZ", "values", Y_N),
    RawColumn("do_not_disturb", "免打扰", "values", YES_NO),
    RawColumn(
        "credit_list",
        "红黑名单",
        "values",
        {"none": "无", "red": "红", "grey": "灰", "black": "黑"},
    ),
    RawColumn("payment_type", "FFFS", "values", {"personal": "个人", "corporate": "对公托收"}),
    RawColumn("group_payment_amount", "JTTF_FEN", "scaled", scale=0.01),
    RawColumn("activation_date", "RWSJ", "date"),
    RawColumn(
        "contract_type",
        "HYLX",
        "values",
        {
            "none": "无",
            "handset_subsidy": "终端补贴",
            "prepaid_credit": "预存话费",
            "package_prepay": "套餐预存",
            "deposit_bonus": "存费送费",
            "broadband_annual": "宽带包年",
        },
    ),
    RawColumn("contract_start", "HYKSSJ", "date"),
    RawColumn("contract_end", "HYDQSJ", "date"),
    RawColumn("package_name", "TCMC"),
    RawColumn("package_fee", "TCYF_FEN", "scaled", scale=0.01),
    RawColumn("is_converged", "融合标识", "values", YES_NO),
    RawColumn("arpu", "ARPU_FEN", "scaled", scale=0.01),
    RawColumn("voice_minutes", "THSC", "int"),
    RawColumn("sms_mms_spend", "短彩信费"),
    RawColumn("vas_spend", "增值业务费"),
    RawColumn("data_mb", "LL_KB", "scaled", scale=1 / 1024),
    RawColumn("zero_call_days", "LTHTS"),
    RawColumn("bb_speed_mbps", "KDSL", "int"),
    RawColumn("bb_online_hours", "SWSC"),
    RawColumn("has_iptv", "ITV", "values", YES_NO),
    RawColumn("has_mobile_line", "手机加装", "values", YES_NO),
    RawColumn("handset_model", "ZDXH"),
    RawColumn(
        "handset_generation", "ZDZS", "values", {"2g": "2G", "3g": "3G", "4g": "4G", "5g": "5G"}
    ),
    RawColumn("handset_smart", "智能机", "values", Y_N),
    RawColumn("handset_first_use_date", "ZDSCRWSJ", "date"),
    RawColumn(
        "vip_level",
        "VIPDJ",
        "values",
        {"none": "普通", "silver": "银卡", "gold": "金卡", "diamond": "钻石卡"},
    ),
    RawColumn("annual_spend", "NXF"),
    RawColumn("snapshot_midhigh", "PZZGD", "values", Y_N),
    RawColumn("group_id", "JTBM"),
    RawColumn("complaints", "TSCS"),
    RawColumn("competitor_contacts", "JZDSJC"),
    RawColumn("dual_competitor", "异网双卡", "values", YES_NO),
    RawColumn("satisfaction_score", "MYD", "int"),
    RawColumn("complaints_3m", "近三月投诉次数"),
    RawColumn("dropped_call_rate", "DHL"),
    RawColumn("weak_coverage_share", "RFGZB_QFB", "scaled", scale=0.1),
    RawColumn("nps_score", "NPS"),
)

REFERENCE_COLUMNS: dict[str, tuple[RawColumn, ...]] = {
    "branches": (
        RawColumn("branch_id", "地市编码"),
        RawColumn("name_en", "英文名称"),
        RawColumn("name_zh", "地市名称"),
    ),
    "enterprise_groups": (
        RawColumn("group_id", "集团编码"),
        RawColumn("name", "集团名称"),
        RawColumn("branch_id", "地市", "values", {b[0]: b[2] for b in ref.BRANCHES}),
        RawColumn("handset_count", "集团手机数"),
        RawColumn("industry", "行业"),
        RawColumn("is_top500_taxpayer", "纳税500强", "values", YES_NO),
        RawColumn("annual_spend", "集团年消费_FEN", "scaled", scale=0.01),
    ),
    "group_contacts": (
        RawColumn("subscriber_id", "联系人用户标识"),
        RawColumn("group_id", "集团编码"),
        RawColumn(
            "role",
            "角色",
            "values",
            {"decision_maker": "决策人", "contact": "联系人", "finance": "财务负责人"},
        ),
    ),
    "staff": (
        RawColumn("staff_id", "工号"),
        RawColumn("name", "姓名"),
        RawColumn("branch_id", "地市", "values", {b[0]: b[2] for b in ref.BRANCHES}),
        RawColumn(
            "channel",
            "渠道",
            "values",
            {"account_manager": "客户经理", "call_center": "外呼", "store": "营业厅"},
        ),
    ),
}


def _to_raw(col: RawColumn, arr: pa.Array) -> pa.Array:
    """Convert one canonical column to its raw representation."""
    if col.kind == "values":
        keys = list(col.values)
        raw = pa.array([col.values[k] for k in keys])
        idx = pc.index_in(arr, value_set=pa.array(keys, type=arr.type))
        return raw.take(idx)
    if col.kind == "scaled":
        return pc.cast(pc.round(pc.divide(pc.cast(arr, pa.float64()), col.scale)), pa.int64())
    if col.kind == "int":  # integers format ~2x faster than doubles in the CSV writer
        return pc.cast(pc.round(arr), pa.int64())
    if col.kind == "date":  # YYYYMMDD text; numpy is ~20x faster than pc.strftime here
        days = pc.fill_null(pc.cast(arr, pa.int32()), 0).to_numpy(zero_copy_only=False)
        text = pc.cast(pa.array(_ymd(days)), pa.string())
        return pc.if_else(pc.is_valid(arr), text, pa.scalar(None, pa.string()))
    return arr


def to_raw(table: pa.Table | pa.RecordBatch, columns: tuple[RawColumn, ...]) -> pa.Table:
    """Return ``table`` (canonical) renamed and converted to the raw export format."""
    arrays = [_to_raw(c, table.column(c.canonical)) for c in columns]
    if isinstance(table, pa.RecordBatch):
        arrays = [pa.chunked_array([a]) for a in arrays]
    return pa.table(arrays, names=[c.source for c in columns])


def _mapping_columns(columns: tuple[RawColumn, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in columns:
        spec: dict[str, Any] = {"source": c.source}
        f = BY_NAME.get(c.canonical)
        if f is not None and f.type in ("date",):
            spec["type"] = "date"
        if c.kind == "values":
            spec["values"] = {raw: canon for canon, raw in c.values.items()}
        if c.kind == "scaled":
            spec["scale"] = c.scale
        out[c.canonical] = spec
    return out


def mapping_dict(
    fmt: str = "csv",
    encoding: str = "utf-8",
    references: tuple[str, ...] = tuple(REFERENCE_COLUMNS),
) -> dict[str, Any]:
    """Return the mapping (YAML content) that maps the raw export to the canonical schema."""
    doc: dict[str, Any] = {"version": 1}
    if fmt == "csv":
        doc.update(encoding=encoding, delimiter=",")
    doc["date_format"] = "%Y%m%d"
    doc["columns"] = _mapping_columns(SUBSCRIBER_COLUMNS)
    if references:
        doc["reference"] = {
            name: {"file": f"{name}.csv", "columns": _mapping_columns(REFERENCE_COLUMNS[name])}
            for name in references
        }
    return doc


class _CsvSink:
    """Stream record batches into one CSV file in the requested encoding."""

    def __init__(self, path: Path, schema: pa.Schema, encoding: str) -> None:
        self.encoding = encoding.lower().replace("_", "-")
        self.fh = path.open("wb")
        self.utf8 = self.encoding in ("utf-8", "utf8", "utf-8-sig")
        if self.encoding == "utf-8-sig":
            self.fh.write(b"\xef\xbb\xbf")
        self.schema = schema
        self.header = True
        self.options = pacsv.WriteOptions(quoting_style="needed")
        self.writer = (
            pacsv.CSVWriter(self.fh, schema, write_options=self.options) if self.utf8 else None
        )

    def write(self, table: pa.Table) -> None:
        if self.writer is not None:
            self.writer.write_table(table)
            return
        buf = io.BytesIO()  # pyarrow writes UTF-8 only: transcode chunk by chunk
        opts = pacsv.WriteOptions(include_header=self.header, quoting_style="needed")
        pacsv.write_csv(table, buf, opts)
        self.header = False
        self.fh.write(buf.getvalue().decode("utf-8").encode(self.encoding))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.fh.close()


def _write_table(path: Path, table: pa.Table, fmt: str, encoding: str) -> None:
    if fmt == "parquet" and path.suffix == ".parquet":
        pq.write_table(table, path)
        return
    sink = _CsvSink(path, table.schema, encoding)
    sink.write(table)
    sink.close()


def _month_sources(
    source: SyntheticOperator | Sequence[tuple[dt.date, pa.Table]], months: int, batch_size: int
) -> Iterator[tuple[dt.date, Iterator[pa.RecordBatch]]]:
    if isinstance(source, SyntheticOperator):
        for i in range(months):
            if i:
                source.advance()
            yield source.month, source.iter_batches(batch_size)
    else:
        for month, table in source:
            yield month, iter(table.to_batches(max_chunksize=batch_size))


def write_raw(
    source: SyntheticOperator | Sequence[tuple[dt.date, pa.Table]],
    out_dir: str | Path,
    months: int = 1,
    fmt: str = "csv",
    encoding: str = "utf-8",
    batch_size: int = 500_000,
    on_progress: Callable[[int], None] | None = None,
    references: dict[str, pa.Table] | None = None,
) -> dict[str, Any]:
    """Write monthly raw files, the reference tables and ``mapping.yaml`` into ``out_dir``.

    Args:
        source: an operator (advanced ``months - 1`` times, no treatments, starting at its
            current month) or a history ``[(month, canonical table), ...]`` such as
            :func:`weixi.synth.generate.make_history` returns (``months`` is then ignored).
        out_dir: folder to create/fill.
        months: number of consecutive months to write from an operator.
        fmt: ``csv`` or ``parquet``.
        encoding: CSV encoding (utf-8, utf-8-sig, gbk, gb18030).
        batch_size: rows per streamed chunk (bounds memory).
        on_progress: called with the number of rows written after each chunk.
        references: canonical reference tables; default: the operator's own, none for a
            history (the mapping then has no ``reference`` section).

    Returns:
        ``{"out_dir", "mapping", "months": [{"month", "file", "rows"}], "reference": {...},
        "seconds"}``.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError("--format must be csv or parquet, got {fmt!r}", fmt=fmt)
    if months < 1:
        raise ConfigError("months must be at least 1, got {months}", months=months)
    try:
        "地市".encode(encoding)
    except LookupError as exc:
        raise ConfigError(
            "unknown encoding {encoding!r}; use utf-8, gbk or gb18030", encoding=encoding
        ) from exc
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    written = []
    for month, batches in _month_sources(source, months, batch_size):
        path = out / f"subscribers_{format_month(month)}.{fmt}"
        rows = 0
        writer: Any = None

        def next_raw(batches=batches) -> pa.Table | None:
            batch = next(batches, None)
            return None if batch is None else to_raw(batch, SUBSCRIBER_COLUMNS)

        # one worker prepares the next chunk while this thread writes the current one
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(next_raw)
            while (raw := pending.result()) is not None:
                pending = pool.submit(next_raw)
                if writer is None:
                    writer = (
                        pq.ParquetWriter(path, raw.schema)
                        if fmt == "parquet"
                        else _CsvSink(path, raw.schema, encoding)
                    )
                writer.write(raw) if fmt == "csv" else writer.write_table(raw)
                rows += raw.num_rows
                if on_progress:
                    on_progress(raw.num_rows)
        if writer is not None:
            writer.close()
        written.append({"month": format_month(month), "file": str(path), "rows": rows})
    if references is None and isinstance(source, SyntheticOperator):
        references = source.reference_tables()
    refs = {}
    for name, table in (references or {}).items():
        path = out / f"{name}.csv"
        _write_table(path, to_raw(table, REFERENCE_COLUMNS[name]), "csv", encoding)
        refs[name] = {"file": str(path), "rows": table.num_rows}
    mapping_path = out / "mapping.yaml"
    mapping_path.write_text(
        "# Mapping of the synthetic operator's raw export to weixi's canonical schema.\n"
        + yaml.safe_dump(
            mapping_dict(fmt, encoding, references=tuple(refs)),
            allow_unicode=True,
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    return {
        "out_dir": str(out),
        "mapping": str(mapping_path),
        "months": written,
        "reference": refs,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def required_fields_covered() -> bool:
    """True when the raw subscriber columns cover every canonical field."""
    return {c.canonical for c in SUBSCRIBER_COLUMNS} == {f.name for f in FIELDS}
