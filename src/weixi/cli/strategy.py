"""CLI commands of the strategy domain (thin: parse options, call the service, print)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, guarded
from weixi.i18n import current_locale, t

strategy_app = typer.Typer(
    name="strategy",
    help="Strategy library (维系策略库) and matching.\n\nExample: weixi strategy show",
    no_args_is_help=True,
)

_LIB_HELP = "Strategy library YAML (default: $WEIXI_HOME/strategy.yaml, else the seed preset)."


@strategy_app.command("show")
@guarded
def show(
    library: Path = typer.Option(None, "--library", help=_LIB_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show categories, actions, offers and matching rules of the library.

    Example: weixi strategy show --json
    """
    from weixi.strategy.library import load_library

    lib = load_library(library)
    loc = current_locale()
    if json_out:
        emit_json(lib.model_dump(mode="json", by_alias=True, exclude_none=True))
        return
    at = Table(title=t("Retention actions", loc))
    for col in ("Category", "Action", "Name", "Uplift", "Offers"):
        at.add_column(t(col, loc))
    offers = lib.offers()
    for a in sorted(lib.actions, key=lambda a: (lib.priority.index(a.category), a.key)):
        n = sum(1 for e, _p, _o in offers if e.action == a.key)
        at.add_row(a.category, a.key, a.name.get(loc), f"{a.uplift:.0%}", str(n))
    console.print(at)
    rt = Table(title=t("Matching rules (province level)", loc))
    for col in ("Rule", "Line type", "Actions", "When"):
        rt.add_column(t(col, loc))
    for r in lib.rules:
        rt.add_row(
            r.key,
            r.line_type,
            ", ".join(r.actions),
            r.note.get(loc) if r.note else "",
        )
    console.print(rt)


@strategy_app.command("validate")
@guarded
def validate(
    path: Path = typer.Argument(..., help="Library YAML file to check."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Validate a strategy library file (errors name the bad key).

    Example: weixi strategy validate my-library.yaml
    """
    from weixi.strategy.library import load_library

    lib = load_library(path)
    summary = {
        "name": lib.name,
        "version": lib.version,
        "actions": len(lib.actions),
        "offers": len(lib.offers()),
        "rules": len(lib.rules),
        "valid": True,
    }
    if json_out:
        emit_json(summary)
    else:
        console.print(t("Library {name} is valid: {offers} offers, {rules} rules.", **summary))


@strategy_app.command("match")
@guarded
def match_cmd(
    month: str = typer.Option(..., "--month", help="Month to match, YYYY-MM."),
    library: Path = typer.Option(None, "--library", help=_LIB_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Match a segmented month to primary actions and offers (writes strategy_matches).

    Example: weixi strategy match --month 2026-03 --json
    """
    from weixi.store.analytics import open_store
    from weixi.store.months import parse_month
    from weixi.strategy.library import load_library
    from weixi.strategy.match import match

    m = parse_month(month)
    lib = load_library(library)
    with open_store() as con:
        counts = match(con, m, lib).counts()
        rows = con.execute(
            "SELECT category, action, count(*) AS n, round(sum(best_ev), 2) AS ev "
            "FROM strategy_matches WHERE month = ? GROUP BY ALL ORDER BY category, n DESC",
            [m],
        ).fetchall()
    payload = {
        "month": month,
        **counts,
        "by_action": [
            {"category": c, "action": a, "count": n, "expected_value": v} for c, a, n, v in rows
        ],
    }
    if json_out:
        emit_json(payload)
        return
    loc = current_locale()
    console.print(
        t(
            "Matched {month}: {kept} kept, {matched} with a strategy, {households} households.",
            loc,
            **{
                k: (f"{v:,}" if isinstance(v, int) else v)
                for k, v in payload.items()
                if k != "by_action"
            },
        )
    )
    tb = Table()
    for col in ("Category", "Action", "Customers", "Expected value"):
        tb.add_column(t(col, loc))
    names = {a.key: a.name.get(loc) for a in lib.actions}
    for r in payload["by_action"]:
        tb.add_row(
            r["category"],
            names.get(r["action"], r["action"]),
            f"{r['count']:,}",
            f"¥{r['expected_value']:,.0f}",
        )
    console.print(tb)


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.add_typer(strategy_app, name="strategy")
