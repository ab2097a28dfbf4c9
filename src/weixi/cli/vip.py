"""CLI commands of the VIP and enterprise-group programmes (thin: options, service, print)."""

from __future__ import annotations

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, guarded
from weixi.i18n import current_locale, t

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
vip_app = typer.Typer(
    help="VIP programme: tier moves, points ledger, care calendar, churn warning.\n\n"
    "Example: weixi vip tiers --month 2026-07 --json",
    no_args_is_help=True,
)
points_app = typer.Typer(
    help="VIP points ledger: earn from spend, redeem for offers, balance.\n\n"
    "Example: weixi vip points balance --customer C0000001234",
    no_args_is_help=True,
)
vip_app.add_typer(points_app, name="points")

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
        t("Enterprise group"),
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


@groups_app.command("campaign")
@guarded
def groups_campaign(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH),
    key: str = typer.Option(
        None, "--key", help="Campaign key (default group-YYYY-MM); the control draw's salt."
    ),
    holdout: float = typer.Option(
        None, "--holdout", help="Share of whole groups held back as control (default: params)."
    ),
    dispatch: bool = typer.Option(
        False, "--dispatch", help="Record the arms and create the tasks (else a preview)."
    ),
    params: str = typer.Option(None, "--params", help=_PARAMS),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Group retention campaign: alerted and high-risk groups, whole groups held back as
    control, one task per treated group for its account manager on a key person's line.

    Without --dispatch nothing is written (a preview of the candidates and their arms).

    Example: weixi groups campaign --month 2026-07 --holdout 0.2 --dispatch --json
    """
    from weixi.store.analytics import open_store
    from weixi.vip import campaign

    vp = _params(params)
    if dispatch:
        from weixi.cli.dispatch import _migrate
        from weixi.store.db import session_scope

        _migrate()
        with open_store() as con, session_scope() as s:
            out = campaign.dispatch(
                con=con, session=s, month=month, key=key, share=holdout, params=vp
            )
    else:
        with open_store(read_only=True) as con:
            out = campaign.preview(con, month, key=key, share=holdout, params=vp)
    if as_json:
        emit_json(out)
        return
    console.print(
        t(
            "{campaign} ({month}): {candidates} candidate groups, {treated} treated, "
            "{control} control (share {share}).",
            campaign=out["campaign"],
            month=out["month"],
            candidates=out["candidates"],
            treated=out["treated"],
            control=out["control"],
            share=_pct(out["control_share"]),
        )
    )
    zh = current_locale().startswith("zh")
    for reason, n in out["by_reason"].items():
        label = vp.group_campaign.reasons.get(reason)
        console.print(f"  {label.get(current_locale()) if label else reason}: {n}")
    if dispatch:
        console.print(
            t(
                "{tasks} tasks created; {already} groups already recorded.",
                tasks=out["tasks_created"],
                already=out["already_recorded"],
            )
        )
        for reason, n in out["no_task"].items():
            en, zh_text = campaign.OUTCOME_TEXT.get(reason, (reason, reason))
            console.print(f"  {t('No task')}: {zh_text if zh else en} {n}")
    else:
        console.print(t("Preview only: add --dispatch to record the arms and create the tasks."))


@groups_app.command("campaign-eval")
@guarded
def groups_campaign_eval(
    key: str = typer.Option(..., "--key", help="Campaign key, e.g. group-2026-07."),
    horizon: int = typer.Option(1, "--horizon", help="Months after the dispatch month.", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print the evaluation as JSON."),
) -> None:
    """Evaluate a group campaign: member churn and group stability, treated vs. control groups,
    with a cluster-robust 95 % interval (groups are the unit).

    Example: weixi groups campaign-eval --key group-2026-07 --json
    """
    from weixi.cli.dispatch import _migrate
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.vip import campaign

    _migrate()
    with open_store(read_only=True) as con, session_scope() as s:
        out = campaign.evaluate(con, key, horizon=horizon, session=s)
    if as_json:
        emit_json(out)
        return
    table = Table(title=t("Group campaign {key}", key=key))
    for col in (
        t("Arm"),
        t("Groups"),
        t("Members"),
        t("Churned"),
        t("Kept"),
        t("Churn rate"),
        t("Group stability"),
    ):
        table.add_column(col)
    for arm in ("treated", "control"):
        a = out[arm]
        table.add_row(
            t(arm.capitalize()),
            str(a["groups"]),
            f"{a['members']:,}",
            f"{a['churned']:,}",
            f"{a['kept']:,}",
            _pct(a["churn_rate"]),
            _pct(a["stability"]),
        )
    console.print(table)
    e = out["churn_effect"]
    if e["effect"] is None:
        console.print(t("Not measured yet: load the following month."))
        return
    ci = (
        t("95% CI {lo} to {hi}", lo=_pct(e["ci_low"]), hi=_pct(e["ci_high"]))
        if e["ci_low"] is not None
        else t("no interval (fewer than two groups in an arm)")
    )
    console.print(
        t(
            "Effect on member churn (control − treated): {effect} ({ci}; randomization p {p}).",
            effect=_pct(e["effect"]),
            ci=ci,
            p="-" if e["p_value"] is None else f"{e['p_value']:.3f}",
        )
    )
    if e["few_groups"]:
        console.print(
            t(
                "Fewer than {n} groups in an arm: the interval may be too narrow.",
                n=campaign.MIN_GROUPS,
            )
        )


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


@vip_app.command("tiers")
@guarded
def vip_tiers(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH),
    branch: str = typer.Option(None, "--branch", help="Only this branch."),
    params: str = typer.Option(None, "--params", help=_PARAMS),
    as_json: bool = typer.Option(False, "--json", help="Print every move and notice as JSON."),
) -> None:
    """Show the month's tier moves (up, down, joined, left) with the bilingual notices.

    Example: weixi vip tiers --month 2026-07 --json
    """
    from collections import Counter

    from weixi.store.analytics import open_store
    from weixi.vip import programme

    with open_store(read_only=True) as con:
        moves = programme.tier_moves(con, month, _params(params), branch=branch)
    counts = Counter(r["move"] for r in moves)
    if as_json:
        emit_json({"month": month, "counts": dict(counts), "moves": moves})
        return
    console.print(
        t(
            "{month}: {up} up, {down} down, {joined} joined, {left} left.",
            month=month,
            up=counts["up"],
            down=counts["down"],
            joined=counts["joined"],
            left=counts["left"],
        )
    )
    for r in moves[:10]:
        console.print(f"{r['customer_id']}: {r['notice_zh']} / {r['notice_en']}")


@vip_app.command("care")
@guarded
def vip_care(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH),
    out: str = typer.Option(None, "--out", help="Write the events to this Parquet file."),
    params: str = typer.Option(None, "--params", help=_PARAMS),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
) -> None:
    """Build the month's care calendar: birthday, holiday and tier-anniversary events.

    The events (event_date, customer_id, event_type, attributes) are what the trigger rules
    consume.

    Example: weixi vip care --month 2026-10 --out care.parquet --json
    """
    from collections import Counter

    from weixi.store.analytics import open_store
    from weixi.vip import programme

    with open_store(read_only=True) as con:
        ev = programme.care_events(con, month, _params(params))
    if out:
        import pyarrow.parquet as pq

        pq.write_table(ev, out)
    counts = dict(Counter(ev.column("event_type").to_pylist()))
    if as_json:
        emit_json({"month": month, "events": ev.num_rows, "by_type": counts, "out": out})
        return
    console.print(t("{n} care events", n=f"{ev.num_rows:,}"))
    for k, v in sorted(counts.items()):
        console.print(f"  {t(k)}: {v:,}")


@vip_app.command("warning")
@guarded
def vip_warning(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH),
    branch: str = typer.Option(None, "--branch", help="Only this branch."),
    staff: str = typer.Option(None, "--staff", help="Only this account manager's book."),
    limit: int = typer.Option(20, "--limit", help="How many customers."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """List VIP customers by churn risk for account managers (phone and name masked).

    Example: weixi vip warning --month 2026-07 --branch HZ --limit 20
    """
    from weixi.security.masking import mask_name, mask_phone
    from weixi.store.analytics import open_store
    from weixi.vip import programme

    with open_store(read_only=True) as con:
        rows = programme.churn_warning(con, month, branch=branch, staff_id=staff, limit=limit)
    for r in rows:
        r["phone"], r["name"] = mask_phone(r["phone"]), mask_name(r["name"])
    if as_json:
        emit_json({"month": month, "customers": rows})
        return
    table = Table(title=t("VIP churn warning"))
    for col in (t("Customer"), t("Phone"), t("Tier"), t("P(churn)"), t("Manager")):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["customer_id"],
            r["phone"] or "",
            t(r["vip_tier"]),
            f"{r['p_churn']:.1%}",
            r["staff_id"] or "-",
        )
    console.print(table)


@points_app.command("earn")
@guarded
def points_earn(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH),
    params: str = typer.Option(None, "--params", help=_PARAMS),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Credit the month's points to every VIP customer (once per month; audited).

    Example: weixi vip points earn --month 2026-07 --json
    """
    from weixi.cli.dispatch import _migrate
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.vip import points

    _migrate()
    with open_store(read_only=True) as con, session_scope() as s:
        res = points.earn_month(
            session=s, con=con, month=month, actor="cli", params=_params(params)
        )
    if as_json:
        emit_json(res)
        return
    console.print(
        t(
            "{month}: {points} points to {customers} customers ({already} already credited).",
            month=res["month"],
            points=f"{res['points']:,}",
            customers=f"{res['customers']:,}",
            already=f"{res['already']:,}",
        )
    )


