"""Segment a month: features → rules (DuckDB or Spark) → clusters → stored tables.

I/O lives here; the rules themselves are pure ibis expressions (``features``, ``exprs``).
Re-running a month replaces all its rows in ``segments``, ``segment_profiles``,
``segment_migration``, ``segment_funnel``, ``segment_clusters`` and ``segment_runs`` in one
DuckDB transaction, so readers never see half a month.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from weixi.errors import ConfigError, NotFoundError, RuleError
from weixi.segment import clusters, profiles
from weixi.segment.clusters import ClusterModel, ClusterSummary
from weixi.segment.exprs import (
    SEGMENT_COLUMNS,
    Issue,
    apply_rules,
    check_masks,
    issues_from_counts,
    select_segments,
)
from weixi.segment.features import GROUPS_SCHEMA, features, snapshot_schema
from weixi.segment.rules import DIMENSION_KEYS, RuleSet, load_preset
from weixi.store.backends import connect_engine
from weixi.store.months import add_months, format_month, loaded_months, parse_month

_ARROW_TYPES = {
    "date": pa.date32(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "int32": pa.int32(),
    "float64": pa.float64(),
}
SEGMENTS_SCHEMA = pa.schema([(n, _ARROW_TYPES[t]) for n, t in SEGMENT_COLUMNS.items()])
TABLES = (
    "segments",
    "segment_profiles",
    "segment_migration",
    "segment_funnel",
    "segment_clusters",
    "segment_runs",
)


@dataclass
class SegmentRun:
    """What one run did: sizes, timings, validation issues and cluster descriptions."""

    month: dt.date
    preset: str
    engine: str
    subscribers: int
    excluded: int
    seconds: float
    issues: list[Issue] = field(default_factory=list)
    clusters: list[ClusterSummary] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _settle(con: duckdb.DuckDBPyConnection) -> None:
    """Finish any pending result on ``con`` (ibis issues relation queries on it)."""
    con.execute("SELECT 1").fetchall()


def _resolve_preset(preset: str | Path | RuleSet) -> RuleSet:
    return preset if isinstance(preset, RuleSet) else load_preset(preset)


def _require_month(con: duckdb.DuckDBPyConnection, month: dt.date) -> list[dt.date]:
    months = loaded_months(con)
    if month not in months:
        have = ", ".join(format_month(m) for m in months) or "none"
        raise NotFoundError(
            "month {month} is not loaded (loaded: {have}); import it first with `weixi import`",
            month=format_month(month),
            have=have,
        )
    return months


def _window_sql(month: dt.date) -> str:
    lo = add_months(month, -3).isoformat()
    return f"SELECT * FROM snapshot WHERE month BETWEEN DATE '{lo}' AND DATE '{month.isoformat()}'"


class _Inputs:
    """Hands the month's window of the snapshot (and enterprise groups) to an ibis backend."""

    def __init__(self, con: duckdb.DuckDBPyConnection, month: dt.date, engine: str):
        self.con = con
        self.month = month
        self.engine = engine
        self.tmp: Path | None = None

    def __enter__(self):
        _settle(self.con)
        if self.engine == "duckdb":
            # compiled to SQL and run on ``con`` itself: unbound tables of the canonical schemas
            # give the same SQL as backend tables without ibis's catalog round trips (~0.6 s)
            snap = ibis.table(snapshot_schema(), name="snapshot")
            groups = ibis.table(GROUPS_SCHEMA, name="enterprise_groups")
            return snap, groups
        backend = connect_engine(self.engine, self.con)
        # Spark reads Parquet exported from the store (an operator's lake would be read directly)
        self.tmp = Path(tempfile.mkdtemp(prefix="weixi-seg-"))
        tag = uuid.uuid4().hex[:8]
        snap_path = self.tmp / "snapshot.parquet"
        self.con.execute(f"COPY ({_window_sql(self.month)}) TO '{snap_path}' (FORMAT parquet)")
        snap = backend.read_parquet(str(snap_path), table_name=f"weixi_snapshot_{tag}")
        gp = self.tmp / "groups.parquet"
        self.con.execute(f"COPY enterprise_groups TO '{gp}' (FORMAT parquet)")
        groups = backend.read_parquet(str(gp), table_name=f"weixi_groups_{tag}")
        return snap, groups

    def __exit__(self, *exc):
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


