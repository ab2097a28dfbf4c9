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

    with session_scope() as s:
        report = audit.verify(session=s)
    if json_out:
        emit_json(report.as_dict())
    if not report.ok:
        raise IntegrityCheckError(
            t(
                "audit chain broken at event {id} ({reason}); {n} events before it are intact",
                id=report.broken_id,
                reason=t(report.reason or ""),
                n=report.count,
            )
        )
    if not json_out:
        console.print(
            t(
                "Audit chain OK: {n} events, head {head}",
                n=report.count,
                head=(report.head_hash or "-")[:16],
            )
        )
