"""``weixi run`` (the monthly job on loaded data) and ``weixi demo`` (a synthetic operator end to end)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer

from weixi.cli.common import console, emit_json, err_console, guarded
from weixi.i18n import t

DEMO_MARKER = ".weixi-demo"

# Demo accounts: (username, role, needs a branch, needs a staff id of that channel)
DEMO_USERS = (
    ("admin", "admin", False, None),
    ("planner", "planner", False, None),
    ("analyst", "analyst", False, None),
    ("manager", "branch_manager", True, None),
    ("agent", "agent", True, "call_center"),
    ("am", "account_manager", True, "account_manager"),
)
DEMO_PASSWORD = "weixi-demo-2026"


def register(app: typer.Typer) -> None:
    """Attach ``run`` and ``demo`` to the root app."""
    app.command("run")(run)
    app.command("demo")(demo)


@guarded
def run(
    month: str = typer.Option(
        ..., "--month", help="Month to run, YYYY-MM (imported, or imported first with --input)."
    ),
    preset: str = typer.Option("seed", "--preset", help="Segmentation preset or YAML path."),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb or spark."),
    inputs: list[str] = typer.Option(
        None,
        "--input",
        help="Import this file of the month first (repeat for several; CSV or Parquet; with "
        "--engine spark any path Spark reads, e.g. hdfs://…). Needs --mapping.",
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="Mapping YAML of the --input files (see docs/import.md)."
    ),
    churn_params: Path | None = typer.Option(
        None,
        "--churn-params",
        help="Churn parameter YAML (models, retrain cadence); default: the shipped one.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run the monthly job on a month: (import,) evaluate last month, segment, churn, plan.

    Example: weixi run --month 2026-03 --json
    """
    if inputs and mapping is None:
        raise typer.BadParameter(t("--input needs --mapping"), param_hint="--mapping")
    from weixi.churn.params import load_params
    from weixi.flows import run_month
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.store.months import parse_month
    from weixi.web import migrate as migrations

    migrations.upgrade()
    m = parse_month(month)
    params = load_params(churn_params)
    with open_store() as con, session_scope() as session:
        report = run_month(
            con=con,
            session=session,
            month=m,
            preset=preset,
            engine=engine,
            on_step=None if json_out else _say,
            churn_params=params,
            inputs=inputs or None,
            mapping=mapping,
        )
    if json_out:
        emit_json(report.to_dict())
    else:
        _print_report(report.to_dict())


def _say(msg: str) -> None:
    err_console.print(f"[cyan]→[/] {msg}")


def _print_report(rep: dict) -> None:
    from weixi.churn.champion import describe as describe_promotion

    console.print(f"[bold]{rep['month']}[/]")
    for name, secs in rep["seconds"].items():
        console.print(f"  {t(name)}: {secs:.1f} s")
    steps = rep.get("steps", {})
    uplift = steps.get("uplift")
    if isinstance(uplift, dict) and "status" in uplift:
        trained = uplift["status"] == "trained"
        console.print(
            t("Learned uplift: used in this plan", None)
            if trained
            else t("Learned uplift: not yet ({reason})", None, reason=uplift["status"][9:]),
            highlight=False,
        )
    trained = steps.get("churn_train")
    if isinstance(trained, dict) and trained.get("text"):
        console.print(f"{t('Churn model')}: {trained['text']}", highlight=False)
    if isinstance(trained, dict) and trained.get("decision"):
        console.print(
            t(
                "Churn model {version}: {role} ({reason})",
                None,
                version=trained.get("version", "-"),
                role=t(str(trained.get("role", "-"))),
                reason=describe_promotion(trained),
            ),
            highlight=False,
        )
    plan = steps.get("plan")
    if isinstance(plan, dict) and plan.get("power"):
        from weixi.cli.dispatch import power_line

        console.print(power_line(plan["power"]), highlight=False)
    winback = steps.get("winback")
    if isinstance(winback, dict):
        for ev in winback.get("evaluated", []):
            tr, co = ev["treated"], ev["control"]
            console.print(
                t(
                    "Win-back {campaign} {month}: won back within {h} months — treated {tw} of "
                    "{tn}, control {cw} of {cn}; lift {lift}",
                    None,
                    campaign=ev["campaign"],
                    month=ev["month"],
                    h=ev["horizon"],
                    tw=tr["won_back"],
                    tn=tr["n"],
                    cw=co["won_back"],
                    cn=co["n"],
                    lift="–" if ev["lift"] is None else f"{ev['lift'] * 100:+.1f} pp",
                ),
                highlight=False,
            )
        for p in winback.get("pending", []):
            console.print(
                t(
                    "Win-back {campaign} {month}: evaluated once {matures} is loaded",
                    None,
                    campaign=p["campaign"],
                    month=p["month"],
                    matures=p["matures"],
                ),
                highlight=False,
            )
    adjust = steps.get("adjust")
    if isinstance(adjust, dict) and adjust.get("report"):
        console.print(f"[bold]{t('What changed in the plan and why')}[/]")
        for line in adjust["report"]:
            console.print(f"  {line}", highlight=False)


