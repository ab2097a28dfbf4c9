"""CLI commands of personal-data protection and reliability: audit chain, PIPL erasure, backup."""

from __future__ import annotations

import typer

from weixi.cli.common import console, emit_json, guarded
from weixi.i18n import t


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
    audit_app.command("verify")(audit_verify)
    app.add_typer(audit_app, name="audit")
    pipl_app = typer.Typer(
        help="Personal-data requests under China's PIPL (个人信息保护法).", no_args_is_help=True
    )
    pipl_app.command("erase")(pipl_erase)
    app.add_typer(pipl_app, name="pipl")
    app.command("backup")(backup)
    app.command("restore")(restore)


@guarded
def audit_verify(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Check the audit log's hash chain; name the first broken event (exit 1) or print OK.

    Keep the printed head hash outside weixi (a ticket, an e-mail): a later run that shows a
    different hash for the same event id means the log was rewritten.

    Example: weixi audit verify --json
    """
    from weixi.errors import IntegrityCheckError
    from weixi.security import audit
    from weixi.store.db import session_scope
    from weixi.web import migrate as migrations

    migrations.upgrade()  # an older database gets its events chained by migration 0005 first
    with session_scope() as s:
        report = audit.verify(session=s)
    if json_out:
        emit_json(report.as_dict())
    if not report.ok:
        raise IntegrityCheckError(
            "audit chain broken at event {id} ({reason}); {n} events before it are intact",
            id=report.broken_id,
            reason=t(report.reason or ""),
            n=report.count,
        )
    if not json_out:
        console.print(
            t(
                "Audit chain OK: {n} events, head {head}",
                n=report.count,
                head=(report.head_hash or "-")[:16],
            )
        )


@guarded
def pipl_erase(
    subscriber: str = typer.Option(..., "--subscriber", help="The subscriber_id to erase."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Erase a subscriber's personal data (phone, name, ID number, free text) from both stores.

    Identifiers become a keyed pseudonym in every table, so counts, ARPU, segments, plans and
    evaluations still add up. Audited without the personal data; running it again does nothing
    more. See docs/reliability.md for what is and is not erased.

    Example: weixi pipl erase --subscriber S00012345 --json
    """
    import getpass

    import sqlalchemy as sa

    from weixi.config import get_settings
    from weixi.security import erasure
    from weixi.store.analytics import open_store
    from weixi.store.db import get_engine, session_scope
    from weixi.web import migrate as migrations

    migrations.upgrade()
    key = get_settings().secret()
    with open_store() as con, session_scope() as s:
        result = erasure.erase(
            session=s,
            con=con,
            subscriber_id=subscriber,
            key=key,
            actor=f"cli:{getpass.getuser()}",
        )
    engine = get_engine()
    if engine.dialect.name == "sqlite":  # old WAL frames still hold the erased values
        with engine.connect() as c:
            c.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
    if json_out:
        emit_json(result.as_dict())
    elif result.already_erased:
        console.print(
            t("Already erased ({pseudonym}); nothing changed", pseudonym=result.pseudonym)
        )
    else:
        console.print(
            t(
                "Erased: {rows} row updates in {tables} tables; the subscriber is now {pseudonym}",
                rows=sum(result.rows.values()),
                tables=len(result.rows),
                pseudonym=result.pseudonym,
            )
        )


def _audit_store_event(action: str, summary: dict) -> None:
    import getpass

    from weixi.security import audit
    from weixi.store.db import get_engine, session_scope

    get_engine.cache_clear()  # a restore replaced the database under any pooled connection
    with session_scope() as s:
        audit.record(
            session=s,
            action=action,
            username=f"cli:{getpass.getuser()}",
            object_type="backup",
            object_id=summary["folder"][-128:],
            detail={k: summary[k] for k in ("alembic_revision", "bytes", "rows", "audit_head_id")},
        )


@guarded
def backup(
    out: str = typer.Option(..., "--out", help="New (or empty) folder to write the backup to."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Back up both stores (DuckDB analytics, SQLite/PostgreSQL operational) and the model files.

    The manifest holds versions, the database revision, row counts and SHA-256 checksums; stop
    the web app first (DuckDB allows one writing process). PostgreSQL needs pg_dump on PATH.

    Example: weixi backup --out /backups/weixi-2026-12-04 --json
    """
    from pathlib import Path

    from weixi.config import get_settings
    from weixi.store import backup as service
    from weixi.web import migrate as migrations

    settings = get_settings()
    migrations.upgrade()
    summary = service.backup(
        Path(out),
        duckdb_file=settings.duckdb_file,
        db_url=settings.db_url,
        models_dir=settings.models_dir,
    )
    _audit_store_event("backup", summary)
    if json_out:
        emit_json(summary)
    else:
        console.print(
            t(
                "Backed up to {folder}: {mb} MB, {rows} rows, in {s} s",
                folder=summary["folder"],
                mb=f"{summary['bytes'] / 1e6:,.1f}",
                rows=f"{sum(summary['rows'].values()):,}",
                s=summary["seconds"],
            )
        )


@guarded
def restore(
    src: str = typer.Option(..., "--from", help="A folder written by weixi backup."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Replace both stores with a backup, after checking its manifest, checksums and row counts.

    Nothing is changed unless every check passes. Stop the web app first. PostgreSQL needs
    pg_restore on PATH.

    Example: weixi restore --from /backups/weixi-2026-12-04
    """
    from pathlib import Path

    from weixi.config import get_settings
    from weixi.store import backup as service

    settings = get_settings()
    summary = service.restore(
        Path(src),
        duckdb_file=settings.duckdb_file,
        db_url=settings.db_url,
        models_dir=settings.models_dir,
    )
    _audit_store_event("restore", summary)
    if json_out:
        emit_json(summary)
    else:
        console.print(
            t(
                "Restored {folder}: {rows} rows checked against the manifest, in {s} s",
                folder=summary["folder"],
                rows=f"{sum(summary['rows'].values()):,}",
                s=summary["seconds"],
            )
        )
