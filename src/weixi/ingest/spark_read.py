"""Read an input file on Spark: CSV or Parquet on any path Spark reads (HDFS, S3, local).

``weixi import --engine spark`` stages each file here instead of in DuckDB
(:func:`weixi.ingest.read.stage_file`): Spark reads and parses the file where it lies, numbers
its records, sorts out malformed rows with a reason, and writes the month's rows as Parquet
(every value a string, like the DuckDB reader's). The store then validates, quarantines and
writes the month from that Parquet through the same SQL as every import
(:mod:`weixi.ingest.service`), so both engines load the same rows and quarantine the same rows
for the same reasons.

What differs from the DuckDB reader (see docs/import.md):

- Spark reads a CSV **line by line**, so a record must be one line: a quoted value holding a
  line break is quarantined as ``malformed_quotes`` (on each of its lines) instead of loaded.
- The encoding is found as for DuckDB (:func:`~weixi.ingest.read.detect_encoding`, local files)
  or taken from the mapping (default UTF-8); GBK/GB18030 are decoded on the executors, a byte
  that does not decode quarantines its row as ``invalid_encoding``. UTF-16 is transcoded first
  (local files only).
- A path is one file (gzip is read directly); row numbers count records from the header (row 1),
  blank lines skipped, as on DuckDB.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from weixi.ingest import messages as msg
from weixi.ingest.messages import ImportProblem
from weixi.ingest.read import (
    MAX_RAW_LINE,
    PARQUET_SUFFIXES,
    UTF8,
    WIDE_SLACK,
    RawFile,
    _drop,
    check_header,
    detect_encoding,
    header_names,
    parse_header,
    q_ident,
    q_str,
    sniff_delimiter,
    sniff_kind,
    transcode_to_utf8,
)

MAX_LINE = 2_097_152  # characters: DuckDB's default max_line_size (reason line_too_long)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def is_uri(path: str | Path) -> bool:
    """True for a Hadoop-style location (``hdfs://…``, ``s3a://…``, ``file:/…``)."""
    return isinstance(path, str) and bool(_SCHEME.match(path)) and not Path(path).exists()


def spark_uri(path: str | Path) -> str:
    """The location Spark reads: URIs as given, local paths as absolute ``file://`` URIs."""
    if is_uri(path):
        return str(path)
    return Path(path).resolve().as_uri()


def display_path(path: str | Path) -> str | Path:
    """What messages name: a URI as given, a local path as a :class:`Path`."""
    return str(path) if is_uri(path) else Path(path)


def stage_file_spark(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    prefix: str,
    tmpdir: Path,
    encoding: str | None = None,
    delimiter: str | None = None,
    quote: str = '"',
) -> RawFile:
    """Read ``path`` on Spark and stage it for the store as temporary objects ``prefix…``.

    Returns a :class:`RawFile` like :func:`weixi.ingest.read.stage_file`'s whose source is a
    view with ``__row`` (Spark numbered the records) plus the source columns as strings and,
    for CSV, a rejects table already filled.

    Raises:
        ImportProblem: the file cannot be read as a whole (one line naming the file).
    """
    shown = display_path(path)
    local = not is_uri(path)
    if local and not Path(path).exists():
        raise ImportProblem(msg.FILE_NOT_FOUND, file=shown)
    name = str(path).rsplit("/", 1)[-1].lower()
    kind = (
        sniff_kind(Path(path))
        if local
        else ("parquet" if name.endswith(PARQUET_SUFFIXES) else "csv")
    )
    if kind == "parquet" or name.endswith(PARQUET_SUFFIXES):
        return _stage_parquet(con, path, prefix=prefix, tmpdir=tmpdir)
    enc = (
        detect_encoding(Path(path), encoding, kind=kind) if local else (encoding or "utf-8")
    ).lower()
    source = path
    if enc.startswith(("utf-16", "utf-32")):  # lines are not split on single bytes
        if not local:
            raise ImportProblem(msg.SPARK_ENCODING, file=shown, declared=enc)
        # (Hadoop's readers skip files named "_…" or ".…": the copy's name starts otherwise)
        source = transcode_to_utf8(Path(path), enc, tmpdir / f"utf8{prefix}.csv")
    raw = _stage_csv(
        con,
        source,
        prefix=prefix,
        tmpdir=tmpdir,
        encoding="utf-8" if source is not path else enc,
        delimiter=delimiter,
        quote=quote or '"',
        shown=shown,
    )
    raw.encoding = enc
    return raw


_JAVA_CHARSETS = {"latin-1": "ISO-8859-1", "latin1": "ISO-8859-1", "cp936": "GBK"}


def _session():
    from weixi.store.backends import spark_session

    return spark_session()


def _numbered(df, functions):
    """``df`` with ``__rec``: the 1-based position of each row in its file, computed on the
    executors (the per-split row counts are the only thing the driver sees)."""
    F = functions
    df = df.withColumn("__fp", F.col("_metadata.file_path")).withColumn(
        "__bs", F.col("_metadata.file_block_start")
    )
    df = df.withColumn("__mid", F.monotonically_increasing_id())
    # rows of one split are consecutive within their partition, so position = rows of the
    # earlier splits + (id - the split's first id)
    splits = df.groupBy("__fp", "__bs").agg(
        F.count(F.lit(1)).alias("__n"), F.min("__mid").alias("__first")
    )
    from pyspark.sql import Window

    before = Window.partitionBy("__fp").orderBy("__bs").rowsBetween(Window.unboundedPreceding, -1)
    splits = splits.withColumn("__before", F.coalesce(F.sum("__n").over(before), F.lit(0)))
    out = df.join(F.broadcast(splits.drop("__n")), ["__fp", "__bs"])
    return out.withColumn("__rec", F.col("__before") + F.col("__mid") - F.col("__first") + 1)


def _write(df, path: Path) -> None:
    df.write.mode("overwrite").parquet(path.resolve().as_uri())


def _parquet_glob(path: Path) -> str:
    return q_str(str(path.resolve() / "*.parquet"))


def _stage_csv(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    *,
    prefix: str,
    tmpdir: Path,
    encoding: str,
    delimiter: str | None,
    quote: str,
    shown: str | Path,
) -> RawFile:
    from pyspark.sql import functions as F

    spark = _session()
    body = None
    if encoding in UTF8:
        text, broken = F.col("value"), ~F.is_valid_utf8("value")
    else:
        charset = _JAVA_CHARSETS.get(encoding, encoding.upper())
        text = F.decode(F.col("value").cast("binary"), charset)
        broken = F.instr(text, "\ufffd") > 0
    try:
        lines = spark.read.text(spark_uri(path))
        # the header: the first line of the file's first split (no numbering needed)
        head = (
            lines.filter(F.col("_metadata.file_block_start") == 0)
            .limit(1)
            .select(text.alias("value"))
            .collect()
        )
    except Exception:  # Spark raises many kinds; its text may quote rows: name the file only
        raise ImportProblem(
            msg.CSV_READER, file=shown, row=1, what=msg.WHAT_IO, delim="-"
        ) from None
    try:
        if not head:
            raise ImportProblem(msg.EMPTY_FILE, file=shown)
        header = head[0][0].lstrip("\ufeff")
        delim = delimiter or sniff_delimiter(header)
        names = parse_header(header, delim, quote)
        if not any(c.strip() for c in names):
            raise ImportProblem(msg.NO_HEADER, file=shown)
        check_header(shown, names)
        columns = header_names(names)
        n = len(columns)

        # numbered as lines of the file (blank lines count, as in DuckDB's reject rows); the
        # text reader keeps the file's bytes, decoded here when the file is not UTF-8
        rec = _numbered(lines, F).select("__rec", text.alias("value"), broken.alias("__broken"))
        body = rec.filter((F.col("__rec") >= 2) & (F.length("value") > 0))
        q, d = re.escape(quote), re.escape(delim)
        # a record's fields: drop the quoted values (a value starting with the quote, doubled
        # quotes inside, closed right before a delimiter or the end), then count the
        # delimiters; a value still starting with a quote was never closed properly (a quote
        # inside a bare value is text, as for DuckDB)
        bare_quoted = f"(^|{d}){q}(?:[^{q}]|{q}{q})*{q}(?={d}|$)"
        plain = F.instr("value", quote) == 0  # most lines: no quote, nothing to parse
        bare = F.when(plain, F.col("value")).otherwise(F.regexp_replace("value", bare_quoted, "$1"))
        fields = F.size(F.split(bare, d, -1))
        reason = (
            F.when(F.length("value") > MAX_LINE, "line_too_long")
            .when(F.col("__broken"), "invalid_encoding")
            .when(F.regexp_like(bare, F.lit(f"(^|{d}){q}")), "malformed_quotes")
            .when(fields < n, "missing_fields")
            .when(fields > n, "too_many_fields")
        )
        # kept while the rows and the rejects are written: one parse of the file
        body = body.withColumn("__fields", fields).withColumn("__reason", reason).persist()
        good = body.filter(F.col("__reason").isNull())
        schema = ", ".join(f"c{i} STRING" for i in range(n))
        opts = {"sep": delim, "quote": quote, "escape": quote, "mode": "PERMISSIVE"}
        parsed = good.select(
            F.col("__rec").alias("__row"), F.from_csv("value", schema, opts).alias("__r")
        ).select("__row", "__r.*")
        raw_dir, rej_dir = tmpdir / f"{prefix}spark_raw", tmpdir / f"{prefix}spark_rej"
        _write(parsed, raw_dir)
        names_arr = F.array(*[F.lit(c) for c in columns])
        # the first field holding a byte that does not decode (named like DuckDB's reject)
        undecoded = F.array_position(
            F.transform(
                F.split(F.regexp_replace(F.make_valid_utf8("value"), bare_quoted, "$1"), d, -1),
                lambda x: F.instr(x, "\ufffd") > 0,
            ),
            True,
        ).cast("int")
        bad = body.filter(F.col("__reason").isNotNull()).select(
            F.col("__rec").alias("row_number"),
            F.col("__reason").alias("reason"),
            F.when(
                F.col("__reason") == "missing_fields",
                F.element_at(names_arr, F.col("__fields") + 1),
            )
            .when(F.col("__reason") == "invalid_encoding", F.element_at(names_arr, undecoded))
            .alias("column_name"),
            F.when(
                F.col("__fields") >= n + WIDE_SLACK,
                F.format_string(f"row of %d fields (header: {n}); not kept", F.col("__fields")),
            )
            .otherwise(F.substring(F.make_valid_utf8("value"), 1, MAX_RAW_LINE))
            .alias("raw_line"),
            F.lit(0).cast("bigint").alias("spans_lines"),
        )
        _write(bad, rej_dir)
    except ImportProblem:
        raise
    except Exception:
        raise ImportProblem(
            msg.CSV_READER, file=shown, row="?", what=msg.WHAT_UNREADABLE, delim=repr(delimiter)
        ) from None
    finally:
        if body is not None:
            body.unpersist()

    raw = RawFile(
        path=shown,
        format="csv",
        view=f"{prefix}view",
        columns=columns,
        encoding="utf-8",
        delimiter=delim,
        compression="gzip" if str(path).lower().endswith(".gz") else None,
    )
    rej = f"{prefix}rejects"
    raw.temp_objects += [("TABLE", rej), ("VIEW", raw.view)]
    try:
        con.execute(
            f"CREATE TEMP TABLE {q_ident(rej)} AS SELECT CAST(row_number AS BIGINT) AS row_number, "
            f"reason, column_name, raw_line, CAST(spans_lines AS BIGINT) AS spans_lines "
            f"FROM read_parquet({_parquet_glob(rej_dir)})"
        )
        renamed = ", ".join(f"c{i} AS {q_ident(c)}" for i, c in enumerate(columns))
        con.execute(
            f"CREATE TEMP VIEW {q_ident(raw.view)} AS SELECT CAST(__row AS BIGINT) AS __row, "
            f"{renamed} FROM read_parquet({_parquet_glob(raw_dir)})"
        )
        raw.rejects = rej
        raw.rejected_rows = con.execute(f"SELECT count(*) FROM {q_ident(rej)}").fetchone()[0]
        raw.good_rows = con.execute(f"SELECT count(*) FROM {q_ident(raw.view)}").fetchone()[0]
        _numbered_source(raw)
    except BaseException:
        _drop(con, raw.temp_objects)
        raise
    return raw


def _stage_parquet(
    con: duckdb.DuckDBPyConnection, path: str | Path, *, prefix: str, tmpdir: Path
) -> RawFile:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark = _session()
    shown = display_path(path)
    out = tmpdir / f"{prefix}spark_raw"
    try:
        df = spark.read.parquet(spark_uri(path))
        fields = df.schema.fields
    except Exception:
        raise ImportProblem(msg.PARQUET_UNREADABLE, file=shown, what=msg.WHAT_UNREADABLE) from None
    columns = [f.name for f in fields]
    check_header(shown, columns)
    temporal = {f.name for f in fields if isinstance(f.dataType, T.DateType | T.TimestampType)}
    exprs = []
    for i, f in enumerate(fields):
        col = F.col(f"`{f.name}`")
        if f.name in temporal:
            col = col.cast("date")
        exprs.append(col.cast("string").alias(f"c{i}"))
    try:
        _write(df.select((F.col("_metadata.row_index") + 1).alias("__row"), *exprs), out)
    except Exception:
        raise ImportProblem(msg.PARQUET_UNREADABLE, file=shown, what=msg.WHAT_UNREADABLE) from None
    raw = RawFile(
        path=shown, format="parquet", view=f"{prefix}raw", columns=columns, temporal=temporal
    )
    raw.temp_objects.append(("VIEW", raw.view))
    renamed = ", ".join(f"c{i} AS {q_ident(c)}" for i, c in enumerate(columns))
    con.execute(
        f"CREATE TEMP VIEW {q_ident(raw.view)} AS SELECT CAST(__row AS BIGINT) AS __row, "
        f"{renamed} FROM read_parquet({_parquet_glob(out)})"
    )
    raw.good_rows = con.execute(f"SELECT count(*) FROM {q_ident(raw.view)}").fetchone()[0]
    _numbered_source(raw)
    return raw


def _numbered_source(raw: RawFile) -> None:
    """Point the file's source at the staged view, which numbers its records itself."""
    raw.source = raw.plain = f"(SELECT * FROM {q_ident(raw.view)})"
    raw.numbered = True
