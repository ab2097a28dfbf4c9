"""Reading files: encodings, streamed transcoding, delimiters, exact row numbers, bad rows."""

from __future__ import annotations

import pytest

from weixi.errors import IngestError
from weixi.ingest import read
from weixi.ingest.read import detect_encoding, sniff_delimiter, stage_file, transcode_to_utf8

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
    assert detect_encoding(path, "gbk") == "gbk"  # a declared encoding wins


def test_transcoding_streams_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(read, "CHUNK", 5)  # split multi-byte characters between chunks
    src = tmp_path / "gbk.csv"
    src.write_bytes((TEXT * 50).encode("gb18030"))
    out = transcode_to_utf8(src, "gb18030", tmp_path / "u.csv")
    assert out.read_text(encoding="utf-8") == TEXT * 50


def test_transcoding_reports_the_bad_byte(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(IngestError, match="not valid utf-8 near byte 6"):
        transcode_to_utf8(src, "utf-8", tmp_path / "out.csv")


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

    raw = stage_file(fresh_con, path, prefix="_t_", tmpdir=tmp_path)
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
    raw = stage_file(fresh_con, path, prefix="_e_", tmpdir=tmp_path)
    assert (raw.read, raw.columns) == (0, ["YHBS", "DS"])


def test_empty_file_is_an_error(tmp_path, fresh_con):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(IngestError, match="header"):
        stage_file(fresh_con, path, prefix="_e_", tmpdir=tmp_path)
