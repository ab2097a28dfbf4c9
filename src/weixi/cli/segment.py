"""CLI commands of the segment domain (thin: parse options, call the service, print)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, err_console, guarded
from weixi.i18n import current_locale, t

seg_app = typer.Typer(
    name="segment",
    help=(
        "Segment a month: exclusions, stability A/B/C, needs D-I, VAD, VIP, group, value, "
        "clusters.\n\nExample: weixi segment --month 2026-03 --preset seed --json"
    ),
    invoke_without_command=True,
    no_args_is_help=False,
)

_MONTH_HELP = "Month to segment, YYYY-MM."
_PRESET_HELP = "Rule preset: seed (default), modern, or a YAML file path."


def _print_run(run, counts: dict, funnel: list[dict]) -> None:
    loc = current_locale()
    from weixi.segment.rules import DIMENSION_KEYS, STABILITY_KEYS, load_preset

    console.print(
        t(
            "Segmented {month}: {n} lines, {kept} kept, {excluded} excluded "
            "({seconds:.1f} s, preset {preset}, engine {engine}).",
            loc,
            month=str(run.month)[:7],
            n=f"{run.subscribers:,}",
            kept=f"{run.subscribers - run.excluded:,}",
            excluded=f"{run.excluded:,}",
            seconds=run.seconds,
            preset=run.preset,
            engine=run.engine,
        )
    )
    rs = load_preset(run.preset) if run.preset in ("seed", "modern") else None
    ft = Table(title=t("Exclusion funnel", loc))
    for col in (t("Step", loc), t("Rule", loc), t("Removed", loc), t("Remaining", loc)):
        ft.add_column(col)
    labels = {e.key: e.label.get(loc) for e in rs.exclusions} if rs else {}
    for row in funnel:
        ft.add_row(
            str(row["step"]),
            labels.get(row["rule"], t(row["rule"], loc)),
            f"{row['removed']:,}",
            f"{row['remaining']:,}",
        )
    console.print(ft)
    gt = Table(title=t("Stability groups by priority", loc))
    for col in (t("Rank", loc), t("Group", loc), t("Urgency", loc), t("Subscribers", loc)):
        gt.add_column(col)
    order = rs.priority_order() if rs else []
    groups = counts.get("stability_group", {})
    colours = {"red": "red", "blue": "blue", "green": "green"}
    for rank, (g, urg) in enumerate(order, start=1):
        gt.add_row(str(rank), g, f"[{colours[urg]}]{t(urg, loc)}[/]", f"{groups.get(g, 0):,}")
    console.print(gt)
    # stability a/b/c are shown as the grid above; every other dimension as one line
    for dim in (*(k for k in DIMENSION_KEYS if k not in STABILITY_KEYS), "cluster"):
        levels = counts.get(dim, {})
        if levels:
            console.print(f"[bold]{dim}[/]: " + ", ".join(f"{k} {v:,}" for k, v in levels.items()))
    for issue in run.issues:
        err_console.print(f"[yellow]{t('Warning', loc)}:[/] {issue.message()}")
    for c in run.clusters:
        desc = c.description_zh if loc == "zh-CN" else c.description_en
        console.print(f"{t('Cluster', loc)} {c.cluster}: {desc}")


@seg_app.callback()
@guarded
def segment(
    ctx: typer.Context,
    month: str = typer.Option(None, "--month", "-m", help=_MONTH_HELP),
    engine: str = typer.Option(
        None, "--engine", help="duckdb (default) or spark (local Spark session)."
    ),
    preset: str = typer.Option("seed", "--preset", "-p", help=_PRESET_HELP),
    strict: bool = typer.Option(
        False, "--strict", help="Fail when levels overlap or leave subscribers uncovered."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print counts and funnel as JSON."),
) -> None:
    """Segment a month and store it (re-running a month replaces it).

    Example: weixi segment --month 2026-03 --engine duckdb --preset seed --json
    """
    if ctx.invoked_subcommand is not None:
        return
    if not month:
        raise typer.BadParameter(t("--month is required, e.g. --month 2026-03"))
    from weixi import summaries
    from weixi.config import get_settings
    from weixi.segment import service
    from weixi.store.analytics import open_store

    eng = engine or get_settings().engine
    with open_store() as con:
        run = service.segment_month(con, month, preset=preset, engine=eng, strict=strict)
        summaries.refresh_after_step(con, run.month, evaluation=False, changed="segments")
        counts = service.get_counts(con, run.month)
        funnel = service.get_funnel(con, run.month)
    if as_json:
        emit_json(
            {
                "month": str(run.month)[:7],
                "preset": run.preset,
                "engine": run.engine,
                "subscribers": run.subscribers,
                "kept": run.subscribers - run.excluded,
                "excluded": run.excluded,
                "seconds": round(run.seconds, 3),
                "counts": counts,
                "funnel": funnel,
                "issues": [i.message() for i in run.issues],
                "clusters": [
                    {
                        "cluster": c.cluster,
                        "subscribers": c.size,
                        "share": round(c.share, 4),
                        "description_en": c.description_en,
                        "description_zh": c.description_zh,
                    }
                    for c in run.clusters
                ],
            }
        )
        return
    _print_run(run, counts, funnel)


@seg_app.command("export")
@guarded
def export_cmd(
    month: str = typer.Option(..., "--month", "-m", help="Segmented month, YYYY-MM."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .xlsx, .csv or .parquet."),
    branch: str = typer.Option(None, "--branch", help="Only this branch (地市)."),
    kept_only: bool = typer.Option(False, "--kept-only", help="Leave out excluded lines."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export a segmented month with masked phone numbers and names.

    The xlsx has bilingual headers; CSV and Parquet use column names.

    Example: weixi segment export --month 2026-03 --out lists/2026-03.xlsx
    """
    from weixi.segment import service
    from weixi.store.analytics import open_store

    with open_store() as con:
        n = service.export(con, month, out, branch=branch, include_excluded=not kept_only)
    if as_json:
        emit_json({"month": month, "out": str(out), "rows": n})
    else:
        console.print(t("Exported {n} rows to {out}", n=f"{n:,}", out=str(out)))


