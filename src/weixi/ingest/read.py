"""Read operator files into DuckDB temporary tables, all values as text, with exact row numbers.

Nothing here holds rows as Python objects. Each file goes through three steps:

1. **Recognise** it by its first bytes: Excel, ZIP, other archives and binary files are refused
   with a clear error; gzip is decompressed while reading; a Parquet file is read as Parquet
   whatever its name; UTF-16 is recognised by its byte-order mark or its NUL pattern.
2. **Scan** it once in fixed-size chunks (bytes operations and numpy, never a loop over rows):
   check the encoding (a mismatch fails with a suggestion), count the lines, find mixed or bare
   CR line endings and rows with far more fields than the header. When the file needs it —
   another encoding than UTF-8 (DuckDB's CSV reader only decodes UTF-8 unless its
   ``encodings`` extension is installed, which cannot be assumed offline), gzip, mixed line
   endings, or rows wider than the header by more than :data:`WIDE_SLACK` fields — the same
   pass writes a normalised UTF-8 copy, in which each such row is replaced by a short marker
   row that DuckDB rejects as ``too_many_fields`` at once (DuckDB's strict reader spends time
   proportional to width × extra fields on such a row).
3. **Describe the read** for DuckDB: no dialect sniffing (the columns come from the header, so
   a duplicated header cannot shift them), ``all_varchar``, strict mode, no padding. Nothing is
   read yet: the importer reads the file once, typing and checking the values as they stream
   in (:func:`read_staged`), so no text copy of the month is ever stored. Rows whose field
   count does not match the header, whose quoting or encoding is broken or that are longer
   than the reader's maximum line size are collected by ``store_rejects`` with their record
   number and quarantined. The number of records read is checked against the lines scanned,
   so a quote that swallows the rest of the file fails the file instead of losing rows.

Row numbers are CSV record numbers with the header as row 1 (the first data row is row 2).
DuckDB keeps insertion order (``preserve_insertion_order``), so a good row's position among the
rows read plus the rejected rows before it gives its record number exactly
(:func:`with_record_numbers`). For Parquet the record number is the position plus one (the
1-based ``file_row_number``).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np

from weixi.ingest import messages as msg
from weixi.ingest.messages import ImportProblem

CHUNK = 4 << 20  # bytes per streamed chunk
SAMPLE = 1 << 20  # bytes of the file's head used to recognise it and check its encoding
WIDE_SLACK = 64  # a row with this many fields more than the header is replaced by a marker
WIDE_MARK = "__weixi_wide_row__"
MAX_RAW_LINE = 1000  # characters of a rejected row's text kept in the quarantine
DELIMITER_CANDIDATES = (",", "\t", "|", ";", "\x01", "^")
PARQUET_SUFFIXES = (".parquet", ".pq")
TEMPORAL_PREFIXES = ("DATE", "TIMESTAMP")
UTF8 = ("utf-8", "utf-8-sig")

# DuckDB reject error types -> weixi reason codes
REJECT_REASONS = {
    "MISSING COLUMNS": "missing_fields",
    "TOO MANY COLUMNS": "too_many_fields",
    "UNQUOTED VALUE": "malformed_quotes",
    "INVALID UNICODE": "invalid_encoding",
    "INVALID ENCODING": "invalid_encoding",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
}

# (magic bytes, kind) recognised at the start of a file
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"),
    (b"\x1f\x8b", "gzip"),
    (b"PAR1", "parquet"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"Rar!\x1a\x07", "rar"),
    (b"%PDF", "pdf"),
)
# Control bytes that do not occur in text files (tab, LF, CR and \x01 as a delimiter do).
_CONTROL = bytes([*range(0, 1), *range(2, 9), 11, 12, *range(14, 32), 127])
_HIGH = bytes(range(128, 256))


@dataclass
class RawFile:
    """One input file, ready to be read once by :func:`read_staged`.

    ``source`` is an SQL relation yielding the file's columns as text, named by the header;
    reading it also collects the CSV reader's rejected rows. ``plain`` is the same relation
    without collecting them, to read rows again. When ``numbered`` the relation also carries
    ``__row`` (Spark numbers the records itself); otherwise rows are numbered by position.
    """

    path: Path
    format: str  # csv | parquet
    columns: list[str]
    prefix: str = ""
    source: str = ""
    plain: str = ""
    numbered: bool = False
    first_row: int = 2  # record number of the first data row (1 for Parquet: no header)
    view: str = ""  # the staged view, when an engine staged the rows before (Spark)
    encoding: str | None = None
    delimiter: str | None = None
    temporal: set[str] = field(default_factory=set)  # Parquet columns already typed as dates
    rejects: str | None = None  # temp table (row_number, reason, column_name, raw_line)
    good_rows: int = 0
    rejected_rows: int = 0
    temp_objects: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) to drop
    compression: str | None = None  # gzip when the file was compressed
    scan: Scan | None = None  # CSV: what the streamed pass found, checked after the read
    reject_tables: tuple[str, str] | None = None  # CSV: DuckDB's (errors, scans) tables
    thr: str | None = None  # positions -> rejected rows before them (when rows were rejected)

    @property
    def read(self) -> int:
        """Records read from the file (data rows, header excluded)."""
        return self.good_rows + self.rejected_rows


@dataclass
class Scan:
    """What one streamed pass over a CSV file found."""

    lines: int = 0  # non-empty lines, header included
    lone_cr: int = 0  # CR not followed by LF
    crlf: int = 0
    lf: int = 0
    wide: int = 0  # rows replaced by a marker (too many fields)
    quotes: int = 0

    @property
    def mixed_newlines(self) -> bool:
        """True when DuckDB's strict reader would stop on the line endings."""
        return (self.lone_cr > 0 and (self.crlf + self.lf) > 0) or (self.crlf > 0 and self.lf > 0)


