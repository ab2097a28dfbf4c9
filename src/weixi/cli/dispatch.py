"""CLI commands of the dispatch domain (thin: parse options, call the service, print)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, err_console, guarded
from weixi.i18n import current_locale, t

lists_app = typer.Typer(
    name="lists",
    help="Work lists: update open lists, export a branch's list.\n\n"
    "Example: weixi lists export --branch b01 --out b01.xlsx",
    no_args_is_help=True,
)

_LIB_HELP = "Strategy library YAML (default: $WEIXI_HOME/strategy.yaml, else the seed preset)."


def _migrate() -> None:
    """Bring the operational database to the current schema (Alembic; idempotent)."""
    try:
        from weixi.web.migrate import upgrade
    except ImportError:  # pragma: no cover - web package absent
        upgrade = None
    if upgrade is not None:
        upgrade()
        return
    from weixi.store.db import Base, get_engine  # pragma: no cover

    Base.metadata.create_all(get_engine())  # pragma: no cover


def plan(
    month: str = typer.Option(..., "--month", help="Month to plan, YYYY-MM."),
    campaign: Path = typer.Option(
        None, "--campaign", help="Campaign YAML (default: everything, this month only)."
    ),
    library: Path = typer.Option(None, "--library", help=_LIB_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Plan a month: match, contact policy, holdouts, optimal allocation, lists per person.

    Writes plan_assignments and plan_not_on_list (DuckDB) and the campaign's open tasks.

    Example: weixi plan --month 2026-03 --campaign q1.yaml --json
    """
    from weixi.dispatch.schemas import default_campaign, load_campaign
    from weixi.dispatch.service import funnel_text, plan_month
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.store.months import parse_month
    from weixi.strategy.library import load_library

    m = parse_month(month)
    spec = load_campaign(campaign) if campaign else default_campaign(m)
    lib = load_library(library)
    _migrate()
    with open_store() as con, session_scope() as session:
        result = plan_month(con=con, month=m, spec=spec, library=lib, session=session)
    if json_out:
        emit_json(result.to_dict())
        return
    loc = current_locale()
    console.print(
        t(
            "Planned {month} for {campaign}: {on_list} customers on lists, {control} in control, "
            "expected value ¥{ev}, cost ¥{cost} ({solver}, {seconds} s).",
            loc,
            month=result.month,
            campaign=result.campaign,
            on_list=f"{result.on_list:,}",
            control=f"{result.control:,}",
            ev=f"{result.expected_value:,.0f}",
            cost=f"{result.cost:,.0f}",
            solver=result.solver,
            seconds=result.seconds.get("total"),
        )
    )
    if result.infeasible:
        err_console.print(f"[bold yellow]{t('Warning', loc)}:[/] {result.message}")
    if result.a1_negative_ev:
        text = t(
            "{n} A1 customers are on the lists only because must_dispatch_a1 is on: their "
            "expected net value is negative, ¥{value} in total. Review them, or set "
            "must_dispatch_a1: false in the campaign.",
            loc,
            n=f"{result.a1_negative_ev:,}",
            value=f"{result.a1_negative_ev_value:,.0f}",
        )
        err_console.print(f"[bold yellow]{t('Warning', loc)}:[/] {text}")
    ft = Table(title=t("Why customers are not on a list", loc))
    for col in ("Stage", "Customers", "Remaining"):
        ft.add_column(t(col, loc))
    for row in result.funnel:
        ft.add_row(funnel_text(row["stage"], loc), f"{row['count']:,}", f"{row['remaining']:,}")
    console.print(ft)
    bt = Table(title=t("Lists by branch", loc))
    for col in ("Branch", "Customers", "Expected value", "Cost"):
        bt.add_column(t(col, loc))
    for r in result.by_branch:
        bt.add_row(
            r["branch_id"],
            f"{r['on_list']:,}",
            f"¥{r['expected_value']:,.0f}",
            f"¥{r['cost']:,.0f}",
        )
    console.print(bt)
    if result.shadow_prices:
        st = Table(title=t("Shadow prices", loc))
        st.add_column(t("What one more unit is worth", loc))
        key = "text_zh" if loc == "zh-CN" else "text_en"
        for s in result.shadow_prices[:10]:
            st.add_row(s[key])
        console.print(st)


@lists_app.command("update")
@guarded
def update(
    month: str = typer.Option(..., "--month", help="The newly loaded month, YYYY-MM."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Drop churned, converted and newly excluded customers from open lists.

    Example: weixi lists update --month 2026-04
    """
    from weixi.dispatch.service import update_lists
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.store.months import parse_month

    m = parse_month(month)
    _migrate()
    with open_store() as con, session_scope() as session:
        counts = update_lists(con=con, session=session, month=m)
    if json_out:
        emit_json({"month": month, **counts})
        return
    console.print(
        t(
            "Open tasks checked: {open}; dropped: {churned} churned, {converted} converted, "
            "{excluded} excluded.",
            **{k: f"{v:,}" for k, v in counts.items()},
        )
    )


@lists_app.command("export")
@guarded
def export(
    branch: str = typer.Option(..., "--branch", help="Branch id."),
    out: Path = typer.Option(..., "--out", help="Output file, .xlsx or .csv."),
    campaign: str = typer.Option(None, "--campaign", help="Only this campaign (key)."),
    month: str = typer.Option(None, "--month", help="Only this month, YYYY-MM."),
    library: Path = typer.Option(None, "--library", help=_LIB_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Export a branch's open list with masked phone numbers and names (audited).

    Example: weixi lists export --branch b01 --out b01.xlsx
    """
    from weixi.dispatch.lists import export_list
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.store.months import parse_month
    from weixi.strategy.library import load_library

    lib = load_library(library)
    _migrate()
    with open_store() as con, session_scope() as session:
        n = export_list(
            con=con,
            session=session,
            library=lib,
            branch=branch,
            out=out,
            campaign=campaign,
            month=parse_month(month) if month else None,
            locale=current_locale(),
        )
    if json_out:
        emit_json({"branch": branch, "rows": n, "file": str(out), "masked": True})
        return
    console.print(
        t("Exported {n} tasks of {branch} to {out} (masked).", n=f"{n:,}", branch=branch, out=out)
    )


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.command("plan")(guarded(plan))
    app.add_typer(lists_app, name="lists")
