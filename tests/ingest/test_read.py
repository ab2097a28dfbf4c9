"""Reading files: encodings, streamed transcoding, delimiters, exact row numbers, bad rows."""

from __future__ import annotations

import pytest

from weixi.errors import IngestError
from weixi.ingest import read
from weixi.ingest.read import detect_encoding, sniff_delimiter, transcode_to_utf8

from .helpers import stage_and_read

TEXT = "YHBS,地市,状态\n1,杭州,正常\n2,宁波,销户\n"


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
        ("utf-16", "utf-16"),
    ],
)
def test_detect_encoding(tmp_path, encoding, detected):
    path = tmp_path / "f.csv"
    path.write_bytes(TEXT.encode(encoding))
    assert detect_encoding(path) == detected
    if detected == "gb18030":
        assert detect_encoding(path, "gbk") == "gbk"  # a declared encoding wins
    else:  # … unless the file contradicts it
        with pytest.raises(IngestError, match=f"set `encoding: {detected[:5]}"):
            detect_encoding(path, "gbk")


def test_transcoding_streams_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(read, "CHUNK", 5)  # split multi-byte characters between chunks
    src = tmp_path / "gbk.csv"
    src.write_bytes((TEXT * 50).encode("gb18030"))
    out = transcode_to_utf8(src, "gb18030", tmp_path / "u.csv")
    assert out.read_text(encoding="utf-8") == TEXT * 50


def test_bytes_invalid_in_the_encoding_quarantine_their_row(tmp_path, fresh_con):
    src = tmp_path / "bad.csv"
    src.write_bytes("a,b\n1,地\n".encode("gbk") + b"2,\xff\n" + "3,市\n".encode("gbk"))
    raw = stage_and_read(fresh_con, src, prefix="_b_", tmpdir=tmp_path, encoding="gbk")
    rej = fresh_con.execute(f"SELECT row_number, reason FROM {raw.rejects}").fetchall()
    assert (raw.good_rows, rej) == (2, [(3, "invalid_encoding")])
    assert fresh_con.execute(f"SELECT b FROM {raw.view} ORDER BY __row").fetchall() == [
        ("地",),
        ("市",),
    ]


@pytest.mark.parametrize(
    ("header", "delim"),
    [("a,b,c", ","), ("a\tb\tc", "\t"), ("a|b|c", "|"), ("a;b;c", ";"), ("single", ",")],
)
def test_sniff_delimiter(header, delim):
    assert sniff_delimiter(header) == delim


def test_row_numbers_are_exact_around_rejected_rows(tmp_path, fresh_con):
    """Every row carries its id = its record number; bad rows are rejected with theirs."""
    n = 60_000
    bad_short = {5, 6, 7, 30_001, 59_999}  # consecutive ones too
    bad_long = {8, 40_000}
    lines = ["id,name,v"]
    for row in range(2, n + 2):
        if row in bad_short:
            lines.append(f"{row},x")
        elif row in bad_long:
            lines.append(f"{row},x,1,extra")
        elif row % 10_007 == 0:
            lines.append(f'{row},"two\nlines, quoted",1')  # a record spanning two lines
        else:
            lines.append(f"{row},n{row},{row % 7}")
    lines.append(f"{n + 2},trunc")  # truncated last line, no newline
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines), encoding="utf-8")

    raw = stage_and_read(fresh_con, path, prefix="_t_", tmpdir=tmp_path)
    rejected = bad_short | bad_long | {n + 2}
    assert raw.read == n + 1 and raw.rejected_rows == len(rejected)
    mismatched = fresh_con.execute(
        f"SELECT count(*) FROM {raw.view} WHERE CAST(id AS BIGINT) <> __row"
    ).fetchone()[0]
    assert mismatched == 0
    rej = fresh_con.execute(f"SELECT row_number, reason FROM {raw.rejects}").fetchall()
    assert {r for r, _ in rej} == rejected
    assert {r: why for r, why in rej}[n + 2] == "missing_fields"
    assert {r: why for r, why in rej}[8] == "too_many_fields"
    read.drop_staged(fresh_con, raw)
    left = fresh_con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()
    assert left[0] == 0


def test_header_only_file_reads_zero_rows(tmp_path, fresh_con):
    path = tmp_path / "empty.csv"
    path.write_text("YHBS,DS\n", encoding="utf-8")
    raw = stage_and_read(fresh_con, path, prefix="_e_", tmpdir=tmp_path)
    assert (raw.read, raw.columns) == (0, ["YHBS", "DS"])


def test_empty_file_is_an_error(tmp_path, fresh_con):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match=r"empty.csv: the file is empty \(0 bytes\)"):
        stage_and_read(fresh_con, path, prefix="_e_", tmpdir=tmp_path)
    path.write_bytes(b"\n\nS1,HZ\n")
    with pytest.raises(IngestError, match="row 1 must be a header"):
        stage_and_read(fresh_con, path, prefix="_e_", tmpdir=tmp_path)


GOOD = "YHBS,DS,XM\n" + "".join(f"S{i},HZ,张{i}\n" for i in range(50))


def _stage(con, tmp_path, data: bytes, name: str = "f.csv", **kw):
    path = tmp_path / name
    path.write_bytes(data)
    prefix = f"_s{len(list(tmp_path.iterdir()))}_"
    return stage_and_read(con, path, prefix=prefix, tmpdir=tmp_path, **kw)