def q_ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def q_str(value: str) -> str:
    """Quote an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _head(path: Path, n: int = SAMPLE) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def sniff_kind(path: Path, head: bytes | None = None) -> str:
    """Recognise a file by its first bytes: ``csv``, ``gzip`` or ``parquet``; refuse the rest.

    Raises:
        ImportProblem: the file is empty, an Excel workbook, a ZIP or other archive, a PDF,
            or binary data.
    """
    head = _head(path) if head is None else head
    if not head:
        raise ImportProblem(msg.EMPTY_FILE, file=path)
    for magic, kind in MAGIC:
        if not head.startswith(magic):
            continue
        if kind == "bzip2" and head[4:10] != b"1AY&SY":
            continue
        if kind == "zip":
            if b"xl/" in head or b"[Content_Types].xml" in head:
                raise ImportProblem(msg.EXCEL_FILE, file=path, kind=".xlsx")
            raise ImportProblem(msg.ZIP_FILE, file=path)
        if kind == "xls":
            raise ImportProblem(msg.EXCEL_FILE, file=path, kind=".xls")
        if kind in ("gzip", "parquet"):
            return kind
        if kind == "pdf":
            raise ImportProblem(msg.BINARY_FILE, file=path, offset=0)
        raise ImportProblem(msg.COMPRESSED_FILE, file=path, kind=kind)
    if utf16_kind(head) is None:
        offset = binary_offset(head)
        if offset is not None:
            raise ImportProblem(msg.BINARY_FILE, file=path, offset=offset)
    return "csv"


def utf16_kind(head: bytes) -> str | None:
    """``utf-16`` when ``head`` is UTF-16 text (byte-order mark or NUL pattern), else None.

    >>> utf16_kind("a,b".encode("utf-16-le")), utf16_kind(b"a,b")
    ('utf-16-le', None)
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / max(len(odd), 1)
    if odd_nul > 0.4 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.4 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def binary_offset(head: bytes) -> int | None:
    """Offset of the first control byte when more than 10 % of ``head`` are control bytes."""
    sample = head[:65536]
    n_ctrl = len(sample) - len(sample.translate(None, _CONTROL))
    if n_ctrl * 10 <= len(sample):
        return None
    arr = np.frombuffer(sample, dtype=np.uint8)
    return int(np.flatnonzero(np.isin(arr, np.frombuffer(_CONTROL, dtype=np.uint8)))[0])


