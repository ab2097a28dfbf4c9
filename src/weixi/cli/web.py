"""CLI commands of the web domain: serve the app, manage users, migrate the database."""

from __future__ import annotations

import typer

from weixi.cli.common import console, emit_json, guarded
from weixi.i18n import t


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.command("serve")(serve)
    user_app = typer.Typer(
        help="Manage web users (accounts, roles, API tokens).", no_args_is_help=True
    )
    user_app.command("create")(user_create)
    user_app.command("list")(user_list)
    user_app.command("token")(user_token)
    user_app.command("unlock")(user_unlock)
    app.add_typer(user_app, name="user")
    db_app = typer.Typer(
        help="Both stores' schemas: the operational database and the analytics store.",
        no_args_is_help=True,
    )
    db_app.command("upgrade")(db_upgrade)
    db_app.command("recount-tasks")(db_recount_tasks)
    app.add_typer(db_app, name="db")


@guarded
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    migrate: bool = typer.Option(
        True, "--migrate/--no-migrate", help="Upgrade the database schema before starting."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the address as JSON and serve."),
) -> None:
    """Serve the web app (pages and the /api/v1 JSON API).

    Example: weixi serve --host 0.0.0.0 --port 8000
    """
    import uvicorn

    from weixi.web import migrate as migrations
    from weixi.web.app import create_app

    if migrate:
        migrations.upgrade()
    url = f"http://{host}:{port}/"
    if json_out:
        emit_json({"url": url})
    else:
        console.print(t("Serving weixi at {url}", url=url))
    uvicorn.run(create_app(), host=host, port=port, log_level="info", proxy_headers=True)


@guarded
def user_create(
    username: str = typer.Option(..., "--username", help="Login name."),
    role: str = typer.Option(
        ...,
        "--role",
        help="admin, planner, branch_manager, account_manager, agent or analyst.",
    ),
    password: str = typer.Option(
        ..., "--password", prompt=True, hide_input=True, help="At least 8 characters."
    ),
    branch: str = typer.Option(None, "--branch", help="Branch id (branch roles only)."),
    staff_id: str = typer.Option(None, "--staff-id", help="Staff id of front-line users."),
    display_name: str = typer.Option("", "--name", help="Name shown in the header."),
    locale: str = typer.Option("en", "--lang", help="en or zh-CN."),
    json_out: bool = typer.Option(False, "--json", help="Print the user as JSON."),
) -> None:
    """Create a web user with an argon2-hashed password.

    Example: weixi user create --username hz_mgr --role branch_manager --branch HZ --password '…'
    """
    from weixi.auth import service
    from weixi.store.db import session_scope
    from weixi.web import migrate as migrations

    migrations.upgrade()
    with session_scope() as s:
        user = service.create(
            session=s,
            username=username,
            password=password,
            role=role,
            branch_id=branch,
            staff_id=staff_id,
            display_name=display_name,
            locale=locale,
        )
        out = {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "branch": user.branch_id,
        }
    if json_out:
        emit_json(out)
    else:
        console.print(t("User {username} created ({role})", username=username, role=role))


