"""Month keys and the churn label derived from the next snapshot.

A month is stored as the DATE of its first day; the CLI speaks ``YYYY-MM``.
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb

from weixi.errors import ConfigError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str | dt.date) -> dt.date:
    """Parse ``YYYY-MM`` (or a date) into the first day of that month.

    >>> parse_month("2026-03")
    datetime.date(2026, 3, 1)
    """
    if isinstance(text, dt.date):
        return text.replace(day=1)
    m = _MONTH.match(text.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ConfigError("month must look like YYYY-MM, got {text!r}", text=text)
    return dt.date(int(m.group(1)), int(m.group(2)), 1)


def format_month(month: dt.date) -> str:
    """Format a month date as ``YYYY-MM``."""
    return f"{month.year:04d}-{month.month:02d}"


def add_months(month: dt.date, n: int) -> dt.date:
    """Shift a month by ``n`` months (negative allowed).

    >>> add_months(dt.date(2026, 11, 1), 3)
    datetime.date(2027, 2, 1)
    """
    idx = month.year * 12 + month.month - 1 + n
    return dt.date(idx // 12, idx % 12 + 1, 1)


def loaded_months(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """Return the months present in the snapshot table, oldest first."""
    rows = con.execute("SELECT DISTINCT month FROM snapshot ORDER BY month").fetchall()
    return [r[0] for r in rows]


CHURN_LABEL_SQL = """
SELECT s.month, s.subscriber_id,
       CASE WHEN n.subscriber_id IS NULL OR n.status = 'cancelled' THEN 1 ELSE 0 END AS churned
FROM snapshot s
LEFT JOIN snapshot n
  ON n.subscriber_id = s.subscriber_id AND n.month = s.month + INTERVAL 1 MONTH
WHERE s.status <> 'cancelled'
"""


def churn_label_sql(month: dt.date | None = None) -> str:
    """SQL giving ``(month, subscriber_id, churned)``: churned = gone or cancelled next month.

    Only meaningful for months whose next month is loaded (check with :func:`loaded_months`).
    """
    if month is None:
        return CHURN_LABEL_SQL
    return CHURN_LABEL_SQL + f" AND s.month = DATE '{month.isoformat()}'"