#: Per-connection scratch tables of a run (DuckDB temp tables vanish with the connection).
_RESULT = "_weixi_segment_result"
_ARROW = "_weixi_segment_arrow"


def _materialize(
    con: duckdb.DuckDBPyConnection, month: dt.date, rs: RuleSet, engine: str, validate: bool
) -> tuple[int, int, list[Issue]]:
    """Segment ``month`` into the temp table ``_RESULT``: the ``segments`` columns (``cluster``
    NULL) plus the check masks. Return ``(rows, excluded, issues)``.

    On DuckDB the compiled query runs straight into the temp table, so the month never leaves
    the database; Spark's result comes back as Arrow and is copied in. The data check then
    reads small histograms of the masks (one GROUP BY per mask) instead of the rows.
    """
    if engine not in ("duckdb", "spark"):
        raise ConfigError("unknown engine {engine!r}: use duckdb or spark", engine=engine)
    with _Inputs(con, month, engine) as (snap, groups):
        full = apply_rules(features(snap, month, groups), rs)
        masks, meta = check_masks(full, rs) if validate else ({}, [])
        expr = select_segments(full, **masks)
        if engine == "duckdb":
            sql = ibis.to_sql(expr, dialect="duckdb", pretty=False)  # pretty costs ~0.4 s
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_RESULT} AS {sql}")
        else:
            con.register(_ARROW, expr.to_pyarrow())
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {_RESULT} AS SELECT * FROM {_ARROW}")
            finally:
                con.unregister(_ARROW)
    totals = con.execute(f"SELECT count(*), count_if(excluded) FROM {_RESULT}").fetchall()
    rows, excluded = totals[0]
    counts: dict[str, dict[int, int]] = {name: {} for name, *_ in meta}
    if meta:
        hist = "\nUNION ALL\n".join(
            f"SELECT '{name}', \"{name}\", count(*) FROM {_RESULT} GROUP BY 2" for name, *_ in meta
        )
        for name, mask, n in con.execute(hist).fetchall():
            counts[name][int(mask)] = int(n)
    return int(rows), int(excluded or 0), issues_from_counts(counts, meta)


