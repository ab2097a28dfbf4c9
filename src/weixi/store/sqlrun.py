"""One SQL definition of a batch step, run on DuckDB or on Spark.

Matching and the plan's per-line work are chains of ``CREATE … AS SELECT`` over the month's
tables. A step writes each link as ``run.create(name, sql)`` in the store's dialect (DuckDB)
and reads results with ``run.rows`` / ``run.df`` (aggregates only) — it never asks which engine
it runs on:

- :class:`DuckRun` executes on the store's connection (temporary tables);
- :class:`SparkRun` generates Spark SQL from the same text (:func:`~weixi.store.backends.spark_sql`),
  materializes each link as Parquet in a work folder and registers it as a temporary view of the
  same name. Its inputs are the
  month's rows of the store's tables, handed over as Parquet (on a cluster the operator's lake
  holds them). Per-line results come back only where the store must keep them, as
  ``read_parquet`` relations of the Parquet Spark wrote (:meth:`SparkRun.relation`).

Draws that must agree between the engines (control groups, exploration, tie-breaks) use
:func:`hash_key_sql` / :func:`uniform_sql` (md5), never an engine's own
``hash``. Averages a decision reads use :func:`exact_avg`: a floating-point sum depends on the
order of its terms, which a parallel scan changes from run to run.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd

from weixi.store.backends import spark_sql
from weixi.strategy.schemas import sql_literal

UNIFORM_SCALE = float(2**52)  # 52 bits of md5: exact in a double


def uniform_sql(column: str, salt: str) -> str:
    """SQL (DuckDB) for a uniform draw in [0, 1) of ``column`` under ``salt`` (md5, first 52
    bits; the same value on Spark)."""
    return (
        f"(('0x' || substr(md5(CAST({column} AS VARCHAR) || ':' || {sql_literal(salt)}), 1, 13))"
        f"::BIGINT / CAST({UNIFORM_SCALE!r} AS DOUBLE))"  # a DOUBLE on Spark too, not a DECIMAL
    )


def exact_avg(expr: str, scale: int = 12, where: str | None = None) -> str:
    """SQL (DuckDB and Spark) for ``avg(expr)`` that does not depend on the order of the rows.

    Each value is rounded to ``scale`` decimal places and summed as a DECIMAL (integer
    arithmetic, exact), so the same rows give the same bits whichever threads read them;
    the mean comes back as a DOUBLE. 38 digits: values below 10^(38 − scale − 7) on ten
    million rows. The plain ``avg`` of doubles adds in the order the threads finish, and the
    last bits it changes are enough to move an optimal plan between tied alternatives.
    ``where``: the aggregate's ``FILTER`` condition."""
    return _exact("avg", expr, scale, where)


def exact_sum(expr: str, scale: int = 12, where: str | None = None) -> str:
    """SQL for ``sum(expr)`` that does not depend on the order of the rows (as :func:`exact_avg`)."""
    return _exact("sum", expr, scale, where)


def _exact(agg: str, expr: str, scale: int, where: str | None) -> str:
    cond = f" FILTER (WHERE {where})" if where else ""
    return f"CAST({agg}(CAST({expr} AS DECIMAL(38, {int(scale)}))){cond} AS DOUBLE)"


def hash_key_sql(expr: str) -> str:
    """SQL (DuckDB) for a 60-bit integer key of ``expr`` (md5; the same value on Spark)."""
    return f"('0x' || substr(md5(CAST({expr} AS VARCHAR)), 1, 15))::BIGINT"


class Run(Protocol):
    """Where a step's SQL runs (see the module docstring)."""

    engine: str

    def create(self, name: str, sql: str) -> None: ...
    def rows(self, sql: str) -> list[tuple]: ...
    def df(self, sql: str) -> pd.DataFrame: ...
    def frame(self, name: str, data: pd.DataFrame) -> None: ...
    def relation(self, name: str) -> str: ...
    def close(self) -> None: ...


class DuckRun:
    """Run on the store's DuckDB connection; links are temporary tables."""

    engine = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def create(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def df(self, sql: str) -> pd.DataFrame:
        return self.con.execute(sql).df()

    def frame(self, name: str, data: pd.DataFrame) -> None:
        view = f"_{name}_df_{uuid.uuid4().hex[:6]}"
        self.con.register(view, data)
        try:
            self.create(name, f"SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    def relation(self, name: str) -> str:
        return name

    def close(self) -> None:
        return None


class SparkRun:
    """Run on the shared Spark session; links are Parquet folders registered as views.

    ``inputs`` maps a view name to a DuckDB ``SELECT`` over the store (the month's rows), handed
    to Spark as Parquet before the first statement.
    """

    engine = "spark"

    def __init__(self, con: duckdb.DuckDBPyConnection, inputs: dict[str, str]):
        from weixi.store.backends import spark_views

        self.con = con
        self.folder = Path(tempfile.mkdtemp(prefix="weixi-sql-spark-"))
        self.spark = spark_views(con, self.folder, inputs)

    def _path(self, name: str) -> Path:
        return self.folder / name

    def create(self, name: str, sql: str) -> None:
        path = self._path(name)
        self.spark.sql(spark_sql(sql)).write.mode("overwrite").parquet(f"file://{path}")
        self.spark.read.parquet(f"file://{path}").createOrReplaceTempView(name)

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.spark.sql(spark_sql(sql, keep_order=True)).collect()]

    def df(self, sql: str) -> pd.DataFrame:
        return self.spark.sql(spark_sql(sql, keep_order=True)).toPandas()

    def frame(self, name: str, data: pd.DataFrame) -> None:
        # through DuckDB's Parquet writer: exact types, and an empty frame keeps its columns
        path = self._path(name)
        path.mkdir(parents=True, exist_ok=True)
        view = f"_{name}_df_{uuid.uuid4().hex[:6]}"
        self.con.register(view, data)
        try:
            self.con.execute(
                f"COPY (SELECT * FROM {view}) TO {sql_literal(str(path / 'part-0.parquet'))} "
                "(FORMAT parquet)"
            )
        finally:
            self.con.unregister(view)
        self.spark.read.parquet(f"file://{path}").createOrReplaceTempView(name)

    def relation(self, name: str) -> str:
        return f"read_parquet({sql_literal(str(self._path(name) / '*.parquet'))})"

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def open_run(
    con: duckdb.DuckDBPyConnection, engine: str, inputs: dict[str, str] | None = None
) -> Any:
    """A :class:`DuckRun` or a :class:`SparkRun` (with ``inputs`` handed over) for ``engine``."""
    if engine == "duckdb":
        return DuckRun(con)
    if engine == "spark":
        return SparkRun(con, inputs or {})
    from weixi.errors import ConfigError

    raise ConfigError("unknown engine {engine!r}: use duckdb or spark", engine=engine)
