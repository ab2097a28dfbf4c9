"""CLI commands of the VIP and enterprise-group programmes (thin: options, service, print)."""

from __future__ import annotations

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, guarded
from weixi.i18n import t

groups_app = typer.Typer(
    help="Enterprise groups: KPIs (coverage, stability), alerts, group campaign.\n\n"
    "Example: weixi groups kpis --month 2026-07 --json",
    no_args_is_help=True,
)
books_app = typer.Typer(
    help="Books of business: one account manager per VIP customer and per group.\n\n"
    "Example: weixi books rebalance --month 2026-07 --json",
    no_args_is_help=True,
)

_MONTH = "Month, YYYY-MM."
_PARAMS = "VIP/group programme parameters YAML (default: the shipped params.yaml)."


def _params(path: str | None):
    from weixi.vip.params import load_params

    return load_params(path)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


@groups_app.command("kpis")
@guarded
def groups_kpis(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH),
    branch: str = typer.Option(None, "--branch", help="Only this branch."),
    params: str = typer.Option(None, "--params", help=_PARAMS),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Compute the month's group grades, member coverage, stability and alerts, and store them.

    Example: weixi groups kpis --month 2026-07 --json
    """
    from weixi.store.analytics import open_store
    from weixi.vip import groups

    with open_store() as con:
        run = groups.compute_month(con, month, _params(params))
        out = groups.summary(con, run.month, branch=branch)
    if as_json:
        emit_json(out)
        return
    tot = out["total"]
    console.print(
        t(
            "{month}: {groups} groups, {members} member lines, coverage {coverage}, "
            "stability {stability}, {alerts} alerts.",
            month=out["month"],
            groups=f"{tot['groups']:,}",
            members=f"{tot['members'] or 0:,}",
            coverage=_pct(tot["coverage"]),
            stability=_pct(tot["stability"]),
            alerts=tot["alerts"],
        )
    )
    table = Table(title=t("Group grades"))
    for col in (t("Grade"), t("Groups"), t("Share")):
        table.add_column(col)
    for g in out["grades"]:
        table.add_row(g["grade"], f"{g['groups']:,}", _pct(g["share"]))
    console.print(table)
    bt = Table(title=t("By branch"))
    for col in (t("Branch"), t("Groups"), t("Coverage"), t("Stability"), t("Alerts")):
        bt.add_column(col)
    for b in out["by_branch"]:
        bt.add_row(
            b["branch_id"],
            str(b["groups"]),
            _pct(b["coverage"]),
            _pct(b["stability"]),
            str(b["alerts"]),
        )
    console.print(bt)


@groups_app.command("alerts")
@guarded
def groups_alerts(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH),
    branch: str = typer.Option(None, "--branch", help="Only this branch."),
    as_json: bool = typer.Option(False, "--json", help="Print the alerts as JSON."),
) -> None:
    """List the groups whose members left together (the group retention campaign's targets).

    Example: weixi groups alerts --month 2026-07 --json
    """
    from weixi.store.analytics import open_store
    from weixi.vip import groups

    with open_store(read_only=True) as con:
        rows = [
            r
            for r in groups.campaign_targets(con, month)
            if branch is None or r["branch_id"] == branch
        ]
    if as_json:
        emit_json({"month": month, "alerts": rows})
        return
    table = Table(title=t("Group alerts"))
    for col in (
        t("Group"),
        t("Branch"),
        t("Grade"),
        t("Manager"),
        t("Reason"),
        t("Left"),
        t("Members"),
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            f"{r['group_id']} {r['name']}",
            r["branch_id"],
            r["grade"] or "-",
            r["staff_id"] or "-",
            t(r["reason"]),
            str(r["left_group"]),
            str(r["members"]),
        )
    console.print(table)


@books_app.command("rebalance")
@guarded
def books_rebalance(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH),
    params: str = typer.Option(None, "--params", help=_PARAMS),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Assign new and orphaned customers and groups; rebalance books within the ratios (HiGHS).

    Existing relationships are kept where the ratios allow (moves are minimized), then the
    largest book is kept small. Exits 1 when a branch has too few managers for its customers.

    Example: weixi books rebalance --month 2026-07 --json
    """
    from weixi.store.analytics import open_store
    from weixi.vip import books

    with open_store() as con:
        reps = books.rebalance(con, month, _params(params))
    out = books.report_dict(month, reps)
    if as_json:
        emit_json(out)
    else:
        table = Table(title=t("Books of business, {month}", month=out["month"]))
        for col in (
            t("Book"),
            t("Items"),
            t("Managers"),
            t("Kept"),
            t("Moves"),
            t("New"),
            t("Orphaned"),
            t("Unplaced"),
            t("Largest book"),
            t("Ratio"),
        ):
            table.add_column(col)
        for kind, r in out["books"].items():
            table.add_row(
                t("VIP customers") if kind == "vip" else t("Groups"),
                f"{r['items']:,}",
                str(r["managers"]),
                f"{r['kept']:,}",
                f"{r['moves']:,}",
                f"{r['new']:,}",
                f"{r['orphaned']:,}",
                f"{r['unplaced']:,}",
                f"{r['largest_book']:,}",
                f"≤ {r['capacity']}",
            )
        console.print(table)
    if not out["within_ratios"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach the groups and books sub-commands."""
    app.add_typer(groups_app, name="groups")
    app.add_typer(books_app, name="books")