def _drop_scratch(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DROP TABLE IF EXISTS {_RESULT}")


def compute(
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    *,
    preset: str | Path | RuleSet = "seed",
    engine: str = "duckdb",
    validate: bool = True,
) -> tuple[pa.Table, list[Issue]]:
    """Segment ``month`` on ``engine`` and return the rows (``cluster`` still NULL) and issues.

    Nothing is stored. Rows are cast to the ``segments`` schema (so the DuckDB and Spark
    outputs compare equal after sorting by ``subscriber_id``); row order is not defined.
    """
    m = parse_month(month)
    rs = _resolve_preset(preset)
    _require_month(con, m)
    try:
        _, _, issues = _materialize(con, m, rs, engine, validate)
        table = con.sql(f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM {_RESULT}").to_arrow_table()
    finally:
        _drop_scratch(con)
    return table.cast(SEGMENTS_SCHEMA), issues


def segment_month(
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    *,
    preset: str | Path | RuleSet = "seed",
    engine: str = "duckdb",
    strict: bool = False,
) -> SegmentRun:
    """Segment ``month`` and store it (replacing any earlier run of that month atomically).

    Args:
        con: the analytics DuckDB connection (holds ``snapshot``; receives the results).
        month: ``YYYY-MM`` or a date.
        preset: 'seed', 'modern', a YAML path or a loaded ``RuleSet``.
        engine: 'duckdb' (default) or 'spark' (local Spark reads the month as Parquet).
        strict: raise ``RuleError`` when levels overlap or leave subscribers uncovered.

    Returns:
        A ``SegmentRun`` with counts, timings, issues and cluster descriptions.
    """
    t0 = time.perf_counter()
    m = parse_month(month)
    rs = _resolve_preset(preset)
    months = _require_month(con, m)
    timings: dict[str, float] = {}
    try:
        rows, excluded, issues = _materialize(con, m, rs, engine, validate=True)
        timings["rules"] = time.perf_counter() - t0
        if strict and issues:
            raise RuleError(
                "preset {preset} on {month}: {issues} — fix the levels or run without --strict",
                preset=rs.name,
                month=format_month(m),
                issues="; ".join(i.message() for i in issues),
            )
        t1 = time.perf_counter()
        model, summaries = clusters.fit(con, _RESULT, rs.clusters)
        timings["clusters"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        _store(con, m, months, rs, engine, rows, excluded, issues, model, summaries, t0)
        timings["store"] = time.perf_counter() - t2
    finally:
        _drop_scratch(con)
    return SegmentRun(
        month=m,
        preset=rs.name,
        engine=engine,
        subscribers=rows,
        excluded=excluded,
        seconds=time.perf_counter() - t0,
        issues=issues,
        clusters=summaries,
        timings=timings,
    )


def _store(
    con: duckdb.DuckDBPyConnection,
    m: dt.date,
    months: list[dt.date],
    rs: RuleSet,
    engine: str,
    rows: int,
    excluded: int,
    issues: list[Issue],
    model: ClusterModel | None,
    summaries: list[ClusterSummary],
    t0: float,
) -> None:
    """Replace the month in every segment table in one transaction (``t0``: the run's start).

    Each line's cluster is assigned in the INSERT itself (nearest centre, in SQL).
    """
    next_loaded = add_months(m, 1) in months
    cols = ", ".join(SEGMENT_COLUMNS)
    label = model.label_sql() if model is not None else "NULL::INTEGER"
    source = model.with_nearest(_RESULT) if model is not None else f"SELECT * FROM {_RESULT}"
    select = ", ".join(label if c == "cluster" else c for c in SEGMENT_COLUMNS)
    d = f"DATE '{m.isoformat()}'"
    con.execute("BEGIN TRANSACTION")
    try:
        for tbl in TABLES:
            con.execute(f"DELETE FROM {tbl} WHERE month = {d}")
        con.execute(
            f"INSERT INTO segments ({cols}) SELECT {select} FROM ({source}) "
            "ORDER BY subscriber_id"  # zone maps: a line's look-up reads one row group
        )
        con.execute(f"INSERT INTO segment_profiles {profiles.profiles_sql(m, next_loaded)}")
        con.execute(f"INSERT INTO segment_migration {profiles.migration_sql(m)}")
        nxt = add_months(m, 1)
        has_next_segments = bool(
            con.execute(
                f"SELECT count(*) FROM segments WHERE month = DATE '{nxt.isoformat()}'"
            ).fetchall()[0][0]
        )
        if has_next_segments:  # next month's migration started from this month: refresh it
            con.execute(f"DELETE FROM segment_migration WHERE month = DATE '{nxt.isoformat()}'")
            con.execute(f"INSERT INTO segment_migration {profiles.migration_sql(nxt)}")
        funnel = profiles.funnel_rows(con, m, [e.key for e in rs.exclusions])
        if funnel:
            # one INSERT from Arrow: executemany costs ~1 s for a few hundred rows
            cols = ("month", "branch_id", "line_type", "step", "rule", "removed", "remaining")
            types = (pa.date32(), pa.string(), pa.string(), pa.int32(), pa.string())
            types += (pa.int64(), pa.int64())
            con.register(
                _ARROW,
                pa.table(
                    [pa.array(c, t) for c, t in zip(zip(*funnel, strict=True), types, strict=True)],
                    names=list(cols),
                ),
            )
            try:
                con.execute(f"INSERT INTO segment_funnel SELECT * FROM {_ARROW}")
            finally:
                con.unregister(_ARROW)
        if summaries:
            con.executemany(
                "INSERT INTO segment_clusters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        m,
                        s.cluster,
                        s.size,
                        s.share,
                        s.broadband_share,
                        json.dumps(s.means),
                        json.dumps(s.ratios),
                        s.description_en,
                        s.description_zh,
                    )
                    for s in summaries
                ],
            )
        seconds = time.perf_counter() - t0
        con.execute(
            "INSERT INTO segment_runs VALUES (?, ?, ?, now(), ?, ?, ?, ?)",
            [
                m,
                rs.name,
                engine,
                seconds,
                rows,
                excluded,
                json.dumps([i.message() for i in issues], ensure_ascii=False),
            ],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _require_segmented(con: duckdb.DuckDBPyConnection, month: dt.date) -> None:
    if not con.execute("SELECT count(*) FROM segments WHERE month = ?", [month]).fetchall()[0][0]:
        raise NotFoundError(
            "month {month} is not segmented yet: run `weixi segment --month {month}`",
            month=format_month(month),
        )


def get_counts(con: duckdb.DuckDBPyConnection, month: str | dt.date) -> dict[str, dict[str, int]]:
    """Count kept subscribers per level of every dimension (plus stability group, urgency, code
    prefix and cluster) for a stored month."""
    m = parse_month(month)
    _require_segmented(con, m)
    dims = [*DIMENSION_KEYS, "stability_group", "urgency", "priority_rank", "cluster", "line_type"]
    sql = "\nUNION ALL\n".join(
        f"SELECT '{k}', CAST({k} AS VARCHAR), count(*) FROM segments "
        f"WHERE month = ? AND NOT excluded AND {k} IS NOT NULL GROUP BY 2"
        for k in dims
    )
    rows = con.execute(sql, [m] * len(dims)).fetchall()
    out: dict[str, dict[str, int]] = {k: {} for k in dims}
    for dim, level, n in rows:
        out[dim][level] = int(n)
    for k in out:
        out[k] = dict(sorted(out[k].items(), key=lambda kv: (len(kv[0]), kv[0])))
    return out


def get_funnel(con: duckdb.DuckDBPyConnection, month: str | dt.date) -> list[dict]:
    """The stored exclusion funnel of ``month``, in rule order.

    Each step: ``{"step", "rule", "removed", "remaining", "by_branch": {branch: {"removed",
    "remaining"}}, "by_line_type": {...}}``; step 0 is the total, the last step ``kept``.
    """
    m = parse_month(month)
    _require_segmented(con, m)
    rows = con.execute(
        """SELECT step, rule, sum(removed), sum(remaining) FROM segment_funnel
           WHERE month = ? GROUP BY step, rule ORDER BY step""",
        [m],
    ).fetchall()
    out = []
    detail: dict[str, dict[int, dict]] = {}
    for key in ("branch_id", "line_type"):
        detail[key] = {}
        for step, k, removed, remaining in con.execute(
            f"""SELECT step, {key}, sum(removed), sum(remaining) FROM segment_funnel
                WHERE month = ? GROUP BY ALL ORDER BY 1, 2""",
            [m],
        ).fetchall():
            detail[key].setdefault(step, {})[str(k)] = {
                "removed": int(removed),
                "remaining": int(remaining),
            }
    for step, rule, removed, remaining in rows:
        out.append(
            {
                "step": int(step),
                "rule": rule,
                "removed": int(removed),
                "remaining": int(remaining),
                "by_branch": detail["branch_id"].get(step, {}),
                "by_line_type": detail["line_type"].get(step, {}),
            }
        )
    return out


def get_clusters(con: duckdb.DuckDBPyConnection, month: str | dt.date) -> list[dict]:
    """The stored cluster descriptions of ``month``."""
    m = parse_month(month)
    _require_segmented(con, m)
    cur = con.execute("SELECT * FROM segment_clusters WHERE month = ? ORDER BY cluster", [m])
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def get_profiles(
    con: duckdb.DuckDBPyConnection, month: str | dt.date, dimension: str | None = None
) -> list[dict]:
    """The stored segment profiles of ``month`` (optionally one dimension)."""
    m = parse_month(month)
    _require_segmented(con, m)
    sql = "SELECT * FROM segment_profiles WHERE month = ?"
    args: list = [m]
    if dimension:
        sql += " AND dimension = ?"
        args.append(dimension)
    cur = con.execute(sql + " ORDER BY dimension, segment", args)
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def get_migration(
    con: duckdb.DuckDBPyConnection, month: str | dt.date, dimension: str = "stability_group"
) -> list[dict]:
    """The stored migration matrix into ``month`` as rows (from, to, subscribers)."""
    m = parse_month(month)
    _require_segmented(con, m)
    cur = con.execute(
        """SELECT from_segment, to_segment, subscribers FROM segment_migration
           WHERE month = ? AND dimension = ? ORDER BY from_segment, to_segment""",
        [m, dimension],
    )
    return [{"from": f, "to": t, "subscribers": int(n)} for f, t, n in cur.fetchall()]


#: Export columns: (segments column or SQL, English header, Chinese header).
EXPORT_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("subscriber_id", "s.subscriber_id", "Subscriber ID", "用户标识"),
    ("phone", "__phone__", "Phone (masked)", "手机号码(脱敏)"),
    ("name", "__name__", "Name (masked)", "客户姓名(脱敏)"),
    ("customer_id", "s.customer_id", "Customer ID", "客户标识"),
    ("branch_id", "s.branch_id", "Branch", "地市"),
    ("line_type", "s.line_type", "Line type", "业务类型"),
    ("code", "s.code", "Segment code", "分层编码"),
    ("stability_group", "s.stability_group", "Stability group", "稳定度分群"),
    ("priority_rank", "s.priority_rank", "Priority rank", "优先级"),
    ("urgency", "s.urgency", "Urgency", "紧迫度"),
    ("a", "s.a", "Binding (A)", "捆绑度"),
    ("b", "s.b", "Value (B)", "客户价值"),
    ("c", "s.c", "Churn tendency (C)", "离网倾向"),
    ("d", "s.d", "Handset tier (D)", "终端档次"),
    ("e", "s.e", "Replacement need (E)", "换机需求"),
    ("f", "s.f", "Data need (F)", "流量需求"),
    ("g", "s.g", "Mobile add-on (G)", "手机加装"),
    ("h", "s.h", "Broadband speed (H)", "宽带速率"),
    ("i", "s.i", "ITV bundle (I)", "ITV捆绑"),
    ("vad", "s.vad", "VAD class", "VAD分类"),
    ("vip_tier", "s.vip_tier", "VIP tier", "VIP等级"),
    ("group_class", "s.group_class", "Group class", "集团分类"),
    ("value_class", "s.value_class", "Value class", "价值分类"),
    ("relationship", "s.relationship", "Relationship", "客户关系"),
    ("credit", "s.credit", "Credit list", "信誉度"),
    ("satisfaction_band", "s.satisfaction_band", "Satisfaction band", "满意度"),
    ("cluster", "s.cluster", "Cluster", "聚类"),
    ("arpu", "s.arpu", "ARPU (yuan)", "ARPU(元)"),
    ("arpu_3m", "s.arpu_3m", "3-month ARPU (yuan)", "近三月平均ARPU(元)"),
    ("arpu_drop_pct", "s.arpu_drop_pct", "ARPU drop (%)", "ARPU降幅(%)"),
    (
        "months_to_contract_end",
        "s.months_to_contract_end",
        "Months to contract end",
        "协议剩余月数",
    ),
    ("excluded", "s.excluded", "Excluded", "已剔除"),
    ("exclusion_reason", "s.exclusion_reason", "Exclusion reason", "剔除原因"),
)
XLSX_MAX_ROWS = 1_048_575


def export_sql(
    month: dt.date,
    *,
    branch: str | None = None,
    include_excluded: bool = True,
    has_snapshot_pii: bool = True,
) -> str:
    """The SELECT behind an export: PII masked in SQL, ordered by priority then subscriber."""
    from weixi.security.masking import mask_name_sql, mask_phone_sql

    cols = []
    for name, expr, _, _ in EXPORT_COLUMNS:
        if expr == "__phone__":
            expr = mask_phone_sql("n.phone") if has_snapshot_pii else "NULL"
        elif expr == "__name__":
            expr = mask_name_sql("n.name") if has_snapshot_pii else "NULL"
        cols.append(f"{expr} AS {name}")
    where = [f"s.month = DATE '{month.isoformat()}'"]
    if branch:
        where.append(f"s.branch_id = '{branch.replace(chr(39), '')}'")
    if not include_excluded:
        where.append("NOT s.excluded")
    join = (
        "LEFT JOIN snapshot n ON n.month = s.month AND n.subscriber_id = s.subscriber_id"
        if has_snapshot_pii
        else ""
    )
    return (
        f"SELECT {', '.join(cols)} FROM segments s {join} WHERE {' AND '.join(where)} "
        "ORDER BY s.priority_rank NULLS LAST, s.subscriber_id"
    )


def export(
    con: duckdb.DuckDBPyConnection,
    month: str | dt.date,
    out: str | Path,
    *,
    branch: str | None = None,
    include_excluded: bool = True,
) -> int:
    """Write the month's segments to ``out`` (.xlsx, .csv or .parquet); return the row count.

    Phone numbers and names are masked (138****1234) in SQL. The xlsx has bilingual headers
    ("Segment code / 分层编码"); CSV and Parquet use the plain column names for machines.
    """
    m = parse_month(month)
    _require_segmented(con, m)
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv", ".parquet"):
        raise ConfigError(
            "cannot export to {name}: use a .xlsx, .csv or .parquet file", name=path.name
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    sql = export_sql(m, branch=branch, include_excluded=include_excluded)
    if suffix in (".csv", ".parquet"):
        fmt = "(HEADER, DELIMITER ',')" if suffix == ".csv" else "(FORMAT parquet)"
        con.execute(f"COPY ({sql}) TO '{str(path).replace(chr(39), chr(39) * 2)}' {fmt}")
        return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])
    n = int(con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])
    if n > XLSX_MAX_ROWS:
        raise ConfigError(
            "{n:,} rows do not fit in one Excel sheet ({max_rows:,}): "
            "filter with --branch or export to .csv / .parquet",
            n=n,
            max_rows=XLSX_MAX_ROWS,
        )
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    try:
        ws = wb.add_worksheet(f"{format_month(m)}")
        head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "text_wrap": True})
        for j, (_, _, en, zh) in enumerate(EXPORT_COLUMNS):
            ws.write(0, j, f"{en} / {zh}", head)
            ws.set_column(j, j, 16)
        ws.freeze_panes(1, 0)
        _settle(con)
        reader = con.sql(sql).to_arrow_reader(50_000)
        row = 1
        for batch in reader:
            cols = [batch.column(j).to_pylist() for j in range(batch.num_columns)]
            for values in zip(*cols, strict=True):  # xlsx is written cell by cell by design
                ws.write_row(row, 0, values)
                row += 1
    finally:
        wb.close()
    return n
