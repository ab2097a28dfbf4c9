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


def power_line(pw: dict, locale: str | None = None) -> str:
    """One line on the plan's control: the lift's precision and the share a target needs."""
    return t(
        "Control {share:.1%} ({control} customers): lift measured to ±{hw:.2%}; "
        "±{target:.2%} needs at least {req} — recommended {rec:.1%}.",
        locale,
        share=pw["share"],
        control=f"{pw['control']:,}",
        hw=pw["half_width"],
        target=pw["target"],
        req="-" if pw["required_share"] is None else f"{pw['required_share']:.1%}",
        rec=pw["recommended_share"],
    )


def plan(
    month: str = typer.Option(..., "--month", help="Month to plan, YYYY-MM."),
    campaign: Path = typer.Option(
        None, "--campaign", help="Campaign YAML (default: everything, this month only)."
    ),
    library: Path = typer.Option(None, "--library", help=_LIB_HELP),
    preview: bool = typer.Option(
        False, "--preview", help="What-if: plan and report, store nothing, dispatch nothing."
    ),
    draft: bool = typer.Option(
        False, "--draft", help="Store the plan as a draft; approve it with `weixi plans approve`."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Plan a month: match, contact policy, holdouts, optimal allocation, lists per person.

    Stores the plan as a new version (plan_assignments, plan_not_on_list, plans) and writes the
    campaign's open tasks: the plan is approved and dispatched unless --draft or --preview.
    A re-plan of a dispatched campaign adds a version; the old record stays evaluable.

    Example: weixi plan --month 2026-03 --campaign q1.yaml --preview --json
    """
    from weixi.dispatch.plans import STATUS_TEXT
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
    if preview and draft:
        raise typer.BadParameter(t("use either --preview or --draft"))
    with open_store() as con, session_scope() as session:
        result = plan_month(
            con=con,
            month=m,
            spec=spec,
            library=lib,
            session=session,
            preview=preview,
            status="draft" if draft else "approved",
        )
        if preview:
            session.rollback()
    if json_out:
        emit_json(result.to_dict())
        return
    loc = current_locale()
    if preview:
        console.print(t("Preview only: nothing was stored or dispatched.", loc))
    else:
        console.print(
            t(
                "Stored as plan version {v} ({status}).",
                loc,
                v=result.plan_version,
                status=t(STATUS_TEXT[result.status], loc),
            )
        )
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
    if result.power:
        console.print(power_line(result.power, loc), highlight=False)
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


plans_app = typer.Typer(
    name="plans",
    help="Stored plan versions and their life cycle (draft → approved → closed, or cancelled).\n\n"
    "Example: weixi plans list --month 2026-03",
    no_args_is_help=True,
)


@plans_app.command("list")
@guarded
def plans_list(
    month: str = typer.Option(None, "--month", help="Only this month, YYYY-MM."),
    campaign: str = typer.Option(None, "--campaign", help="Only this campaign (key)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List stored plan versions with their status; only approved and closed ones are evaluated.

    Example: weixi plans list --campaign q1-retention --json
    """
    from weixi.dispatch import plans
    from weixi.store.analytics import open_store
    from weixi.store.months import format_month, parse_month

    with open_store() as con:
        rows = plans.get_all(
            con, month=parse_month(month) if month else None, campaign=campaign or None
        )
    if json_out:
        emit_json(rows)
        return
    loc = current_locale()
    table = Table(title=t("Plan versions", loc))
    for col in ("Month", "Campaign", "Version", "Status", "On lists", "Control", "Expected value"):
        table.add_column(t(col, loc))
    for r in rows:
        table.add_row(
            format_month(r["month"]),
            r["campaign_id"],
            str(r["version"]),
            t(plans.STATUS_TEXT.get(r["status"], r["status"]), loc),
            f"{r['on_list']:,}",
            f"{r['control']:,}",
            f"¥{r['expected_value'] or 0:,.0f}",
        )
    console.print(table)


def _decide(campaign: str, decision: str, json_out: bool) -> None:
    from weixi.dispatch.service import decide_campaign, get_campaign_by_key
    from weixi.errors import NotFoundError
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope

    _migrate()
    with open_store() as con, session_scope() as session:
        row = get_campaign_by_key(session=session, key=campaign)
        if row is None:
            raise NotFoundError(
                "campaign {campaign} does not exist: see `weixi plans list`", campaign=campaign
            )
        decide_campaign(con=con, session=session, campaign=row, decision=decision)
        status = row.status
    if json_out:
        emit_json({"campaign": campaign, "status": status})
        return
    console.print(
        t(
            "Campaign {campaign} is now {status}.",
            campaign=campaign,
            status=t(CAMPAIGN_TEXT.get(status, status)),
        )
    )


_KEY_HELP = "Campaign key."
CAMPAIGN_TEXT = {
    "draft": "Draft",
    "approved": "Approved",
    "active": "Active",
    "closed": "Closed",
    "cancelled": "Cancelled by the planner",
}


@plans_app.command("approve")
@guarded
def plans_approve(
    campaign: str = typer.Option(..., "--campaign", help=_KEY_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Approve a draft campaign: its draft plans become the evaluated record, its tasks go live.

    Example: weixi plans approve --campaign q1-retention
    """
    _decide(campaign, "approve", json_out)


@plans_app.command("close")
@guarded
def plans_close(
    campaign: str = typer.Option(..., "--campaign", help=_KEY_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Close a live campaign (its plans stay evaluated).

    Example: weixi plans close --campaign q1-retention
    """
    _decide(campaign, "close", json_out)


@plans_app.command("cancel")
@guarded
def plans_cancel(
    campaign: str = typer.Option(..., "--campaign", help=_KEY_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cancel a campaign: its plans never count in evaluation and its open tasks are dropped.

    Example: weixi plans cancel --campaign q1-retention
    """
    _decide(campaign, "cancel", json_out)


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.command("plan")(guarded(plan))
    app.add_typer(lists_app, name="lists")
    app.add_typer(plans_app, name="plans")
