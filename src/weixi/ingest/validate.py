"""Conversion and validation as SQL: typed columns plus, per row, the list of its violations.

Pure functions that build DuckDB SQL text from the data model and the mapping; the service
runs it. For every canonical column the pipeline is

    raw text → TRIM, '' → NULL → value map (``values:``) → type parse (+ ``scale``) → checks

and each row gets ``__viol``: a list of ``{column_name, reason, raw_value}`` structs. A row
with an empty list is loaded; any other row is quarantined with one quarantine row per
violation. Reason codes are listed in :data:`REASONS` (and in ``docs/import.md``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from weixi.ingest.mapping import ColumnMap, Mapping
from weixi.ingest.read import q_ident, q_str
from weixi.ingest.schema import DUCKDB_TYPES, Field

REASONS: dict[str, str] = {
    "missing_value": "A required field is empty",
    "not_a_number": "The value is not a number",
    "not_an_integer": "The value is not a whole number",
    "invalid_date": "The value is not a valid date in the expected format",
    "invalid_bool": "The value is not one of the true/false values",
    "not_in_choices": "The value is not one of the allowed choices",
    "negative_value": "The value is negative",
    "below_min": "The value is below the minimum",
    "above_max": "The value is above the maximum",
    "contract_end_before_start": "The contract ends before it starts",
    "date_after_month_end": "The date is after the last day of the imported month",
    "duplicate_id": "The id occurs more than once in the import",
    "event_date_mismatch": "The event date is not the date being imported",
    "invalid_id": "The id contains spaces, quotes or control characters (e.g. NUL bytes)",
    "control_characters": "The text contains control characters (e.g. NUL bytes)",
    "missing_fields": "The row has fewer fields than the header (e.g. a truncated last line)",
    "too_many_fields": "The row has more fields than the header",
    "malformed_quotes": "The row's quoting is broken",
    "invalid_encoding": "The row is not valid text in the file's encoding",
    "line_too_long": "The row is longer than the reader's maximum line size",
    "malformed_row": "The row cannot be parsed",
}

VIOLATION_TYPE = "STRUCT(column_name VARCHAR, reason VARCHAR, raw_value VARCHAR)"
# RE2 character classes: what an id may not contain, and control characters in other text
# (tab, LF and CR may occur in quoted free text).
ID_FORBIDDEN = r"[\s\"'\x00-\x1f\x7f]"
TEXT_FORBIDDEN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
TYPE_REASON = {
    "float": "not_a_number",
    "int": "not_a_number",
    "date": "invalid_date",
    "bool": "invalid_bool",
}


@dataclass(frozen=True)
class CrossCheck:
    """A check between columns: ``condition`` (SQL on typed ``v_*`` names) flags a violation."""

    column: str
    reason: str
    needs: tuple[str, ...]
    condition: str


def snapshot_checks(month: dt.date) -> tuple[CrossCheck, ...]:
    """The snapshot's cross-column checks for ``month`` (first day)."""
    nxt = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    end = q_str((nxt - dt.timedelta(days=1)).isoformat())
    return (
        CrossCheck(
            "contract_end",
            "contract_end_before_start",
            ("contract_end", "contract_start"),
            "v_contract_end < v_contract_start",
        ),
        CrossCheck(
            "activation_date",
            "date_after_month_end",
            ("activation_date",),
            f"v_activation_date > DATE {end}",
        ),
        CrossCheck(
            "handset_first_use_date",
            "date_after_month_end",
            ("handset_first_use_date",),
            f"v_handset_first_use_date > DATE {end}",
        ),
    )


def literal(value: object, typ: str) -> str:
    """SQL literal of a default value, typed.

    >>> literal(False, "bool"), literal(None, "date"), literal("none", "str")
    ('CAST(false AS BOOLEAN)', 'CAST(NULL AS DATE)', "CAST('none' AS VARCHAR)")
    """
    if value is None:
        text = "NULL"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = q_str(str(value))
    return f"CAST({text} AS {DUCKDB_TYPES[typ]})"


def _one_of(expr: str, values: Sequence[str]) -> str:
    """SQL: ``expr`` is one of ``values`` (NULL when ``expr`` is).

    A CASE, not ``IN (…)`` or ``list_contains``: DuckDB turns a long list of constants into a
    join, and a join does not keep the rows in the order they are read, which the record
    numbers rely on (see :func:`weixi.ingest.read.read_staged`).
    """
    whens = " ".join(f"WHEN {q_str(v)} THEN true" for v in values)
    return f"(CASE {expr} {whens} ELSE (CASE WHEN {expr} IS NULL THEN NULL ELSE false END) END)"


