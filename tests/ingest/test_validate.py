"""Hypothesis: for any rows with any planted defects, every row is loaded or quarantined."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ingest.helpers import good_row, write_csv, write_mapping
from weixi.ingest.service import get_quarantine, import_month
from weixi.store.analytics import connect

# defect kind -> (column index in helpers.HEADER, raw value, expected reason)
DEFECTS = {
    "bad_arpu": (7, "12.3元", "not_a_number"),
    "negative_arpu": (7, "-1", "negative_value"),
    "impossible_date": (4, "20250230", "invalid_date"),
    "future_activation": (4, "20990101", "date_after_month_end"),
    "unknown_line_type": (2, "卫星", "not_in_choices"),
    "no_branch": (1, "", "missing_value"),
    "bad_flag": (8, "也许", "invalid_bool"),
    "fractional_complaints": (9, "0.5", "not_an_integer"),
    "contract_reversed": (6, "20190101", "contract_end_before_start"),
}
KINDS = [None, None, None, *DEFECTS, "short_row", "long_row"]


@settings(max_examples=25, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=30),
    dup_pairs=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 29)), max_size=3),
    delimiter=st.sampled_from([",", "|", "\t"]),
    encoding=st.sampled_from(["utf-8", "gb18030"]),
)
def test_every_row_is_loaded_or_quarantined(kinds, dup_pairs, delimiter, encoding):
    n = len(kinds)
    rows = [good_row(i) for i in range(n)]
    expected: dict[int, set[str]] = {}  # record number -> reasons
    for i, kind in enumerate(kinds):
        if kind in DEFECTS:
            col, value, reason = DEFECTS[kind]
            rows[i][col] = value
            if kind == "contract_reversed":
                rows[i][5] = "20200101"
            expected[i + 2] = {reason}
        elif kind == "short_row":
            rows[i] = rows[i][:4]
            expected[i + 2] = {"missing_fields"}
        elif kind == "long_row":
            rows[i] = [*rows[i], "extra"]
            expected[i + 2] = {"too_many_fields"}
    ids: dict[str, list[int]] = {}
    for a, b in dup_pairs:
        if a < n and b < n and a != b and len(rows[a]) == len(rows[b]) == 10:
            rows[b][0] = rows[a][0]
    for i, row in enumerate(rows):
        if len(row) == 10:
            ids.setdefault(row[0], []).append(i)
    for members in ids.values():
        if len(members) > 1:
            for i in members:
                expected.setdefault(i + 2, set()).add("duplicate_id")

    with tempfile.TemporaryDirectory() as tmp:
        mapping = write_mapping(Path(tmp) / "m.yaml")
        path = write_csv(Path(tmp) / "m.csv", rows, delimiter=delimiter, encoding=encoding)
        con = connect(":memory:")
        try:
            res = import_month(
                con=con, month="2025-03", mapping=mapping, paths=[path], allow_shrink=True
            )
            got: dict[int, set[str]] = {}
            for q in get_quarantine(con=con, run_id=res.run_id, limit=10_000):
                got.setdefault(q.row_number, set()).add(q.reason)
            loaded = con.execute("SELECT count(*) FROM snapshot").fetchone()[0]
        finally:
            con.close()
    assert res.read == n == res.loaded + res.quarantined
    assert loaded == res.loaded == n - len(expected)
    assert got == expected
