"""CLI commands of the ingest domain (thin: parse options, call the service, print)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, guarded, progress
from weixi.i18n import current_locale, t
from weixi.ingest.validate import REASONS


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.command("import")(import_cmd)
    app.command("import-runs")(runs_cmd)
    app.command("quarantine")(quarantine_cmd)


@guarded
def import_cmd(
    paths: list[str] = typer.Argument(
        ...,
        help="The month's CSV or Parquet files (with --engine spark: any path Spark reads, "
        "e.g. hdfs://… or s3a://…).",
    ),
    month: str = typer.Option(..., "--month", help="Month to import, YYYY-MM."),
    mapping: Path = typer.Option(..., "--mapping", help="Mapping YAML (see docs/import.md)."),
    engine: str = typer.Option(
        "duckdb",
        "--engine",
        help="duckdb (read in the store) or spark (read and parsed on Spark, see docs/spark.md).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the reconciliation as JSON."),
    allow_shrink: bool = typer.Option(
        False,
        "--allow-shrink",
        help="Accept an empty month, or a re-import that shrinks the month by more than "
        "WEIXI_IMPORT_MAX_SHRINK (default 20 %).",
    ),
) -> None:
    """Import one month of subscriber snapshots: validate, quarantine bad rows, replace the month.

    Every row read is loaded or quarantined (file, row, column, reason); the month is
    replaced in one transaction, so a failed or killed import leaves the previous state.

    Example: weixi import --month 2025-09 --mapping raw/mapping.yaml raw/subscribers_2025-09.csv
    """
    from weixi import summaries
    from weixi.ingest.mapping import load_mapping
    from weixi.ingest.service import import_month
    from weixi.store.analytics import open_store

    spec = load_mapping(mapping)
    with progress(disable=json_out) as bar, open_store() as con:
        task = bar.add_task(t("Importing"), total=len(paths) + 2)

        def tick(step: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{t('Importing')} {step}")

        result = import_month(
            con=con,
            month=month,
            mapping=spec,
            paths=paths,
            on_progress=tick,
            allow_shrink=allow_shrink,
            engine=engine,
        )
        summaries.refresh_after_step(con, result.month)
    if json_out:
        emit_json(result.summary())
        return
    table = Table(title=f"{t('Import finished')} {result.summary()['month']} ({result.run_id})")
    for head in ("File", "Table", "Encoding", "Read", "Loaded", "Quarantined"):
        table.add_column(
            t(head), justify="right" if head in ("Read", "Loaded", "Quarantined") else "left"
        )
    for f in result.files:
        table.add_row(
            f.file,
            f.table,
            f.encoding or f.format,
            f"{f.read:,}",
            f"{f.loaded:,}",
            f"{f.quarantined:,}",
        )
    table.add_section()
    table.add_row(
        t("Total"),
        "snapshot",
        "",
        f"{result.read:,}",
        f"{result.loaded:,}",
        f"{result.quarantined:,}",
    )
    console.print(table)
    ok = result.read == result.loaded + result.quarantined
    console.print(
        t(
            "read {read} = loaded {loaded} + quarantined {quarantined}",
            read=f"{result.read:,}",
            loaded=f"{result.loaded:,}",
            quarantined=f"{result.quarantined:,}",
        )
        + (" ✓" if ok else " ✗")
    )
    if result.defects:
        defects = Table(title=t("Defects"))
        defects.add_column(t("Reason"))
        defects.add_column(t("Meaning"))
        defects.add_column(t("Count"), justify="right")
        for reason, n in result.defects.items():
            defects.add_row(reason, t(REASONS.get(reason, reason)), f"{n:,}")
        console.print(defects)
        console.print(t("See the rows with: weixi quarantine {run_id}", run_id=result.run_id))


@guarded
def runs_cmd(
    month: str = typer.Option(None, "--month", help="Only runs of this month (YYYY-MM)."),
    limit: int = typer.Option(20, "--limit", help="How many runs to show."),
    json_out: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List import runs, newest first, with their reconciliation.

    Example: weixi import-runs --month 2025-09
    """
    from weixi.ingest.service import get_runs
    from weixi.store.analytics import open_store

    with open_store() as con:
        runs = get_runs(con=con, month=month, limit=limit)
    if json_out:
        emit_json(
            [
                r.summary()
                | {"error": r.error, "started_at": r.started_at, "interruption": r.interruption}
                for r in runs
            ]
        )
        return
    table = Table(title=t("Import runs"))
    for head in ("Run", "Month", "Started", "Status", "Read", "Loaded", "Quarantined"):
        table.add_column(t(head), no_wrap=head in ("Run", "Month"))
    for r in runs:
        table.add_row(
            r.run_id,
            r.summary()["month"],
            f"{r.started_at:%Y-%m-%d %H:%M:%S}" if r.started_at else "",
            t(r.status) + (f": {r.error_in(current_locale())}" if r.error else ""),
            f"{r.read:,}",
            f"{r.loaded:,}",
            f"{r.quarantined:,}",
        )
    console.print(table)


@guarded
def quarantine_cmd(
    run_id: str = typer.Argument(..., help="Run id (see weixi import-runs)."),
    reason: str = typer.Option(None, "--reason", help="Only this reason code."),
    limit: int = typer.Option(50, "--limit", help="Rows per page."),
    offset: int = typer.Option(0, "--offset", help="Skip this many rows."),
    json_out: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """Show the quarantined rows of an import run: file, row, column, reason, raw value.

    Example: weixi quarantine 3f2a9c1b7d4e --reason duplicate_id
    """
    from weixi.errors import NotFoundError
    from weixi.ingest.service import count_quarantine, get_quarantine, get_run
    from weixi.store.analytics import open_store

    with open_store() as con:
        if get_run(con=con, run_id=run_id) is None:
            raise NotFoundError(
                "no import run {run_id}; list runs with weixi import-runs", run_id=run_id
            )
        rows = get_quarantine(con=con, run_id=run_id, limit=limit, offset=offset, reason=reason)
        total = count_quarantine(con=con, run_id=run_id, reason=reason)
    if json_out:
        emit_json({"total": total, "rows": [r.model_dump(mode="json") for r in rows]})
        return
    table = Table(
        title=t(
            "Quarantine of run {run_id} ({total} violations)", run_id=run_id, total=f"{total:,}"
        )
    )
    for head in ("File", "Row", "Column", "Reason", "Raw value"):
        table.add_column(t(head))
    for r in rows:
        table.add_row(r.file, str(r.row_number), r.column_name or "", r.reason, r.raw_value or "")
    console.print(table)