def _opener(path: Path, kind: str) -> Callable[[], BinaryIO]:
    if kind == "gzip":
        return lambda: gzip.open(path, "rb")  # type: ignore[return-value]
    return lambda: path.open("rb")


@contextlib.contextmanager
def _gzip_guard(path: Path, kind: str) -> Iterator[None]:
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        if kind != "gzip" or isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise ImportProblem(msg.GZIP_DAMAGED, file=path) from exc


def _complete_lines(sample: bytes) -> list[bytes]:
    lines = sample.split(b"\n")
    return lines[:-1] if len(lines) > 1 else lines


def guess_encoding(sample: bytes) -> str | None:
    """The supported encoding the sample decodes as (UTF-8, then GB18030), or None.

    >>> guess_encoding("地市".encode("gbk")), guess_encoding("地市".encode())
    ('gb18030', 'utf-8')
    """
    if utf16_kind(sample):
        return "utf-16"
    body = b"\n".join(_complete_lines(sample))
    for enc in ("utf-8", "gb18030"):
        try:
            body.decode(enc)
        except UnicodeDecodeError:
            continue
        return enc
    return None


def _bad_rows(sample: bytes, encoding: str = "utf-8") -> list[int]:
    """Row numbers (1-based lines) of the sample's complete lines not valid in ``encoding``."""
    bad = []
    for i, line in enumerate(_complete_lines(sample)):
        if max(line, default=0) < 128:
            continue
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            bad.append(i + 1)
    return bad


def _misdeclared(sample: bytes, encoding: str) -> int | None:
    """First bad row when the header, or many rows of the sample, are not valid ``encoding``
    and another supported encoding fits (a damaged row alone is quarantined, not fatal)."""
    bad = _bad_rows(sample, encoding)
    if not bad:
        return None
    if bad[0] == 1:
        return 1
    n = len(_complete_lines(sample))
    guess = guess_encoding(sample)
    if len(bad) >= 2 and len(bad) * 10 >= n and guess and guess != encoding:
        return bad[0]
    return None


def _plain_utf8(sample: bytes) -> bool:
    """True when the sample holds non-ASCII text and all of it is valid UTF-8."""
    return max(sample, default=0) >= 128 and guess_encoding(sample) == "utf-8"


def _encoding_problem(path: Path, row: int, declared: str, sample: bytes) -> ImportProblem:
    guess = guess_encoding(sample)
    if guess and guess != declared and not (guess == "utf-8" and declared in UTF8):
        return ImportProblem(msg.WRONG_ENCODING, file=path, row=row, declared=declared, guess=guess)
    return ImportProblem(msg.UNKNOWN_ENCODING, file=path, row=row, declared=declared)


def detect_encoding(path: Path, declared: str | None = None, *, kind: str = "csv") -> str:
    """Return the file's text encoding, checking a declared one against the file.

    Without a declaration: a byte-order mark (UTF-8, UTF-16), else UTF-16 by its NUL pattern,
    else UTF-8 when the file is UTF-8 apart from a few damaged rows (those are quarantined),
    else GB18030 (a superset of GBK and GB2312, the encodings of Chinese operators' exports).
    A declared encoding that the file's head contradicts (a GBK file declared UTF-8, UTF-16
    declared UTF-8, a UTF-8 file declared GBK) raises an error suggesting the right one.
    """
    open_ = _opener(path, kind)
    with _gzip_guard(path, kind), open_() as fh:
        sample = fh.read(SAMPLE)
    utf16 = utf16_kind(sample)
    if declared:
        if utf16 and not declared.startswith("utf-16"):
            raise ImportProblem(
                msg.WRONG_ENCODING, file=path, row=1, declared=declared, guess="utf-16"
            )
        if declared not in UTF8 and not declared.startswith("utf-16") and _plain_utf8(sample):
            lines = _complete_lines(sample)
            row = next((i + 1 for i, ln in enumerate(lines) if max(ln, default=0) >= 128), 1)
            raise ImportProblem(
                msg.DECLARED_ENCODING, file=path, row=row, declared=declared, guess="utf-8"
            )
        if not declared.startswith("utf-16"):
            row = _misdeclared(sample, "utf-8" if declared in UTF8 else declared)
            if row is not None:
                raise _encoding_problem(path, row, declared, sample)
        return declared
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if utf16:
        return utf16
    if _misdeclared(sample, "utf-8") is not None:
        return "gb18030"
    invalid = high = 0
    with _gzip_guard(path, kind), open_() as fh:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while chunk := fh.read(CHUNK):
            high += len(chunk) - len(chunk.translate(None, _HIGH))
            invalid += decoder.decode(chunk).count("\ufffd")
        invalid += decoder.decode(b"", final=True).count("\ufffd")
    if invalid == 0 or invalid * 20 < high:
        return "utf-8"
    return "gb18030"


