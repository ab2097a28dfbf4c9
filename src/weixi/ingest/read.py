"""Read operator files into DuckDB temporary tables, all values as text, with exact row numbers.

Nothing here holds rows as Python objects: non-UTF-8 CSV files are transcoded to a temporary
UTF-8 file in fixed-size chunks (DuckDB's CSV reader only decodes UTF-8, UTF-16 and Latin-1
unless the ``encodings`` extension is installed, which cannot be assumed offline), then DuckDB
reads the file with ``all_varchar`` and a strict dialect. Rows whose field count does not match
the header (a truncated last line, a stray delimiter) or whose quoting/encoding is broken are
collected by DuckDB's ``store_rejects`` with their record number, so they are quarantined
rather than silently padded or dropped.

Row numbers are CSV record numbers with the header as row 1 (the first data row is row 2).
DuckDB keeps insertion order (``preserve_insertion_order``), so a good row's position in the
temporary table plus the rejected rows before it gives its record number exactly. For Parquet
the row number is the 1-based ``file_row_number``.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb

from weixi.errors import IngestError

CHUNK = 4 << 20  # bytes per transcoding chunk
DELIMITER_CANDIDATES = (",", "\t", "|", ";", "\x01", "^")
PARQUET_SUFFIXES = (".parquet", ".pq")
TEMPORAL_PREFIXES = ("DATE", "TIMESTAMP")

# DuckDB reject error types -> weixi reason codes
REJECT_REASONS = {
    "MISSING COLUMNS": "missing_fields",
    "TOO MANY COLUMNS": "too_many_fields",
    "UNQUOTED VALUE": "malformed_quotes",
    "INVALID UNICODE": "invalid_encoding",
    "INVALID ENCODING": "invalid_encoding",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
}


@dataclass
class RawFile:
    """One input file staged in DuckDB: a view ``view`` with ``__row`` plus the source columns."""

    path: Path
    format: str  # csv | parquet
    view: str
    columns: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    temporal: set[str] = field(default_factory=set)  # Parquet columns already typed as dates
    rejects: str | None = None  # temp table (row_number, reason, column_name, raw_line)
    good_rows: int = 0
    rejected_rows: int = 0
    temp_objects: list[tuple[str, str]] = field(default_factory=list)  # (kind, name) to drop

    @property
    def read(self) -> int:
        """Records read from the file (data rows, header excluded)."""
        return self.good_rows + self.rejected_rows


def q_ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def q_str(value: str) -> str:
    """Quote an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _open_binary(path: Path) -> BinaryIO:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def detect_encoding(path: Path, declared: str | None = None) -> str:
    """Return the file's text encoding: the declared one, else BOM, else UTF-8, else GB18030.

    UTF-8 is chosen only when the whole file decodes as UTF-8 (checked in streamed chunks);
    GB18030 is a superset of GBK and GB2312, the encodings of Chinese operators' exports.
    """
    if declared:
        return declared
    with _open_binary(path) as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        try:
            while chunk := fh.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8"


