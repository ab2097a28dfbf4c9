"""Masking of personal data (PIPL): phone numbers, names and identity numbers.

Lists, pages, API responses and exports show masked values unless the user's role may unmask,
and every unmask is written to the audit log (``weixi.security.audit``).

Example:
    >>> mask_phone("13812341234")
    '138****1234'
    >>> mask_name("张三丰")
    '张**'
    >>> mask_id("110101199003074578")
    '1101**********4578'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from weixi.ingest.schema import FIELDS

#: Canonical fields that hold personal data (``pii=True`` in the schema).
PII_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.pii)


def mask_phone(value: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: ``13812341234`` -> ``138****1234``."""
    if value is None:
        return None
    s = str(value).strip()
    if len(s) <= 4:
        return "*" * len(s)
    if len(s) < 8:
        return s[:1] + "*" * (len(s) - 3) + s[-2:]
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def mask_name(value: str | None) -> str | None:
    """Keep the first character (the family name): ``张三丰`` -> ``张**``."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return s
    return s[0] + "*" * max(len(s) - 1, 1)


def mask_id(value: str | None) -> str | None:
    """Keep the first 4 and last 4 characters of an ID number."""
    if value is None:
        return None
    s = str(value).strip()
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


MASKERS = {"phone": mask_phone, "name": mask_name, "id_number": mask_id}


def mask_value(column: str, value: Any) -> Any:
    """Mask ``value`` when ``column`` is a personal-data column; otherwise return it unchanged."""
    fn = MASKERS.get(column)
    return fn(value) if fn and value is not None else value


def mask_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``record`` with every personal-data column masked."""
    return {k: mask_value(k, v) for k, v in record.items()}


def mask_records(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mask every record of ``records``."""
    return [mask_record(r) for r in records]


def mask_sql(column: str, alias: str | None = None) -> str:
    """A DuckDB SQL expression masking ``column`` (for bulk exports without Python loops)."""
    out = alias or column
    c = f'CAST("{column}" AS VARCHAR)'
    if column == "phone":
        expr = (
            f"CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) <= 4 THEN repeat('*', length({c})) "
            f"WHEN length({c}) < 8 THEN left({c}, 1) || repeat('*', length({c}) - 3) || right({c}, 2) "
            f"ELSE left({c}, 3) || repeat('*', length({c}) - 7) || right({c}, 4) END"
        )
    elif column == "name":
        expr = (
            f"CASE WHEN {c} IS NULL OR length(trim({c})) = 0 THEN {c} "
            f"ELSE left(trim({c}), 1) || repeat('*', greatest(length(trim({c})) - 1, 1)) END"
        )
    elif column == "id_number":
        expr = (
            f"CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) <= 8 THEN repeat('*', length({c})) "
            f"ELSE left({c}, 4) || repeat('*', length({c}) - 8) || right({c}, 4) END"
        )
    else:
        expr = f'"{column}"'
    return f'{expr} AS "{out}"'


_MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{4})(\d{10})(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_text(value: Any) -> Any:
    """Mask mainland mobile numbers and 18-character ID numbers inside free text.

    A safety net for values whose column is not known to be personal (raw quarantined rows,
    notes): ``'call 13812341234'`` -> ``'call 138****1234'``.
    """
    if not isinstance(value, str):
        return value
    value = _MOBILE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", value)
    return _ID_RE.sub(lambda m: f"{m.group(1)}{'*' * 10}{m.group(3)}", value)


def mask_record_deep(record: Mapping[str, Any]) -> dict[str, Any]:
    """Mask personal-data columns and any phone/ID number found inside other text values."""
    return {k: mask_text(mask_value(k, v)) for k, v in record.items()}


def mask_phone_sql(col: str) -> str:
    """SQL (DuckDB and Spark) masking the SQL expression ``col`` like :func:`mask_phone`.

    >>> import duckdb
    >>> duckdb.sql(f"SELECT {mask_phone_sql(repr('13812341234'))}").fetchall()[0][0]
    '138****1234'
    """
    c = f"CAST({col} AS VARCHAR)"
    return (
        f"(CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) <= 4 THEN repeat('*', length({c})) "
        f"WHEN length({c}) < 8 THEN substr({c}, 1, 1) || repeat('*', length({c}) - 3) "
        f"|| substr({c}, length({c}) - 1, 2) "
        f"ELSE substr({c}, 1, 3) || repeat('*', length({c}) - 7) "
        f"|| substr({c}, length({c}) - 3, 4) END)"
    )


def mask_name_sql(col: str) -> str:
    """SQL masking the expression ``col`` like :func:`mask_name` (keep the first character)."""
    c = f"trim(CAST({col} AS VARCHAR))"
    return (
        f"(CASE WHEN {col} IS NULL THEN NULL WHEN length({c}) = 0 THEN {c} "
        f"ELSE substr({c}, 1, 1) || repeat('*', greatest(length({c}) - 1, 1)) END)"
    )


def mask_id_sql(col: str) -> str:
    """SQL masking the expression ``col`` like :func:`mask_id` (keep first and last 4)."""
    c = f"CAST({col} AS VARCHAR)"
    return (
        f"(CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) <= 8 THEN repeat('*', length({c})) "
        f"ELSE substr({c}, 1, 4) || repeat('*', length({c}) - 8) "
        f"|| substr({c}, length({c}) - 3, 4) END)"
    )


_PII_KEY_HINTS = (
    "phone",
    "msisdn",
    "mobile",
    "tel",
    "name",
    "id_",
    "idno",
    "id_number",
    "cert",
    "号码",
    "电话",
    "姓名",
    "名称",
    "证件",
    "身份证",
)


def mask_raw_row(text: str | None) -> str | None:
    """Mask a raw input row kept as JSON (quarantine): values under personal-looking keys
    (phone, MSISDN, name, ID, 号码, 姓名, 证件 …) and phone/ID numbers anywhere."""
    if text is None:
        return None
    import json

    try:
        row = json.loads(text)
    except ValueError:
        return mask_text(text)
    if not isinstance(row, dict):
        return mask_text(text)
    out = {}
    for k, v in row.items():
        kind = pii_kind_of_key(str(k))
        if isinstance(v, str) and kind:
            v = MASKERS[kind](v)
        out[k] = mask_text(v)
    return json.dumps(out, ensure_ascii=False)


def pii_kind_of_key(key: str) -> str | None:
    """``phone``, ``name`` or ``id_number`` when a raw column name looks personal, else None.

    >>> pii_kind_of_key("KHXM_姓名"), pii_kind_of_key("ZJHM证件"), pii_kind_of_key("ARPU")
    ('name', 'id_number', None)
    """
    key = key.lower()
    if not any(h in key for h in _PII_KEY_HINTS):
        return None
    if "name" in key or "姓名" in key or "名称" in key:
        return "name"
    if "id" in key or "证件" in key or "身份证" in key or "cert" in key:
        return "id_number"
    return "phone"