def _mark_invalid(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: each undecodable byte becomes U+DCFF (written back as 0xFF)."""
    if not isinstance(exc, UnicodeDecodeError):  # pragma: no cover - decoding only
        raise exc
    return "\udcff" * (exc.end - exc.start), exc.end


INVALID = "weixi-invalid"
codecs.register_error(INVALID, _mark_invalid)


def _decoded_chunks(path: Path, open_: Callable[[], BinaryIO], encoding: str) -> Iterator[bytes]:
    """Stream the file as UTF-8 bytes, transcoded when needed.

    Bytes that are not valid in ``encoding`` become ``0xFF`` bytes, which are invalid UTF-8,
    so DuckDB quarantines their row as ``invalid_encoding`` instead of loading a replacement
    character.
    """
    decoder = None if encoding in UTF8 else codecs.getincrementaldecoder(encoding)(INVALID)
    with open_() as fh:
        while chunk := fh.read(CHUNK):
            if decoder is None:
                yield chunk
            else:
                yield decoder.decode(chunk).encode("utf-8", "surrogateescape")
        if decoder is not None and (tail := decoder.decode(b"", final=True)):
            yield tail.encode("utf-8", "surrogateescape")


def _normalised(chunks: Iterator[bytes], scan: Scan) -> Iterator[bytes]:
    """Turn CRLF and bare CR into LF (counting each kind), keeping a CR split across chunks."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        pending = b""
        if data.endswith(b"\r"):
            data, pending = data[:-1], b"\r"
        if b"\r" in data:
            crlf = data.count(b"\r\n")
            scan.crlf += crlf
            scan.lone_cr += data.count(b"\r") - crlf
            scan.lf += data.count(b"\n") - crlf
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            scan.lf += data.count(b"\n")
        yield data
    if pending:
        scan.lone_cr += 1
        yield b"\n"


MAX_CARRY = 64 << 20  # a line longer than this is passed on in pieces (it is rejected anyway)


def _line_blocks(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Regroup ``chunks`` into blocks of whole lines; ``True`` marks a block cut mid-line."""
    carry = b""
    for data in chunks:
        buf = carry + data if carry else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > MAX_CARRY:
                yield buf, True
                buf = b""
            carry = buf
            continue
        yield buf[: cut + 1], False
        carry = buf[cut + 1 :]
    if carry:
        yield carry, False


def scan_lines(
    chunks: Iterator[bytes],
    *,
    delimiter: str,
    quote: str,
    fields: int,
    out: BinaryIO | None = None,
) -> Scan:
    """One pass over UTF-8 ``chunks``: count lines, line endings and too-wide rows.

    With ``out``, also write the normalised text there: LF line ends, and each row with more
    than ``fields + WIDE_SLACK`` fields (and balanced quotes) replaced by a marker row of
    ``fields + 1`` fields that DuckDB rejects as too wide. Vectorised with numpy per block of
    whole lines; nothing loops over rows in Python.
    """
    scan = Scan()
    d, quote_b = ord(delimiter), quote.encode()
    limit = fields - 1 + WIDE_SLACK
    cont = False  # the block continues a line cut by the previous block
    first = True  # the next segment is the header
    for block, mid in _line_blocks(_normalised(chunks, scan)):
        arr = np.frombuffer(block, dtype=np.uint8)
        nl = np.flatnonzero(arr == 10)
        starts = np.concatenate(([0], nl + 1))
        ends = np.concatenate((nl, [len(block)]))
        scan.quotes += block.count(quote_b)
        lens = ends - starts
        counted = lens > 0
        if cont:
            counted[0] = True  # the rest of a line already started
        counted[-1] = counted[-1] and not mid  # an unfinished line is counted when it ends
        scan.lines += int(np.count_nonzero(counted))
        # delimiters per line: one pass summing a 0/1 array between line starts (a sentinel
        # 0 at the end covers a last line that starts at the block's end)
        is_delim = np.empty(len(arr) + 1, dtype=np.uint8)
        is_delim[-1] = 0
        np.equal(arr, d, out=is_delim[:-1].view(bool))
        delims = np.add.reduceat(is_delim, starts, dtype=np.int32)
        wide = delims > limit
        if cont:
            wide[0] = False
        if mid:
            wide[-1] = False
        if first:
            wide[0] = False
            first = False
        if wide.any():  # only replace rows whose quotes are balanced (not inside a record)
            qpos = np.flatnonzero(arr == quote_b[0])
            quotes = np.searchsorted(qpos, ends) - np.searchsorted(qpos, starts)
            wide &= quotes % 2 == 0
        wide_idx = np.flatnonzero(wide)
        scan.wide += len(wide_idx)
        if out is not None:
            pos = 0
            for k in wide_idx.tolist():
                out.write(block[pos : int(starts[k])])
                out.write(f"{delimiter * fields}{WIDE_MARK}{int(delims[k]) + 1}".encode())
                pos = int(ends[k])
            out.write(block[pos:])
        cont = mid
    return scan


def sniff_delimiter(header_line: str) -> str:
    """Pick the candidate delimiter that occurs most often in the header line.

    >>> sniff_delimiter("YHBS|地市|ARPU")
    '|'
    """
    counts = {d: header_line.count(d) for d in DELIMITER_CANDIDATES}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_header(line: str, delimiter: str, quote: str) -> list[str]:
    """The header's column names (a quoted name may hold the delimiter)."""
    return next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar=quote), [])


