"""Per-line scoring of the uplift and acceptance models on either engine.

One scoring frame (:func:`weixi.evaluate.service.uplift_scoring_sql`: the month's targetable
lines with their P(churn) and :data:`~weixi.evaluate.service.UPLIFT_FEATURES`), one per-batch
scoring function, two ways to run it:

- ``duckdb``: the frame is read on the driver in Arrow batches of :data:`BATCH_ROWS` lines, each
  scored as it comes (the month is never one pandas frame: 10 M lines would be gigabytes);
- ``spark``: the frame's SQL is generated for Spark from the same definition (sqlglot), the
  model travels to the executors as text and every Arrow batch is scored inside
  ``mapInArrow`` (the mechanism of :mod:`weixi.churn.spark`); the rows are written as Parquet
  and nothing row-level is collected to the driver.

Either way :func:`scored_lines` yields a relation the DuckDB store reads the rows from (a
registered frame, or ``read_parquet`` of the Spark output) and the number of scored lines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from weixi.errors import ConfigError
from weixi.store.analytics import detached

#: A scoring function: (the loaded model, a frame of scoring rows) -> output rows. It scores
#: each row on its own: both engines hand it the month a batch at a time.
Score = Callable[[Any, pd.DataFrame], pd.DataFrame]
#: Lines per batch scored on the driver (DuckDB)
BATCH_ROWS = 250_000


@contextlib.contextmanager
def scored_lines(
    con: duckdb.DuckDBPyConnection,
    month: dt.date,
    *,
    engine: str,
    model: Any,
    model_text: str,
    load: Callable[[str], Any],
    score: Score,
    schema: str,
) -> Iterator[tuple[str, int]]:
    """Score ``month``'s targetable lines with ``score`` on ``engine``.

    ``model`` is used as is on DuckDB; Spark's executors rebuild it from ``model_text`` with
    ``load`` (once per partition). ``schema`` is the output's Spark DDL schema (the columns
    ``score`` returns). Yields ``(relation, lines)``: a relation name or table function the
    store can ``SELECT … FROM`` while the context is open, and the number of lines scored.
    """
    from weixi.evaluate.service import uplift_scoring_sql

    if engine == "duckdb":
        import pyarrow as pa

        parts, lines = [], 0
        for batch in con.sql(uplift_scoring_sql(month)).to_arrow_reader(BATCH_ROWS):
            lines += batch.num_rows
            rows = score(model, batch.to_pandas())
            # a copy: columns taken over from the batch would keep all of it alive
            parts.append(detached(pa.Table.from_pandas(rows, preserve_index=False)))
        if not parts:  # no targetable line: the columns of an empty batch's scores
            empty = con.execute(f"SELECT * FROM ({uplift_scoring_sql(month)}) LIMIT 0").df()
            parts.append(pa.Table.from_pandas(score(model, empty), preserve_index=False))
        out = pa.concat_tables(parts, promote_options="default")
        name = f"_scored_{uuid.uuid4().hex[:8]}"
        con.register(name, out)
        try:
            yield name, lines
        finally:
            con.unregister(name)
        return
    if engine != "spark":
        raise ConfigError("unknown engine {engine!r}: use duckdb or spark", engine=engine)
    tmp = Path(tempfile.mkdtemp(prefix="weixi-uplift-spark-"))
    try:
        spark = _spark_inputs(con, month, tmp)
        sql = uplift_scoring_sql(month, dialect="spark")
        arrow_schema = _arrow_schema(schema)

        def run(batches):
            import pyarrow as pa

            fitted = load(model_text)
            for batch in batches:
                rows = score(fitted, batch.to_pandas())
                yield from pa.Table.from_pandas(
                    rows, schema=arrow_schema, preserve_index=False
                ).to_batches()

        out = tmp / "scored"
        spark.sql(sql).mapInArrow(run, schema).write.mode("overwrite").parquet(f"file://{out}")
        lines = spark.sql(f"SELECT count(*) AS n FROM ({sql})").first()["n"]
        yield f"read_parquet('{out}/*.parquet')", int(lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _arrow_schema(ddl: str):
    """The Arrow schema of a Spark DDL schema of string and double columns."""
    import pyarrow as pa

    types = {"string": pa.string(), "double": pa.float64()}
    return pa.schema([(name, types[kind]) for name, kind in (f.split() for f in ddl.split(","))])


def _spark_inputs(con: duckdb.DuckDBPyConnection, month: dt.date, folder: Path):
    """``month``'s rows of the tables the scoring frame reads, as Spark views of the same
    names; the session."""
    from weixi.store.backends import spark_views

    m = f"DATE '{month.isoformat()}'"
    return spark_views(
        con,
        folder,
        {
            "snapshot": f"SELECT * FROM snapshot WHERE month = {m}",
            "segments": f"SELECT month, subscriber_id, excluded FROM segments WHERE month = {m}",
            "churn_scores": "SELECT month, subscriber_id, model_version, p_churn "
            f"FROM churn_scores WHERE month = {m}",
        },
    )