def _scaled(expr: str, scale: float | None) -> str:
    if scale is None or scale == 1:
        return expr
    inv = 1 / scale
    if abs(inv - round(inv)) < 1e-9 * inv:
        # 0.01 → divide by 100: exact decimal conversion (1999 fen → 19.99, not 19.990000000000002)
        return f"({expr} / {round(inv)}.0)"
    return f"({expr} * {scale!r})"


def typed_expr(f: Field, col: ColumnMap, mapping: Mapping, m: str, *, iso_date: bool) -> str:
    """SQL turning the mapped text ``m`` into the canonical type of ``f`` (NULL when invalid)."""
    if f.type == "str":
        return m
    if f.type in ("int", "float"):
        num = f"TRY_CAST({m} AS DOUBLE)"
        num = f"CASE WHEN isfinite({num}) THEN {_scaled(num, col.scale)} END"
        if f.type == "float":
            return num
        return (
            f"CASE WHEN ({num}) = trunc({num}) AND abs({num}) < 9e15 THEN CAST({num} AS BIGINT) END"
        )
    if f.type == "bool":
        trues = ("true", *mapping.true_for(col))
        falses = ("false", *mapping.false_for(col))
        return f"CASE WHEN {_one_of(m, trues)} THEN true WHEN {_one_of(m, falses)} THEN false END"
    if f.type == "date":
        if iso_date:
            return f"TRY_CAST({m} AS DATE)"
        fmt = col.date_format or mapping.date_format
        return f"CAST(TRY_STRPTIME({m}, {q_str(fmt)}) AS DATE)"
    raise ValueError(f"unknown type {f.type!r}")  # pragma: no cover - schema is fixed


def mapped_sql(col: ColumnMap, src: str) -> str:
    """SQL of the mapped text of the source column ``src``: trimmed, '' as NULL, values mapped."""
    trimmed = f"NULLIF(TRIM({src}), '')"
    if not col.values:
        return trimmed
    whens = " ".join(f"WHEN {q_str(k)} THEN {q_str(val)}" for k, val in col.values.items())
    return f"NULLIF(CASE {trimmed} {whens} ELSE {trimmed} END, '')"


def _viol(column: str, reason: str, raw: str) -> str:
    return f"{{'column_name': {q_str(column)}, 'reason': {q_str(reason)}, 'raw_value': {raw}}}"