@seg_app.command("check")
@guarded
def check_cmd(
    month: str = typer.Option(..., "--month", "-m", help=_MONTH_HELP),
    preset: str = typer.Option("seed", "--preset", "-p", help=_PRESET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Validate a preset against a month: overlapping or uncovered levels, with counts.

    Nothing is stored. Exits 1 when there are findings.

    Example: weixi segment check --month 2026-03 --preset my-rules.yaml
    """
    import datetime as dt

    from weixi.segment import service
    from weixi.segment.exprs import check
    from weixi.segment.features import features
    from weixi.segment.rules import load_preset
    from weixi.store.analytics import open_store
    from weixi.store.backends import duckdb_backend
    from weixi.store.months import parse_month

    rs = load_preset(preset)
    m: dt.date = parse_month(month)
    with open_store(read_only=False) as con:
        service._require_month(con, m)
        service._settle(con)
        backend = duckdb_backend(con)
        groups = backend.table("enterprise_groups")
        issues = check(features(backend.table("snapshot"), m, groups), rs)
    if as_json:
        emit_json(
            {
                "month": month,
                "preset": rs.name,
                "issues": [
                    {
                        "kind": i.kind,
                        "dimension": i.dimension,
                        "variant": i.variant,
                        "levels": list(i.levels),
                        "count": i.count,
                        "message": i.message(),
                    }
                    for i in issues
                ],
            }
        )
    else:
        if not issues:
            console.print(t("No overlapping or uncovered levels.", current_locale()))
        for i in issues:
            console.print(i.message())
    if issues:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.add_typer(seg_app, name="segment")
