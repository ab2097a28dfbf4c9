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
``hash``.
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

    raise ConfigError(f"unknown engine {engine!r}: use duckdb or spark")