@guarded
def demo(
    subscribers: int = typer.Option(200_000, "--subscribers", help="Size of the demo operator."),
    months: int = typer.Option(4, "--months", help="Months of history to run (≥ 3)."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the synthetic operator."),
    home: Path = typer.Option(Path("demo"), "--home", help="Folder for the demo's data."),
    host: str = typer.Option("127.0.0.1", "--host", help="Web server interface."),
    port: int = typer.Option(8000, "--port", help="Web server port."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the web app at the end."),
    json_out: bool = typer.Option(False, "--json", help="Print the month reports as JSON."),
) -> None:
    """Build a demo operator through the real monthly loop and serve the web app on it.

    Generates a synthetic operator month by month, imports each month through the validated
    import, segments, trains and scores the churn model, plans the campaign, works the lists
    with a simulated dialer (outcomes from the operator's hidden responses) and evaluates the
    previous month against its control group. The last month's lists stay open for the work
    queues. Demo accounts share one password, printed at the end.

    Example: weixi demo --subscribers 200000 --months 4 --port 8000
    """
    from weixi import config
    from weixi.store import db

    if months < 3:
        raise typer.BadParameter("--months must be at least 3 (train, evaluate, plan)")
    home = home.resolve()
    if home.exists():
        if not (home / DEMO_MARKER).exists() and any(home.iterdir()):
            raise typer.BadParameter(f"{home} exists and is not a weixi demo folder; pick --home")
        shutil.rmtree(home)
    home.mkdir(parents=True)
    (home / DEMO_MARKER).write_text("created by weixi demo; safe to delete\n")
    os.environ["WEIXI_HOME"] = str(home / "var")
    # The demo serves plain http on this machine: dev mode (cookies without Secure) unless
    # the caller chose a mode.
    os.environ.setdefault("WEIXI_ENV", "dev")
    os.environ.pop("WEIXI_DATABASE_URL", None)
    os.environ.pop("WEIXI_ANALYTICS_PATH", None)
    config.get_settings.cache_clear()
    db.get_engine.cache_clear()

    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.synth.demo import build_demo
    from weixi.web import migrate as migrations

    migrations.upgrade()
    with open_store() as con:
        reports = build_demo(
            con=con,
            session_scope=session_scope,
            out_dir=home,
            subscribers=subscribers,
            months=months,
            seed=seed,
            on_step=_say,
        )
        users = _demo_users(con)
    if json_out:
        emit_json({"months": reports, "users": users})
    else:
        for rep in reports:
            _print_report(rep)
        console.print(t("Demo accounts (password: {pw}):", pw=DEMO_PASSWORD))
        for u in users:
            console.print(f"  {u['username']:<10} {u['role']:<16} {u.get('branch_id') or ''}")
    if serve:
        import uvicorn

        from weixi.web.app import create_app

        url = f"http://{host}:{port}/"
        console.print(t("weixi demo is ready at {url}", url=url))
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")


def _demo_users(con) -> list[dict]:
    """Create the demo accounts; front-line users are tied to a real staff id with open tasks."""
    from sqlalchemy import func, select

    from weixi.auth import service
    from weixi.dispatch.models import Task, TaskStatus
    from weixi.store.db import session_scope

    out: list[dict] = []
    with session_scope() as session:
        busiest = session.execute(
            select(Task.branch_id, func.count())
            .where(Task.status == TaskStatus.open.value)
            .group_by(Task.branch_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
        branch = busiest[0] if busiest else None
        for username, role, needs_branch, channel in DEMO_USERS:
            staff_id = None
            if channel and branch:
                row = session.execute(
                    select(Task.staff_id, func.count())
                    .where(
                        Task.status == TaskStatus.open.value,
                        Task.branch_id == branch,
                        Task.channel == channel,
                        Task.staff_id.is_not(None),
                    )
                    .group_by(Task.staff_id)
                    .order_by(func.count().desc())
                    .limit(1)
                ).first()
                staff_id = row[0] if row else None
            service.create(
                session=session,
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                branch_id=branch if needs_branch else None,
                staff_id=staff_id,
                display_name=username.title(),
            )
            out.append(
                {
                    "username": username,
                    "role": role,
                    "branch_id": branch if needs_branch else None,
                    "staff_id": staff_id,
                }
            )
    return out