def transcode_to_utf8(src: Path, encoding: str, dest: Path) -> Path:
    """Stream ``src`` from ``encoding`` into UTF-8 file ``dest`` chunk by chunk."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    try:
        with _open_binary(src) as fin, dest.open("wb") as fout:
            while chunk := fin.read(CHUNK):
                fout.write(decoder.decode(chunk).encode("utf-8"))
                offset += len(chunk)
            fout.write(decoder.decode(b"", final=True).encode("utf-8"))
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{src}: not valid {encoding} near byte {offset + exc.start}; "
            f"set `encoding:` in the mapping to the file's real encoding"
        ) from exc
    return dest


def _first_line(path: Path) -> str:
    with _open_binary(path) as fh:
        raw = fh.readline(1 << 20)
    return raw.decode("utf-8-sig", errors="replace").rstrip("\r\n")


def sniff_delimiter(header_line: str) -> str:
    """Pick the candidate delimiter that occurs most often in the header line.

    >>> sniff_delimiter("YHBS|地市|ARPU")
    '|'
    """
    counts = {d: header_line.count(d) for d in DELIMITER_CANDIDATES}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


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
    """Load ``path`` into temporary DuckDB objects named ``prefix…`` and describe it."""
    if not path.exists():
        raise IngestError(f"input file not found: {path}")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _stage_parquet(con, path, prefix=prefix)
    return _stage_csv(
        con,
        path,
        prefix=prefix,
        tmpdir=tmpdir,
        encoding=encoding,
        delimiter=delimiter,
        quote=quote,
    )


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, *, prefix: str) -> RawFile:
    src = f"read_parquet({q_str(str(path))}, file_row_number=true)"
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM read_parquet({q_str(str(path))})").fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot read Parquet: {exc}") from exc
    columns = [r[0] for r in desc]
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
    table = f"{prefix}raw"
    raw = RawFile(path=path, format="parquet", view=table, columns=columns, temporal=temporal)
    raw.temp_objects.append(("TABLE", table))
    try:
        con.execute(
            f"CREATE TEMP TABLE {q_ident(table)} AS SELECT file_row_number + 1 AS __row, "
            f"{', '.join(exprs)} FROM {src}"
        )
    except duckdb.Error as exc:
        _drop(con, raw.temp_objects)
        raise IngestError(f"{path}: cannot read Parquet: {exc}") from exc
    raw.good_rows = con.execute(f"SELECT count(*) FROM {q_ident(table)}").fetchone()[0]
    return raw


def _stage_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    prefix: str,
    tmpdir: Path,
    encoding: str | None,
    delimiter: str | None,
    quote: str,
) -> RawFile:
    enc = detect_encoding(path, encoding)
    target = path
    if enc not in ("utf-8", "utf-8-sig"):
        target = transcode_to_utf8(path, enc, tmpdir / f"{prefix}utf8.csv")
    header = _first_line(target)
    delim = delimiter or sniff_delimiter(header)
    columns = next(csv.reader(io.StringIO(header), delimiter=delim, quotechar=quote), [])
    if not any(c.strip() for c in columns):
        raise IngestError(f"{path}: the first line must be a header naming the columns")

    table, rejects, scans = f"{prefix}raw", f"{prefix}rej_errors", f"{prefix}rej_scans"
    raw = RawFile(
        path=path, format="csv", view=f"{prefix}view", columns=[], encoding=enc, delimiter=delim
    )
    raw.temp_objects += [("TABLE", scans), ("TABLE", rejects), ("TABLE", table)]
    opts = (
        f"header=true, all_varchar=true, delim={q_str(delim)}, quote={q_str(quote)}, "
        f"escape={q_str(quote)}, strict_mode=true, null_padding=false"
    )
    try:
        con.execute(
            f"CREATE TEMP TABLE {q_ident(table)} AS SELECT * FROM read_csv("
            f"{q_str(str(target))}, {opts}, ignore_errors=true, store_rejects=true, "
            f"rejects_table={q_str(rejects)}, rejects_scan={q_str(scans)}, rejects_limit=0)"
        )
    except duckdb.Error as exc:
        _drop(con, raw.temp_objects)
        raise IngestError(f"{path}: cannot read CSV (delimiter {delim!r}): {exc}") from exc
    raw.columns = [d[0] for d in con.execute(f"SELECT * FROM {q_ident(table)} LIMIT 0").description]
    raw.good_rows = con.execute(f"SELECT count(*) FROM {q_ident(table)}").fetchone()[0]

    # One reason per rejected record; DuckDB's `line` is the record number (header = 1).
    rej = f"{prefix}rejects"
    raw.temp_objects.append(("TABLE", rej))
    cases = " ".join(
        f"WHEN error_type LIKE {q_str(k + '%')} THEN {q_str(v)}" for k, v in REJECT_REASONS.items()
    )
    con.execute(
        f"CREATE TEMP TABLE {q_ident(rej)} AS SELECT line AS row_number, "
        f"arg_min(CASE {cases} ELSE 'malformed_row' END, coalesce(column_idx, -1)) AS reason, "
        f"arg_min(column_name, coalesce(column_idx, -1)) AS column_name, "
        f"arg_min(csv_line, coalesce(column_idx, -1)) AS raw_line "
        f"FROM {q_ident(rejects)} GROUP BY line"
    )
    raw.rejects = rej
    raw.rejected_rows = con.execute(f"SELECT count(*) FROM {q_ident(rej)}").fetchone()[0]

    # __row = record number. With k = 1-based position among good rows and r_j the j-th
    # rejected record, good row k follows rejected row j iff k >= r_j - j.
    raw.temp_objects.append(("VIEW", raw.view))
    if raw.rejected_rows == 0:
        con.execute(
            f"CREATE TEMP VIEW {q_ident(raw.view)} AS "
            f"SELECT rowid + 2 AS __row, * FROM {q_ident(table)}"
        )
    else:
        thr = f"{prefix}thr"
        raw.temp_objects.insert(-1, ("TABLE", thr))
        con.execute(
            f"CREATE TEMP TABLE {q_ident(thr)} AS SELECT t, max(j) AS j FROM ("
            f"SELECT row_number - row_number() OVER (ORDER BY row_number) AS t, "
            f"row_number() OVER (ORDER BY row_number) AS j FROM {q_ident(rej)}) GROUP BY t"
        )
        con.execute(
            f"CREATE TEMP VIEW {q_ident(raw.view)} AS "
            f"SELECT r.rowid + 2 + coalesce(m.j, 0) AS __row, r.* FROM {q_ident(table)} r "
            f"ASOF LEFT JOIN {q_ident(thr)} m ON r.rowid + 1 >= m.t"
        )
    return raw


def drop_staged(con: duckdb.DuckDBPyConnection, raw: RawFile) -> None:
    """Drop the temporary objects of a staged file."""
    _drop(con, raw.temp_objects)