def select_sql(
    *,
    source: str,
    file_idx: int,
    fields: Sequence[Field],
    columns: dict[str, ColumnMap],
    mapping: Mapping,
    available: Sequence[str],
    numbered: bool = False,
    temporal: frozenset[str] | set[str] = frozenset(),
    checks: Sequence[CrossCheck] = (),
    raw_json: Callable[[list[str]], str] | None = None,
) -> str:
    """Build the SELECT that converts and checks one file's rows as they are read.

    Args:
        source: the file's relation (SQL): its text columns named by the header.
        file_idx: written into ``__file`` so several files can share one table.
        fields: the target columns (the snapshot's FIELDS or a reference table's).
        columns: the mapping's entries for these fields.
        mapping: the whole mapping (true/false values, date format).
        available: the file's column headers; mapped sources not in it take defaults.
        numbered: the source carries ``__row`` (else ``__row`` is NULL: rows are numbered by
            position, see :func:`weixi.ingest.read.with_record_numbers`).
        temporal: source columns that are already dates (Parquet), parsed as ISO dates.
        checks: cross-column checks (see :func:`snapshot_checks`).
        raw_json: builds, from SQL references to the ``available`` columns, the row's text as
            JSON for the quarantine; evaluated only for rows with a violation (``__raw``).

    Returns:
        SQL producing ``__file, __row``, one typed column per field, ``__viol`` and ``__raw``.
    """
    present = set(available)
    keep = [f"s_{j}" for j in range(len(available))] if raw_json else []
    row = "__row" if numbered else "CAST(NULL AS BIGINT) AS __row"
    level1 = [f"{file_idx} AS __file", row]
    level1 += [f"{q_ident(c)} AS s_{j}" for j, c in enumerate(available) if raw_json]
    level2 = ["__file", "__row", *keep]
    outputs = ["__file", "__row"]
    errs: list[tuple[str, str, str]] = []  # (column, SQL giving a reason or NULL, raw alias)
    typed_names: set[str] = set()
    for i, f in enumerate(fields):
        col = columns.get(f.name)
        if col is None or col.source not in present:
            outputs.append(f"{literal(f.default, f.type)} AS {q_ident(f.name)}")
            continue
        raw, m, v = f"r_{i}", f"m_{i}", f"v_{f.name}"
        src = q_ident(col.source)
        level1.append(f"{src} AS {raw}")
        level1.append(f"{mapped_sql(col, src)} AS {m}")
        iso = col.source in temporal
        level2 += [raw, m, f"{typed_expr(f, col, mapping, m, iso_date=iso)} AS {v}"]
        typed_names.add(f.name)
        default = f"COALESCE({v}, {literal(f.default, f.type)})" if f.default is not None else v
        outputs.append(f"{default} AS {q_ident(f.name)}")

        name = f.name
        cases = []
        if f.required:
            cases.append(f"WHEN {m} IS NULL THEN 'missing_value'")
        if f.type == "int":
            # distinguish 3.5 (not an integer) from "abc" (not a number)
            cases.append(
                f"WHEN {m} IS NOT NULL AND {v} IS NULL THEN CASE WHEN TRY_CAST({m} AS DOUBLE) "
                f"IS NULL THEN 'not_a_number' ELSE 'not_an_integer' END"
            )
        elif f.type != "str":
            cases.append(f"WHEN {m} IS NOT NULL AND {v} IS NULL THEN {q_str(TYPE_REASON[f.type])}")
        elif f.identifier:
            cases.append(f"WHEN regexp_matches({m}, {q_str(ID_FORBIDDEN)}) THEN 'invalid_id'")
        else:
            cases.append(
                f"WHEN regexp_matches({m}, {q_str(TEXT_FORBIDDEN)}) THEN 'control_characters'"
            )
        if f.choices:
            cases.append(f"WHEN NOT {_one_of(v, f.choices)} THEN 'not_in_choices'")
        if f.min is not None:
            reason = "negative_value" if f.min == 0 else "below_min"
            cases.append(f"WHEN {v} < {f.min!r} THEN {q_str(reason)}")
        if f.max is not None:
            cases.append(f"WHEN {v} > {f.max!r} THEN 'above_max'")
        if cases:
            errs.append((name, f"CASE {' '.join(cases)} END", raw))
    for chk in checks:
        if all(n in typed_names for n in chk.needs):
            raw = f"r_{[f.name for f in fields].index(chk.column)}"
            errs.append(
                (chk.column, f"CASE WHEN {chk.condition} THEN {q_str(chk.reason)} END", raw)
            )
    # Reasons are cheap constant strings per field; the list of structs is only built for the
    # (few) rows that have at least one, which keeps validation fast on clean months.
    level3 = [*outputs, *keep]
    level3 += [f"{expr} AS e_{k}" for k, (_, expr, _) in enumerate(errs)]
    level3 += sorted({raw for _, _, raw in errs})
    clean = " AND ".join(f"e_{k} IS NULL" for k in range(len(errs))) or "true"
    level4 = ["__file", "__row", *(q_ident(f.name) for f in fields), *keep]
    level4 += [f"e_{k}" for k in range(len(errs))]
    level4 += [*sorted({raw for _, _, raw in errs}), f"{clean} AS __ok"]
    final = ["__file", "__row", *(q_ident(f.name) for f in fields)]
    if errs:
        items = ", ".join(
            f"CASE WHEN e_{k} IS NOT NULL THEN {{'column_name': {q_str(col)}, "
            f"'reason': e_{k}, 'raw_value': {raw}}} END"
            for k, (col, _, raw) in enumerate(errs)
        )
        viol_list = (
            f"CASE WHEN __ok THEN CAST([] AS {VIOLATION_TYPE}[]) "
            f"ELSE list_filter([{items}], lambda x: x IS NOT NULL) END"
        )
    else:
        viol_list = f"CAST([] AS {VIOLATION_TYPE}[])"
    final.append(f"CAST({viol_list} AS {VIOLATION_TYPE}[]) AS __viol")
    text = f"CAST({raw_json(keep)} AS VARCHAR)" if raw_json else "NULL"
    final.append(f"CAST(CASE WHEN __ok THEN NULL ELSE {text} END AS VARCHAR) AS __raw")
    return (
        f"SELECT {', '.join(final)} FROM (SELECT {', '.join(level4)} FROM "
        f"(SELECT {', '.join(level3)} FROM (SELECT {', '.join(level2)} FROM "
        f"(SELECT {', '.join(level1)} FROM {source}))))"
    )


def duplicates_sql(table: str, key: str) -> str:
    """SELECT of the ``key`` values that occur twice or more in ``table`` (column ``k``).

    All copies are quarantined: the import cannot know which copy is right, and keeping the
    first would make the result depend on file order. A GROUP BY on the key finds the (few)
    duplicated values.
    """
    k = q_ident(key)
    return (
        f"SELECT {k} AS k FROM {q_ident(table)} WHERE {k} IS NOT NULL GROUP BY {k} "
        f"HAVING count(*) > 1"
    )


def duplicate_violation(key: str) -> str:
    """The ``duplicate_id`` violation of a row's ``key`` (a struct literal)."""
    return _viol(key, "duplicate_id", q_ident(key))
