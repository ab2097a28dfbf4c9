"""Ibis backends: the same expressions run on DuckDB (default) or PySpark.

Domain code receives an ``ibis`` backend and table expressions; it never checks which engine
it runs on. For Spark, the month's tables are handed over as Parquet files exported from the
DuckDB store (the operator's own lake would point Spark at its Parquet directly).
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

import duckdb
import ibis

from weixi.errors import ConfigError


def duckdb_backend(con: duckdb.DuckDBPyConnection):
    """Wrap an open DuckDB connection as an ibis backend (shares the same database)."""
    return ibis.duckdb.from_connection(con)


@lru_cache(maxsize=1)
def spark_session(master: str = "local[2]"):
    """Start (once per process) a real local SparkSession with a temporary warehouse."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError(
            "engine 'spark' needs the spark extra: pip install 'weixi[spark]'"
        ) from exc
    warehouse = Path(tempfile.mkdtemp(prefix="weixi-spark-"))
    session = (
        SparkSession.builder.master(master)
        .appName("weixi")
        .config("spark.sql.warehouse.dir", str(warehouse / "warehouse"))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.ansi.enabled", "false")
        # the import decodes GBK/GB18030 exports (Spark 4 allows only a few charsets otherwise)
        # and marks undecodable bytes with U+FFFD instead of failing the file
        .config("spark.sql.legacy.javaCharsets", "true")
        .config("spark.sql.legacy.codingErrorAction", "true")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={warehouse}")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_backend():
    """Return an ibis PySpark backend on the shared local SparkSession."""
    return ibis.pyspark.connect(spark_session())


def spark_sql(sql: str, *, keep_order: bool = False) -> str:
    """Spark SQL generated (sqlglot) from one of the store's DuckDB queries: the single
    definition of a step, run by Spark over the same table names (:func:`spark_views`).

    A top-level ORDER BY is dropped unless ``keep_order`` (Spark's rows are written unordered;
    readers order). DuckDB's ``('0x' || hex digits)::BIGINT`` (the md5 draws of
    :mod:`weixi.store.sqlrun`) becomes ``CAST(conv(digits, 16, 10) AS BIGINT)``: Spark reads no
    hexadecimal strings, and a plain transpilation would give NULL.
    """
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    if not keep_order:
        tree.set("order", None)

    def hex_cast(node: exp.Expression) -> exp.Expression:
        inner = node.this.unnest() if isinstance(node, exp.Cast) else None
        if isinstance(inner, exp.DPipe):
            left = inner.this
            if isinstance(left, exp.Literal) and left.is_string and left.this == "0x":
                conv = exp.Anonymous(
                    this="conv",
                    expressions=[inner.expression, exp.Literal.number(16), exp.Literal.number(10)],
                )
                return exp.Cast(this=conv, to=node.args["to"])
        return node

    return tree.transform(hex_cast).sql(dialect="spark")


def spark_views(con: duckdb.DuckDBPyConnection, folder: Path, tables: dict[str, str]):
    """Hand rows of the DuckDB store to Spark: each ``name: SELECT`` of ``tables`` is exported
    as Parquet into ``folder`` and registered as Spark temporary view ``name`` (on a cluster the
    operator's lake holds these tables already). Returns the local session."""
    spark = spark_session()
    for name, select in tables.items():
        path = Path(folder) / f"{name}.parquet"
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
        spark.read.parquet(f"file://{path}").createOrReplaceTempView(name)
    return spark


def connect_engine(engine: str, con: duckdb.DuckDBPyConnection | None = None):
    """Return an ibis backend for ``engine`` ('duckdb' needs the open DuckDB connection)."""
    if engine == "duckdb":
        if con is None:
            raise ConfigError("engine 'duckdb' needs an open DuckDB connection")
        return duckdb_backend(con)
    if engine == "spark":
        return spark_backend()
    raise ConfigError("unknown engine {engine!r}: use duckdb or spark", engine=engine)
