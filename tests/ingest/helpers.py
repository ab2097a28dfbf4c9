"""Small hand-made fixtures for the ingest tests: a compact mapping, a CSV writer, a reader."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import duckdb

from weixi.ingest.read import RawFile, read_staged, stage_file, with_record_numbers

MAPPING_YAML = """\
version: 1
columns:
  subscriber_id: {source: YHBS}
  branch_id: {source: DS}
  line_type: {source: 业务类型, values: {移动: mobile, 宽带: broadband}}
  status: {source: ZT, values: {正常: active, 销户: cancelled}}
  activation_date: {source: RWSJ}
  contract_start: {source: HYKS}
  contract_end: {source: HYJS}
  arpu: {source: ARPU_FEN, scale: 0.01}
  do_not_disturb: {source: MDR}
  complaints: {source: TS}
"""

HEADER = ["YHBS", "DS", "业务类型", "ZT", "RWSJ", "HYKS", "HYJS", "ARPU_FEN", "MDR", "TS"]


def good_row(i: int) -> list[str]:
    """A valid raw row for subscriber ``S{i}``."""
    return [f"S{i:06d}", "HZ", "移动", "正常", "20200115", "", "", str(1000 + i), "否", "0"]


def write_csv(
    path: Path,
    rows: Sequence[Sequence[str]],
    *,
    header: Sequence[str] = HEADER,
    encoding: str = "utf-8",
    delimiter: str = ",",
    trailing_newline: bool = True,
) -> Path:
    """Write ``rows`` under ``header`` as CSV in ``encoding``."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    if not trailing_newline:
        data = path.read_bytes()
        path.write_bytes(data.rstrip(b"\n"))
    return path


def write_mapping(path: Path, text: str = MAPPING_YAML) -> Path:
    """Write a mapping file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path


def stage_and_read(
    con: duckdb.DuckDBPyConnection, path: Path, *, prefix: str, tmpdir: Path, **kw
) -> RawFile:
    """Stage ``path`` and read it as text, the way the importer reads it; ``raw.view`` is then
    a view of its rows with ``__row``, their record number as the quarantine reports it."""
    raw = stage_file(con, path, prefix=prefix, tmpdir=tmpdir, **kw)
    table = f"{prefix}text"
    read_staged(con, raw, f"CREATE TEMP TABLE {table} AS SELECT * FROM {raw.source}")
    rows = f"(SELECT rowid AS __p, CAST(NULL AS BIGINT) AS __row, * FROM {table})"
    con.execute(f"CREATE TEMP VIEW {prefix}view AS {with_record_numbers(raw, rows, '__p')}")
    raw.view = f"{prefix}view"
    raw.temp_objects += [("TABLE", table), ("VIEW", raw.view)]
    return raw
