"""CLI commands of daily events and trigger rules (thin: parse options, call the services)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, guarded
from weixi.errors import ConfigError
from weixi.i18n import current_locale, t

events_app = typer.Typer(
    help="Daily event feeds and the trigger rules they fire.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.add_typer(events_app, name="events")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError("--date must be YYYY-MM-DD, got {text!r}", text=text) from None


def _suppressed_table(rows: list[dict]) -> Table:
    from weixi.triggers.service import SUPPRESSION_ORDER

    table = Table(title=t("Triggers per day"))
    for head in ("Date", "Events", "Tasks created", "Control"):
        table.add_column(t(head), justify="right")
    for r in SUPPRESSION_ORDER:
        table.add_column(r, justify="right")
    for rep in rows:
        s = rep.get("suppressed", {})
        table.add_row(
            str(rep["date"]),
            f"{rep['loaded']:,}",
            f"{rep.get('tasks_created', 0):,}",
            f"{rep.get('control', 0):,}",
            *(f"{s.get(r, 0):,}" for r in SUPPRESSION_ORDER),
        )
    return table


@events_app.command("import")
@guarded
def import_cmd(
    paths: list[Path] = typer.Argument(..., help="The day's event files (CSV or Parquet)."),
    date: str = typer.Option(..., "--date", help="Day to import, YYYY-MM-DD."),
    mapping: Path = typer.Option(..., "--mapping", help="Event mapping YAML (docs/triggers.md)."),
    triggers: str = typer.Option("seed", "--triggers", help="Trigger preset or YAML file."),
    no_triggers: bool = typer.Option(False, "--no-triggers", help="Only load the events."),
    source: str = typer.Option("feed", "--source", help="Producer name (rows it replaces)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Import one day's events (validated, quarantined, reconciled), then fire the triggers.

    Example: weixi events import --date 2026-09-01 --mapping raw/events_mapping.yaml raw/events_2026-09-01.csv --json
    """
    from weixi.flows import run_day
    from weixi.ingest.events import load_event_mapping
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope

    day = _date(date)
    spec = load_event_mapping(mapping)
    with open_store() as con, session_scope() as session:
        rep = run_day(
            con=con,
            session=session,
            day=day,
            mapping=spec,
            paths=list(paths),
            triggers=False if no_triggers else triggers,
            source=source,
        )
    if json_out:
        emit_json(rep)
        return
    console.print(
        t(
            "{date}: read {read}, loaded {loaded}, quarantined {quarantined}",
            date=rep["date"],
            read=rep["read"],
            loaded=rep["loaded"],
            quarantined=rep["quarantined"],
        )
    )
    if "triggers" in rep:
        console.print(_suppressed_table([rep]))


@events_app.command("simulate")
@guarded
def simulate_cmd(
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD."),
    days: int = typer.Option(7, "--days", min=1, max=31, help="Number of days."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the feeds."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the generated feeds."),
    triggers: str = typer.Option("seed", "--triggers", help="Trigger preset or YAML file."),
    json_out: bool = typer.Option(False, "--json", help="Print the per-day results as JSON."),
) -> None:
    """Simulate daily feeds on the current store (e.g. the demo operator) through the product.

    Each day: the synthetic operator's feed of the store's customers is written, imported and
    the triggers fire (tasks, control, suppressions), one commit per day.

    Example: weixi events simulate --start 2026-09-01 --days 7 --out demo/events --json
    """
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.synth.events import simulate_days

    with open_store() as con:
        reps = simulate_days(
            con=con,
            session_scope=session_scope,
            out_dir=out,
            start=_date(start),
            days=days,
            seed=seed,
            triggers=triggers,
        )
    if json_out:
        emit_json(reps)
        return
    console.print(_suppressed_table(reps))


@events_app.command("rules")
@guarded
def rules_cmd(
    triggers: str = typer.Option("seed", "--triggers", help="Trigger preset or YAML file."),
    json_out: bool = typer.Option(False, "--json", help="Print the rules as JSON."),
) -> None:
    """List the trigger rules of a preset (validated against the strategy library).

    Example: weixi events rules --triggers seed
    """
    from weixi.triggers.rules import load_triggers

    ts = load_triggers(triggers)
    if json_out:
        emit_json(ts.model_dump(mode="json"))
        return
    loc = current_locale()
    table = Table(title=f"{t('Trigger rules')}: {ts.name}")
    for head in ("Rule", "Events", "Condition", "Action", "Channel", "Deadline", "Cool-down"):
        table.add_column(t(head))
    for r in ts.rules:
        table.add_row(
            r.label.get(loc),
            ", ".join(r.events),
            r.when or "-",
            r.action + (f" / {r.offer}" if r.offer else ""),
            r.channel,
            f"{r.deadline_days}d",
            f"{r.cooldown_days}d",
        )
    console.print(table)
