"""Small hand-made fixtures for the ingest tests: a compact mapping and a CSV writer."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

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