@points_app.command("redeem")
@guarded
def points_redeem(
    customer: str = typer.Option(..., "--customer", help="Customer id."),
    offer: str = typer.Option(..., "--offer", help="Offer code from the parameters."),
    request_id: str = typer.Option(..., "--request-id", help="Idempotency key of the request."),
    params: str = typer.Option(None, "--params", help=_PARAMS),
) -> None:
    """Redeem points for an offer; refused when the balance is short (audited).

    Example: weixi vip points redeem --customer C0000001234 --offer data_10g --request-id r1
    """
    from weixi.cli.dispatch import _migrate
    from weixi.store.db import session_scope
    from weixi.vip import points

    _migrate()
    with session_scope() as s:
        e = points.redeem(
            session=s,
            customer_id=customer,
            offer=offer,
            request_id=request_id,
            actor="cli",
            params=_params(params),
        )
        balance = e.balance
    console.print(t("Redeemed; balance {balance} points.", balance=f"{balance:,}"))


@points_app.command("balance")
@guarded
def points_balance(
    customer: str = typer.Option(..., "--customer", help="Customer id."),
    as_json: bool = typer.Option(False, "--json", help="Print the ledger as JSON."),
) -> None:
    """Show a customer's points balance and ledger.

    Example: weixi vip points balance --customer C0000001234 --json
    """
    from weixi.cli.dispatch import _migrate
    from weixi.store.db import session_scope
    from weixi.vip import points

    _migrate()
    with session_scope() as s:
        ledger = [
            {
                "seq": e.seq,
                "kind": e.kind,
                "ref": e.ref,
                "delta": e.delta,
                "balance": e.balance,
                "at": e.at,
            }
            for e in points.get_all(session=s, customer_id=customer)
        ]
    balance = ledger[-1]["balance"] if ledger else 0
    if as_json:
        emit_json({"customer_id": customer, "balance": balance, "ledger": ledger})
        return
    console.print(t("Balance {balance} points.", balance=f"{balance:,}"))


def register(app: typer.Typer) -> None:
    """Attach the groups, books and vip sub-commands."""
    app.add_typer(groups_app, name="groups")
    app.add_typer(books_app, name="books")
    app.add_typer(vip_app, name="vip")
