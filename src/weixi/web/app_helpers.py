"""Small formatting helpers shared by routes (month keys, query parsing)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def month_label(value: Any) -> str:
    """``YYYY-MM`` for a date, ``–`` for None."""
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}"
    return "–" if value is None else str(value)[:7]
