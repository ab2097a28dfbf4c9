"""Bulk writes into the operational database: ``COPY … FROM STDIN`` on PostgreSQL, the
driver's ``executemany`` elsewhere (SQLite).

The rows come as an Arrow table whose column names are the target table's columns. On
PostgreSQL the table is rendered as CSV by Arrow's writer (C++, no Python loop per row: strings
are quoted, NULLs are empty and unquoted, so an empty string and NULL stay apart; floats are
written with their shortest round-trip digits) and streamed through psycopg's ``copy``. The
write joins the session's transaction: the caller commits.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy.orm import Session

from weixi.dispatch import cells

#: Rows per ``executemany`` batch on drivers without COPY.
BATCH = 50_000


def _plain(data: pa.Table) -> pa.Table:
    """Timestamps at microseconds (what the databases store), decimals as doubles (the
    operational columns are FLOAT; the drivers bind Python floats, not Decimal)."""
    cols = []
    for field, col in zip(data.schema, data.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            col = pc.cast(col, pa.timestamp("us"))
        elif pa.types.is_decimal(field.type):
            col = pc.cast(col, pa.float64())
        cols.append(col)
    return pa.table(cols, names=data.column_names)


def insert_arrow(session: Session, table: str, data: pa.Table) -> int:
    """Insert every row of ``data`` into ``table``; return the number of rows written."""
    if data.num_rows == 0:
        return 0
    conn = session.connection()
    data = _plain(data)
    cols = ", ".join(data.column_names)
    if conn.dialect.name == "postgresql":
        buf = io.BytesIO()
        pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False, delimiter=","))
        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            view = buf.getbuffer()
            step = 1 << 20
            for i in range(0, len(view), step):
                copy.write(view[i : i + step])
            del view
        return data.num_rows
    if conn.dialect.name == "sqlite":
        # SQLAlchemy's SQLite DateTime text (microseconds always written), so that staged and
        # ORM-written times compare as equal text
        data = pa.table(
            [
                pc.strftime(c, format="%Y-%m-%d %H:%M:%S") if pa.types.is_timestamp(c.type) else c
                for c in data.columns
            ],
            names=data.column_names,
        )
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join([mark] * data.num_columns)})"

    def write() -> None:
        for start in range(0, data.num_rows, BATCH):
            part = data.slice(start, BATCH)
            rows = list(zip(*(c.to_pylist() for c in part.columns), strict=True))
            conn.exec_driver_sql(sql, rows)

    if (
        table == "tasks"
        and conn.dialect.name == "sqlite"
        and "id" not in data.column_names
        and cells.has_insert_trigger(conn)
    ):
        # new tasks: their monitoring cells by one grouped upsert, not a trigger per row
        with cells.sqlite_bulk_tasks(conn):
            write()
    else:
        write()
    return data.num_rows
