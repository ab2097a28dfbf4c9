"""Exports of lists and reports: Excel (XlsxWriter, formatted) and CSV — always masked.

Every export is written to the audit log by the route that serves it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import xlsxwriter

from weixi.security.masking import mask_records

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return str(value)
    return value


def to_csv(records: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> bytes:
    """CSV (UTF-8 with BOM so Excel opens Chinese text) of masked ``records``."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([label for _, label in columns])
    for r in mask_records(records):
        writer.writerow([_cell(r.get(key)) for key, _ in columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(
    records: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    sheet: str = "list",
    title: str = "",
) -> bytes:
    """A formatted Excel workbook (header row, frozen panes, filters) of masked ``records``."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet(sheet[:31])
    head = wb.add_format({"bold": True, "bg_color": "#16233A", "font_color": "#FFFFFF"})
    title_fmt = wb.add_format({"bold": True, "font_size": 13})
    num = wb.add_format({"num_format": "#,##0.00"})
    row0 = 0
    if title:
        ws.write(0, 0, title, title_fmt)
        row0 = 2
    for c, (_, label) in enumerate(columns):
        ws.write(row0, c, label, head)
        ws.set_column(c, c, max(12, min(40, len(label) + 4)))
    masked = mask_records(records)
    for r_i, r in enumerate(masked, start=row0 + 1):
        for c, (key, _) in enumerate(columns):
            v = _cell(r.get(key))
            if isinstance(v, float):
                ws.write_number(r_i, c, v, num)
            else:
                ws.write(r_i, c, v)
    ws.freeze_panes(row0 + 1, 0)
    if masked:
        ws.autofilter(row0, 0, row0 + len(masked), len(columns) - 1)
    wb.close()
    return buf.getvalue()


def to_xlsx_sheets(
    sheets: Sequence[tuple[str, Sequence[dict[str, Any]], Sequence[tuple[str, str]]]],
    *,
    title: str = "",
) -> bytes:
    """One workbook with a formatted sheet per ``(name, records, columns)`` (masked records)."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    head = wb.add_format({"bold": True, "bg_color": "#16233A", "font_color": "#FFFFFF"})
    title_fmt = wb.add_format({"bold": True, "font_size": 13})
    num = wb.add_format({"num_format": "#,##0.00"})
    for name, records, columns in sheets:
        ws = wb.add_worksheet(name[:31])
        row0 = 0
        if title:
            ws.write(0, 0, f"{title} · {name}", title_fmt)
            row0 = 2
        for c, (_, label) in enumerate(columns):
            ws.write(row0, c, label, head)
            ws.set_column(c, c, max(12, min(40, len(label) + 4)))
        for r_i, r in enumerate(mask_records(records), start=row0 + 1):
            for c, (key, _) in enumerate(columns):
                v = _cell(r.get(key))
                ws.write_number(r_i, c, v, num) if isinstance(v, float) else ws.write(r_i, c, v)
        ws.freeze_panes(row0 + 1, 0)
    wb.close()
    return buf.getvalue()