def _zip(entries: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_zip({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}), "Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, r"Excel workbook \(\.xls\)"),
        (_zip({"a.csv": GOOD.encode()}), "ZIP archive"),
        (b"BZh91AY&SY" + bytes(200), "bzip2-compressed"),
        (bytes(range(256)) * 40, "not a text file"),
        (b"%PDF-1.4\n" + bytes(300), "not a text file"),
    ],
)
def test_files_that_are_not_csv_are_recognised_by_their_bytes(tmp_path, fresh_con, data, match):
    with pytest.raises(IngestError, match=match) as err:
        _stage(fresh_con, tmp_path, data)
    assert "f.csv" in str(err.value) and "\n" not in str(err.value)


def test_gzip_is_read_whatever_its_name_and_a_damaged_one_is_named(tmp_path, fresh_con):
    import gzip

    raw = _stage(fresh_con, tmp_path, gzip.compress(GOOD.encode("gbk")), "month.csv")
    assert (raw.read, raw.encoding, raw.compression) == (50, "gb18030", "gzip")
    with pytest.raises(IngestError, match="gzip data is damaged or truncated"):
        _stage(fresh_con, tmp_path, gzip.compress(GOOD.encode())[:-30], "cut.csv.gz")


@pytest.mark.parametrize(
    ("encoding", "declared", "match"),
    [
        (
            "gbk",
            "utf-8",
            "row 2 is not valid utf-8; the file decodes as gb18030 — set `encoding: gb18030`",
        ),
        ("utf-16", "utf-8", "set `encoding: utf-16`"),
        ("utf-16-le", "utf-8", "set `encoding: utf-16`"),
        ("utf-8", "gbk", "declares `encoding: gbk`, but the file is utf-8"),
    ],
)
def test_encoding_mismatch_names_the_right_encoding(tmp_path, fresh_con, encoding, declared, match):
    with pytest.raises(IngestError, match=match):
        _stage(fresh_con, tmp_path, GOOD.encode(encoding), encoding=declared)


def test_duplicate_header_names_are_refused(tmp_path, fresh_con):
    with pytest.raises(IngestError, match="names the column 'yhbs' twice \\(columns 1 and 3\\)"):
        _stage(fresh_con, tmp_path, b"YHBS,DS,yhbs \n1,2,3\n")


def test_mixed_and_bare_cr_line_endings_are_read(tmp_path, fresh_con):
    mixed = GOOD.replace("\n", "\r\n", 20).encode()
    assert _stage(fresh_con, tmp_path, mixed).read == 50
    assert _stage(fresh_con, tmp_path, GOOD.replace("\n", "\r").encode(), "cr.csv").read == 50


def test_unclosed_quote_at_the_end_is_quarantined_in_the_middle_fails(tmp_path, fresh_con):
    raw = _stage(fresh_con, tmp_path, (GOOD + 'S99,HZ,"open\n').encode())
    rej = fresh_con.execute(f"SELECT row_number, reason FROM {raw.rejects}").fetchall()
    assert (raw.good_rows, rej) == (50, [(52, "malformed_quotes")])
    lines = GOOD.splitlines()
    swallowing = "\n".join([*lines[:5], 'S99,HZ,"open', *lines[5:]]) + "\n"
    with pytest.raises(IngestError, match="row 6: a quote opened in this row is never closed"):
        _stage(fresh_con, tmp_path, swallowing.encode(), "mid.csv")


def test_huge_field_and_very_wide_row_are_quarantined_quickly(tmp_path, fresh_con):
    """A 5 MB field is `line_too_long`; a row with 100 000 extra fields `too_many_fields`."""
    lines = GOOD.splitlines()
    data = "\n".join([lines[0], "S1,HZ," + "x" * 5_000_000, "S2,HZ,a" + ",y" * 100_000, *lines[1:]])
    raw = _stage(fresh_con, tmp_path, data.encode())
    rej = fresh_con.execute(f"SELECT row_number, reason, raw_line FROM {raw.rejects} ORDER BY 1")
    got = rej.fetchall()
    assert [(r, why) for r, why, _ in got] == [(2, "line_too_long"), (3, "too_many_fields")]
    assert len(got[0][2]) <= read.MAX_RAW_LINE and "100003 fields" in got[1][2]
    assert raw.good_rows == 50
    mismatched = fresh_con.execute(
        f"SELECT count(*) FROM {raw.view} WHERE CAST(substr(YHBS, 2) AS INT) + 4 <> __row"
    ).fetchone()[0]
    assert mismatched == 0


def test_nul_bytes_and_stray_quotes_reach_validation(tmp_path, fresh_con):
    raw = _stage(fresh_con, tmp_path, b'YHBS,DS\nS\x001,HZ\nS2",HZ\n')
    assert fresh_con.execute(f"SELECT YHBS FROM {raw.view} ORDER BY __row").fetchall() == [
        ("S\x001",),
        ('S2"',),
    ]


def test_a_read_that_could_reorder_the_rows_is_refused(fresh_con, tmp_path):
    # record numbers are positions in the order the rows were read: a plan with a join (as
    # DuckDB makes of a long IN list) could emit them in another order, so it never runs
    path = tmp_path / "f.csv"
    path.write_text("YHBS,DS\n" + "".join(f"S{i},HZ\n" for i in range(20)), encoding="utf-8")
    raw = read.stage_file(fresh_con, path, prefix="_o_", tmpdir=tmp_path)
    fresh_con.execute("CREATE TEMP TABLE _o_codes AS SELECT 'HZ' AS c")
    with pytest.raises(RuntimeError, match="order"):
        read.read_staged(
            fresh_con,
            raw,
            f"CREATE TEMP TABLE _o_t AS SELECT s.* FROM {raw.source} s JOIN _o_codes ON DS = c",
        )
    n = read.read_staged(fresh_con, raw, f"CREATE TEMP TABLE _o_t AS SELECT * FROM {raw.source}")
    assert n == 20 and raw.read == 20
