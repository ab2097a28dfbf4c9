"""CLI commands of the complaints domain: import a file, escalate overdue ones, copy the
history into the analytics store, list the complaint events for the trigger engine."""

from __future__ import annotations

from pathlib import Path

import typer

from weixi.cli.common import console, emit_json, guarded
from weixi.i18n import t

complaints_app = typer.Typer(
    help="Complaints (客户投诉): import, escalate overdue ones, sync to the churn features.",
    no_args_is_help=True,
)
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.add_typer(complaints_app, name="complaints")


@complaints_app.command("import")
@guarded
def import_cmd(
    path: Path = typer.Argument(
        ..., help="CSV or Excel: subscriber_id, summary [, category, received_at, owner]."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Receive the complaints of a file (lines unknown to the snapshot are rejected).

    Example: weixi complaints import complaints.csv --json
    """
    from weixi.complaints import service
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.web import migrate, readmodels

    migrate.upgrade()
    df = service.read_file(path)
    ids = sorted({str(s).strip() for s in df["subscriber_id"]})
    with open_store(read_only=True) as con:
        brief = readmodels.rows(
            con,
            """SELECT subscriber_id, branch_id, customer_id FROM snapshot
               WHERE subscriber_id IN (SELECT unnest(?::VARCHAR[]))
               QUALIFY row_number() OVER (PARTITION BY subscriber_id ORDER BY month DESC) = 1""",
            [ids],
        )
    lines = {r["subscriber_id"]: r for r in brief}
    with session_scope() as s:
        out = service.import_frame(session=s, df=df, lines=lines)
    if as_json:
        emit_json(out)
        return
    console.print(
        t(
            "{loaded} of {read} complaints received, {rejected} rejected",
            loaded=out["loaded"],
            read=out["read"],
            rejected=len(out["rejected"]),
        )
    )


@complaints_app.command("escalate")
@guarded
def escalate_cmd(as_json: bool = JsonOpt) -> None:
    """Escalate every open complaint past its deadline (run it hourly or daily; audited).

    Example: weixi complaints escalate --json
    """
    from weixi.complaints import service
    from weixi.store.db import session_scope
    from weixi.web import migrate

    migrate.upgrade()
    with session_scope() as s:
        done = service.escalate_overdue(session=s)
        out = {
            "escalated": len(done),
            "complaints": [
                {
                    "id": c.id,
                    "branch_id": c.branch_id,
                    "level": c.escalation_level,
                    "owner": c.owner,
                }
                for c in done
            ],
        }
    if as_json:
        emit_json(out)
        return
    console.print(t("{n} overdue complaints escalated", n=out["escalated"]))


@complaints_app.command("sync")
@guarded
def sync_cmd(as_json: bool = JsonOpt) -> None:
    """Copy the complaint history into the analytics store (the churn model's complaint features).

    Example: weixi complaints sync --json
    """
    from weixi.complaints import service
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.web import migrate

    migrate.upgrade()
    with session_scope() as s, open_store() as con:
        n = service.sync_analytics(session=s, con=con)
    if as_json:
        emit_json({"complaints": n})
        return
    console.print(t("{n} complaints copied to the analytics store", n=n))


@complaints_app.command("events")
@guarded
def events_cmd(
    date: str = typer.Option(..., "--date", help="Day (YYYY-MM-DD)."),
) -> None:
    """Print the day's complaint_filed events (event_date, customer_id, event_type, attributes).

    Example: weixi complaints events --date 2026-03-02
    """
    import datetime as dt

    from weixi.complaints import service
    from weixi.store.db import session_scope
    from weixi.web import migrate

    migrate.upgrade()
    day = dt.date.fromisoformat(date)
    with session_scope() as s:
        ev = service.complaint_events(session=s, since=day, until=day)
    ev["event_date"] = ev["event_date"].astype(str)
    emit_json(ev.to_dict("records"))
