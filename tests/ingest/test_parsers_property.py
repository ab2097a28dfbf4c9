"""Hypothesis properties of the parsers: what a CSV writer writes is read back exactly, line
scanning does not depend on where the chunks are cut, and arbitrary bytes never escape as
anything but a clean import problem or reconciled rows."""

from __future__ import annotations

import csv
import io
import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weixi.errors import IngestError
from weixi.ingest.read import WIDE_SLACK, scan_lines
from weixi.ingest.validate import REASONS
from weixi.store.analytics import connect

from .helpers import stage_and_read

DELIMS = [",", "|", "\t", ";", "\x01", "^"]
VALUE = st.text(alphabet=st.sampled_from(list('ab 地市,|;"\n\t^x1')), max_size=8)
_n = itertools.count()


_TMP = tempfile.TemporaryDirectory(prefix="wx-prop-")  # removed when the module is unloaded


def _stage(data: bytes, **kw):
    tmp = Path(tempfile.mkdtemp(dir=_TMP.name))
    path = tmp / "f.csv"
    path.write_bytes(data)
    con = connect(":memory:")
    return con, stage_and_read(con, path, prefix=f"_p{next(_n)}_", tmpdir=tmp, **kw)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(VALUE, min_size=3, max_size=3), min_size=0, max_size=12),
    delim=st.sampled_from(DELIMS),
    terminator=st.sampled_from(["\n", "\r\n"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_what_a_csv_writer_writes_is_read_back_exactly(rows, delim, terminator, quoting):
    rows = [[f"id{i}", *r[1:]] for i, r in enumerate(rows)]  # a non-empty first field
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delim, lineterminator=terminator, quoting=quoting)
    writer.writerow(["k", "v", "w"])
    writer.writerows(rows)
    con, raw = _stage(buf.getvalue().encode("utf-8"), delimiter=delim)
    got = con.execute(f"SELECT __row, k, v, w FROM {raw.view} ORDER BY __row").fetchall()
    assert (raw.good_rows, raw.rejected_rows) == (len(rows), 0)
    assert [r[0] for r in got] == list(range(2, len(rows) + 2))
    assert [[x or "" for x in r[1:]] for r in got] == rows


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list('ab,\n\r"')), max_size=200),
    cuts=st.lists(st.integers(0, 200), max_size=6),
)
def test_line_scan_does_not_depend_on_chunk_boundaries(text, cuts):
    data = text.encode()
    points = sorted({c for c in cuts if c <= len(data)})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    whole, split = io.BytesIO(), io.BytesIO()
    a = scan_lines(iter([data]), delimiter=",", quote='"', fields=2, out=whole)
    b = scan_lines(iter(pieces), delimiter=",", quote='"', fields=2, out=split)
    assert (a.lines, a.wide, a.lone_cr, a.crlf, a.lf) == (b.lines, b.wide, b.lone_cr, b.crlf, b.lf)
    assert whole.getvalue() == split.getvalue()
    normal = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    assert a.lines == sum(1 for line in normal.split(b"\n") if line)
    if a.wide == 0:
        assert whole.getvalue() == normal


@settings(max_examples=30, deadline=None)
@given(extra=st.integers(WIDE_SLACK + 1, 3000), at=st.integers(0, 5))
def test_wide_rows_become_one_rejected_record(extra, at):
    lines = [f"S{i},x" for i in range(6)]
    lines[at] += ",z" * extra
    con, raw = _stage(("k,v\n" + "\n".join(lines) + "\n").encode())
    rej = con.execute(f"SELECT row_number, reason FROM {raw.rejects}").fetchall()
    assert rej == [(at + 2, "too_many_fields")] and raw.good_rows == 5


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=300), declared=st.sampled_from([None, "utf-8", "gbk"]))
def test_any_bytes_are_read_or_refused_cleanly(body, declared):
    try:
        con, raw = _stage(b"k,v,w\n" + body, encoding=declared)
    except IngestError as exc:
        assert "f.csv" in str(exc) and "\n" not in str(exc)
        return
    assert raw.read == raw.good_rows + raw.rejected_rows
    rows = [r[0] for r in con.execute(f"SELECT __row FROM {raw.view}").fetchall()]
    if raw.rejects:
        rej = con.execute(f"SELECT row_number, reason FROM {raw.rejects}").fetchall()
        rows += [r for r, _ in rej]
        assert {why for _, why in rej} <= set(REASONS)
    assert len(rows) == len(set(rows)) == raw.read
    assert all(r >= 2 for r in rows)