def check_header(path: Path, names: list[str]) -> None:
    """Refuse a header that names a column twice (trimmed, case-insensitive like DuckDB)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = name.strip().lower()
        if not key:
            continue
        if key in seen:
            raise ImportProblem(
                msg.DUPLICATE_HEADER,
                file=path,
                name=repr(name.strip()),
                first=seen[key] + 1,
                second=i + 1,
            )
        seen[key] = i


def header_names(names: list[str]) -> list[str]:
    """Names for DuckDB: the header's text, ``column<N>`` for an empty one (or ``__row``,
    which the staged view uses for the row number)."""
    return [
        n if n.strip() and n.strip().lower() != "__row" else f"column{i + 1}"
        for i, n in enumerate(names)
    ]


def transcode_to_utf8(src: Path, encoding: str, dest: Path) -> Path:
    """Stream ``src`` from ``encoding`` into the UTF-8 file ``dest`` chunk by chunk."""
    kind = sniff_kind(src)
    open_ = _opener(src, kind)
    with _gzip_guard(src, kind), dest.open("wb") as out:
        for chunk in _decoded_chunks(src, open_, encoding):
            out.write(chunk)
    return dest


def _drop(con: duckdb.DuckDBPyConnection, objects: list[tuple[str, str]]) -> None:
    for kind, name in reversed(objects):
        con.execute(f"DROP {kind} IF EXISTS {q_ident(name)}")


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    prefix: str,
    tmpdir: Path,
    encoding: str | None = None,
    delimiter: str | None = None,
    quote: str = '"',
) -> RawFile:
    """Recognise and scan ``path`` and describe how to read it (:class:`RawFile`).

    Nothing is read into DuckDB yet: :func:`read_staged` reads the file once. Temporary
    objects (the rejects tables, the row-number map) are named ``prefix…``.

    Raises:
        ImportProblem: the file cannot be imported as a whole (one line naming the file, the
            row where known, and what to do).
    """
    if not path.exists():
        raise ImportProblem(msg.FILE_NOT_FOUND, file=path)
    try:
        head = _head(path)
    except OSError as exc:
        raise ImportProblem(msg.CSV_READER, file=path, row=1, what=msg.WHAT_IO, delim="") from exc
    kind = sniff_kind(path, head)
    if kind == "parquet" or path.suffix.lower() in PARQUET_SUFFIXES:
        return _stage_parquet(con, path, prefix=prefix)
    return _stage_csv(
        con,
        path,
        kind=kind,
        prefix=prefix,
        tmpdir=tmpdir,
        encoding=encoding,
        delimiter=delimiter,
        quote=quote,
    )


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, *, prefix: str) -> RawFile:
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet({q_str(str(path))})").fetchall()
    except duckdb.Error:
        raise ImportProblem(msg.PARQUET_UNREADABLE, file=path, what=msg.WHAT_UNREADABLE) from None
    columns = [r[0] for r in desc]
    check_header(path, columns)
    temporal = {r[0] for r in desc if str(r[1]).upper().startswith(TEMPORAL_PREFIXES)}
    exprs = []
    for name, typ in ((r[0], str(r[1]).upper()) for r in desc):
        col = q_ident(name)
        if name in temporal:
            exprs.append(f"CAST(CAST({col} AS DATE) AS VARCHAR) AS {col}")
        elif typ == "VARCHAR":
            exprs.append(col)
        else:
            exprs.append(f"CAST({col} AS VARCHAR) AS {col}")
    source = f"(SELECT {', '.join(exprs)} FROM read_parquet({q_str(str(path))}))"
    return RawFile(
        path=path,
        format="parquet",
        columns=columns,
        prefix=prefix,
        source=source,
        plain=source,
        first_row=1,
        temporal=temporal,
    )


def _header_line(sample: bytes, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    text = decoder.decode(sample)
    return re.split(r"\r\n|\r|\n", text, maxsplit=1)[0].lstrip("\ufeff")


_LINE_RE = re.compile(r"[Ll]ine:? (\d+)")


def _reader_error(path: Path, exc: duckdb.Error, delim: str) -> ImportProblem:
    """Turn a DuckDB CSV error into one line: file, row, a short cause (never engine text)."""
    text = str(exc)
    found = _LINE_RE.search(text)
    row = int(found.group(1)) if found else "?"
    what = msg.WHAT_INVALID_STATE if "invalid state" in text else msg.WHAT_UNREADABLE
    return ImportProblem(msg.CSV_READER, file=path, row=row, what=what, delim=repr(delim))


def _stage_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    kind: str,
    prefix: str,
    tmpdir: Path,
    encoding: str | None,
    delimiter: str | None,
    quote: str,
) -> RawFile:
    enc = detect_encoding(path, encoding, kind=kind)
    open_ = _opener(path, kind)
    with _gzip_guard(path, kind):
        with open_() as fh:
            sample = fh.read(SAMPLE)
        header = _header_line(sample, enc)
        delim = delimiter or sniff_delimiter(header)
        names = parse_header(header, delim, quote)
        if not any(c.strip() for c in names):
            raise ImportProblem(msg.NO_HEADER, file=path)
        check_header(path, names)
        target = path
        rewrite = kind == "gzip" or enc not in UTF8

        def chunks() -> Iterator[bytes]:
            return _decoded_chunks(path, open_, enc)

        if not rewrite:
            scan = scan_lines(chunks(), delimiter=delim, quote=quote, fields=len(names))
            rewrite = scan.mixed_newlines or scan.wide > 0
        if rewrite:
            target = tmpdir / f"{prefix}utf8.csv"
            with target.open("wb") as out:
                scan = scan_lines(
                    chunks(), delimiter=delim, quote=quote, fields=len(names), out=out
                )
    columns = header_names(names)

    errors, scans = f"{prefix}rej_errors", f"{prefix}rej_scans"
    col_types = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(columns))) + "}"
    opts = (
        f"auto_detect=false, columns={col_types}, header=true, delim={q_str(delim)}, "
        f"quote={q_str(quote)}, escape={q_str(quote)}, strict_mode=true, null_padding=false, "
        f"ignore_errors=true"
    )
    renamed = ", ".join(f"c{i} AS {q_ident(c)}" for i, c in enumerate(columns))
    reader = f"read_csv({q_str(str(target))}, {opts}"
    store = (
        f", store_rejects=true, rejects_table={q_str(errors)}, rejects_scan={q_str(scans)}, "
        f"rejects_limit=0"
    )
    raw = RawFile(
        path=path,
        format="csv",
        columns=columns,
        prefix=prefix,
        source=f"(SELECT {renamed} FROM {reader}{store}))",
        plain=f"(SELECT {renamed} FROM {reader}))",
        encoding=enc,
        delimiter=delim,
        compression="gzip" if kind == "gzip" else None,
        scan=scan,
        reject_tables=(errors, scans),
    )
    raw.temp_objects += [("TABLE", scans), ("TABLE", errors)]
    return raw


def read_staged(con: duckdb.DuckDBPyConnection, raw: RawFile, statement: str) -> int:
    """Run ``statement``, the one statement that reads ``raw.source``; return its row count.

    Then, for a CSV file, collect the rejected records (``raw.rejects``) and check that no
    record was lost. The statement writes the rows wherever the caller wants them (typed and
    checked, for the importer), in the file's order.

    Raises:
        ImportProblem: the file cannot be read, or records were swallowed (an unclosed quote).
    """
    if not raw.numbered:
        _check_order_kept(con, statement)
    try:
        raw.good_rows = con.execute(statement).fetchall()[0][0]
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
        raise  # the statement is wrong, not the file
    except duckdb.Error as exc:
        if raw.format == "parquet":
            raise ImportProblem(
                msg.PARQUET_UNREADABLE, file=raw.path, what=msg.WHAT_UNREADABLE
            ) from None
        raise _reader_error(raw.path, exc, raw.delimiter or "") from None  # engine text quotes rows
    if raw.reject_tables is not None and raw.scan is not None:
        _collect_rejects(con, raw)
        _check_complete(con, raw, raw.scan)
    return raw.good_rows


# Operators that may emit rows in another order than they were read (EXPLAIN's names).
_REORDERING = re.compile(r"JOIN|AGGREGATE|ORDER|WINDOW|UNION|TOP_N|SAMPLE", re.IGNORECASE)


def _check_order_kept(con: duckdb.DuckDBPyConnection, statement: str) -> None:
    """Refuse a read whose plan could reorder the rows: their record numbers are positions."""
    plan = " ".join(str(r[1]) for r in con.execute(f"EXPLAIN {statement}").fetchall())
    names = re.findall(r"[─┌╭]\s*([A-Z][A-Z_ ]*[A-Z])\s*[─┐╮]", plan.upper())
    bad = sorted({n for n in names if _REORDERING.search(n)})
    if bad:
        raise RuntimeError(f"the read would not keep the file's order ({', '.join(bad)})")


def _collect_rejects(con: duckdb.DuckDBPyConnection, raw: RawFile) -> None:
    """One quarantine reason per rejected record; the map from positions to record numbers."""
    assert raw.reject_tables is not None
    errors = raw.reject_tables[0]
    # DuckDB's `line` is the record number (header = 1).
    rej = f"{raw.prefix}rejects"
    raw.temp_objects.append(("TABLE", rej))
    cases = " ".join(
        f"WHEN error_type LIKE {q_str(k + '%')} THEN {q_str(v)}" for k, v in REJECT_REASONS.items()
    )
    mark = q_str(WIDE_MARK)
    con.execute(
        f"CREATE TEMP TABLE {q_ident(rej)} AS SELECT row_number, reason, column_name, "
        f"CASE WHEN contains(line, {mark}) THEN 'row of ' || "
        f"split_part(line, {mark}, 2) || ' fields (header: {len(raw.columns)}); not kept' "
        f"ELSE left(line, {MAX_RAW_LINE}) END "
        f"AS raw_line, spans_lines FROM (SELECT line AS row_number, "
        f"arg_min(CASE {cases} ELSE 'malformed_row' END, coalesce(column_idx, -1)) AS reason, "
        f"arg_min(column_name, coalesce(column_idx, -1)) AS column_name, "
        f"arg_min(rtrim(csv_line, chr(10)), coalesce(column_idx, -1)) AS line, "
        f"max(length(rtrim(csv_line, chr(10))) - length(replace(rtrim(csv_line, chr(10)), "
        f"chr(10), ''))) AS spans_lines FROM {q_ident(errors)} GROUP BY line)"
    )
    # DuckDB names columns c0, c1 …: report the header's names
    con.execute(
        f"UPDATE {q_ident(rej)} SET column_name = CASE column_name "
        + " ".join(f"WHEN 'c{i}' THEN {q_str(c)}" for i, c in enumerate(raw.columns))
        + " ELSE column_name END"
    )
    raw.rejects = rej
    raw.rejected_rows = con.execute(f"SELECT count(*) FROM {q_ident(rej)}").fetchall()[0][0]
    if raw.rejected_rows:
        # With k = 1-based position among good rows and r_j the j-th rejected record, good
        # row k follows rejected row j iff k >= r_j - j.
        thr = f"{raw.prefix}thr"
        raw.temp_objects.append(("TABLE", thr))
        con.execute(
            f"CREATE TEMP TABLE {q_ident(thr)} AS SELECT t, max(j) AS j FROM ("
            f"SELECT row_number - row_number() OVER (ORDER BY row_number) AS t, "
            f"row_number() OVER (ORDER BY row_number) AS j FROM {q_ident(rej)}) GROUP BY t"
        )
        raw.thr = thr


def with_record_numbers(raw: RawFile, relation: str, pos: str) -> str:
    """SQL selecting ``relation``'s rows of ``raw`` with ``__row``, their record number.

    ``relation`` has a column ``pos``, the row's 0-based position among the file's rows read
    (in the order :func:`read_staged` wrote them), and a column ``__row`` that is replaced
    (kept as it is when the engine numbered the records itself).
    """
    if raw.numbered:
        return f"SELECT * FROM {relation}"
    number = f"r.{q_ident(pos)} + {raw.first_row}"
    if raw.thr is None:
        return f"SELECT r.* REPLACE ({number} AS __row) FROM {relation} r"
    return (
        f"SELECT r.* REPLACE ({number} + coalesce(m.j, 0) AS __row) FROM {relation} r "
        f"ASOF LEFT JOIN {q_ident(raw.thr)} m ON r.{q_ident(pos)} + 1 >= m.t"
    )


def _check_complete(con: duckdb.DuckDBPyConnection, raw: RawFile, scan: Scan) -> None:
    """Fail the file when records were swallowed (an unclosed quote, inconsistent lines)."""
    if raw.rejects and raw.rejected_rows:
        spans = con.execute(
            f"SELECT min(row_number) FROM {q_ident(raw.rejects)} "
            f"WHERE reason = 'malformed_quotes' AND spans_lines > 0"
        ).fetchall()[0][0]
        if spans is not None:
            raise ImportProblem(msg.UNCLOSED_QUOTE, file=raw.path, row=spans)
    expected = max(scan.lines - 1, 0)
    if raw.read >= expected:
        return
    inside = 0
    if scan.quotes:  # quoted values may hold line breaks: count them (reading the file again)
        parts = " + ".join(
            f"coalesce(sum(length({c}) - length(replace({c}, chr(10), ''))), 0)"
            for c in map(q_ident, raw.columns)
        )
        inside = con.execute(f"SELECT {parts} FROM {raw.plain}").fetchall()[0][0]
        if raw.rejects:
            inside += con.execute(
                f"SELECT coalesce(sum(spans_lines), 0) FROM {q_ident(raw.rejects)}"
            ).fetchall()[0][0]
    if raw.read + inside < expected:
        first_bad = None
        if raw.rejects:
            first_bad = con.execute(
                f"SELECT min(row_number) FROM {q_ident(raw.rejects)}"
            ).fetchall()[0][0]
        raise ImportProblem(
            msg.LOST_LINES,
            file=raw.path,
            lines=expected + 1,
            records=raw.read,
            row=first_bad or raw.read + 2,
        )


def drop_staged(con: duckdb.DuckDBPyConnection, raw: RawFile) -> None:
    """Drop the temporary objects of a staged file."""
    _drop(con, raw.temp_objects)