@guarded
def user_list(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List web users.

    Example: weixi user list
    """
    from weixi.auth import service
    from weixi.store.db import session_scope

    with session_scope() as s:
        rows = [
            {
                "username": u.username,
                "role": u.role,
                "branch": u.branch_id,
                "active": u.is_active,
                "locked_until": u.locked_until,
            }
            for u in service.get_all(session=s)
        ]
    if json_out:
        emit_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['username']:<20} {r['role']:<16} {r['branch'] or '-':<8} "
            f"{'active' if r['active'] else 'inactive'}"
        )


@guarded
def user_token(
    username: str = typer.Option(..., "--username", help="The user the token acts as."),
    name: str = typer.Option("api", "--name", help="A label, e.g. the dialer's name."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an API bearer token for machine clients (shown once).

    Example: weixi user token --username dialer --name "outbound dialer"
    """
    from weixi.auth import service
    from weixi.errors import NotFoundError
    from weixi.store.db import session_scope

    with session_scope() as s:
        user = service.get_by_username(session=s, username=username)
        if user is None:
            raise NotFoundError(
                "user {username!r} does not exist; create it with weixi user create",
                username=username,
            )
        token = service.create_api_token(session=s, user=user, name=name)
    if json_out:
        emit_json({"username": username, "token": token})
    else:
        console.print(token)


@guarded
def user_unlock(
    username: str = typer.Option(..., "--username", help="The locked-out user."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Unlock an account locked after repeated failed logins.

    Example: weixi user unlock --username hz_mgr
    """
    from weixi.auth import service
    from weixi.errors import NotFoundError
    from weixi.store.db import session_scope

    with session_scope() as s:
        user = service.get_by_username(session=s, username=username)
        if user is None:
            raise NotFoundError("user {username!r} does not exist", username=username)
        service.update(session=s, user=user, unlock=True)
    if json_out:
        emit_json({"username": username, "unlocked": True})
    else:
        console.print(t("User {username} unlocked", username=username))


@guarded
def db_upgrade(
    revision: str = typer.Option(
        "head", "--revision", help="Target revision of the operational database."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create or upgrade both stores' schemas: the operational database (Alembic migrations) and
    the analytics store (DuckDB, weixi.store.schema).

    Example: weixi db upgrade --json
    """
    from weixi.config import get_settings
    from weixi.store import schema
    from weixi.store.analytics import open_store
    from weixi.web import migrate as migrations

    migrations.upgrade(revision=revision)
    rev = migrations.current()
    with open_store(upgrade=False) as con:
        before = schema.version(con)
        done = schema.upgrade(con) if before != schema.SCHEMA_VERSION else None
        after = schema.version(con)
    analytics = {
        "file": str(get_settings().duckdb_file),
        "version_before": before,
        "version": after,
        "applied": done.applied if done else [],
        "created_tables": done.created_tables if done else [],
        "added_columns": done.added_columns if done else [],
    }
    if json_out:
        emit_json({"revision": rev, "operational": {"revision": rev}, "analytics": analytics})
    else:
        console.print(t("Database at revision {rev}", rev=rev))
        console.print(t("Analytics store at schema version {version}", version=after))
        if done and done.changed:
            console.print(
                t(
                    "Upgraded from {before}: {steps} step(s), {tables} table(s) created, "
                    "{columns} column(s) added",
                    before=before if before is not None else "-",
                    steps=len(done.applied),
                    tables=len(done.created_tables),
                    columns=len(done.added_columns),
                )
            )


@guarded
def db_recount_tasks(
    check: bool = typer.Option(
        False, "--check", help="Only compare the kept figures with a recount; change nothing."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare the per-cell task figures the operational database keeps for monitoring (and
    the tasks' outcome summaries) with a recount of the tasks and outcomes, and rebuild them
    from the recount (a repair; writes hold off meanwhile). Exits 1 with --check when they differ.

    Example: weixi db recount-tasks --check --json
    """
    from weixi.dispatch import cells
    from weixi.store.db import session_scope
    from weixi.web import migrate as migrations

    migrations.upgrade()
    with session_scope() as s:
        found = cells.differences(s)
        rebuilt = None if check else cells.recount(s)
    out = {
        "differences": len(found),
        "examples": found[:10],
        "rebuilt_cells": rebuilt,
    }
    if json_out:
        emit_json(out)
    else:
        if found:
            console.print(t("{n} kept figure(s) differ from a recount", n=len(found)))
        else:
            console.print(t("The kept task figures equal a recount"))
        if rebuilt is not None:
            console.print(t("Rebuilt {n} cell(s) from the tasks and outcomes", n=rebuilt))
    if check and found:
        raise typer.Exit(1)
