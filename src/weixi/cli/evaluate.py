"""CLI commands of the evaluate domain (thin: parse options, call the service, print)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, err_console, guarded
from weixi.i18n import current_locale, t
from weixi.store.months import parse_month

evaluate_app = typer.Typer(
    no_args_is_help=False,
    invoke_without_command=True,
)
uplift_app = typer.Typer(
    help="Learn per-customer uplift from past campaigns.\n\nExample: weixi uplift train --learner t",
    no_args_is_help=True,
)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2%}"


def _print_rows(title: str, rows: list[dict]) -> None:
    loc = current_locale()
    table = Table(title=title, title_justify="left")
    for col in (
        "Group",
        "Treated",
        "Control",
        "Retention lift",
        "95% interval",
        "Value lift (yuan/customer)",
        "Planned cost",
        "Actual cost",
        "ROI (actual cost)",
        "Verdict",
    ):
        table.add_column(t(col, loc))
    for r in rows:
        table.add_row(
            str(r["group"]),
            f"{r['n_treated']:,}",
            f"{r['n_control']:,}",
            _pct(r["retention_lift"]),
            f"{_pct(r['retention_lift_low'])} … {_pct(r['retention_lift_high'])}",
            "-" if r["value_lift"] is None else f"{r['value_lift']:,.2f}",
            f"{r['planned_cost']:,.0f}",
            "-" if r["actual_cost"] is None else f"{r['actual_cost']:,.0f}",
            "-" if r["roi"] is None else f"{r['roi']:.2f}",
            r["verdict"],
        )
    console.print(table)


def _sync_execution(con, month) -> None:
    """Price the month's recorded outcomes first, as the monthly job does before evaluating."""
    from sqlalchemy import inspect

    from weixi.flows import sync_contact_outcomes
    from weixi.store.db import get_engine, session_scope

    if not inspect(get_engine()).has_table("tasks"):
        return  # no operational database yet: nothing was executed through weixi
    with session_scope() as session:
        sync_contact_outcomes(con=con, session=session, month=month)


@evaluate_app.callback()
@guarded
def evaluate(
    ctx: typer.Context,
    month: str = typer.Option(None, "--month", "-m", help="Campaign month YYYY-MM."),
    by: list[str] = typer.Option(
        None,
        "--by",
        help="Dimensions (campaign_id, action, offer_id, segment, branch_id, "
        "channel, staff_id); default all.",
    ),
    n_boot: int = typer.Option(1000, "--bootstrap", help="Bootstrap replicates for value lift."),
    plan_version: int = typer.Option(
        None,
        "--plan-version",
        help="Measure this stored plan version (e.g. a superseded one) instead of the "
        "executed plans.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Measure a month's executed campaigns against the holdout, once the next month is imported.

    Only approved or closed plan versions count: previews, drafts and cancelled campaigns never do.

    Retention lift (exact/score 95% intervals), value lift (bootstrap), planned and actual cost,
    retained revenue, net value and ROI (from actual cost), contact and success rates, by
    campaign, strategy, offer, segment, branch, channel and person; small groups are flagged
    inconclusive.

    Example: weixi evaluate --month 2026-03 --by action --by branch_id
    """
    if ctx.invoked_subcommand is not None:
        return
    if not month:
        raise typer.BadParameter(t("give the campaign month with --month YYYY-MM"))
    from weixi import summaries
    from weixi.evaluate.service import evaluate_month
    from weixi.store.analytics import open_store

    with open_store() as con:
        if plan_version is None:
            _sync_execution(con, parse_month(month))
        report = evaluate_month(
            con=con,
            month=parse_month(month),
            dimensions=by or None,
            n_boot=n_boot,
            locale=current_locale(),
            plan_version=plan_version,
            rebuild=True,
        )
        if plan_version is None:  # a past version's figures are not the page's
            summaries.refresh_after_evaluation(con, parse_month(month))
    if as_json:
        emit_json(report)
        return
    if report["overall"]:
        _print_rows(t("Campaign evaluation {month}", month=report["month"]), [report["overall"]])
    for dim, rows in report["by"].items():
        from weixi.evaluate.service import DIMENSIONS

        _print_rows(t(DIMENSIONS[dim]), rows)


@evaluate_app.command("export")
@guarded
def export(
    month: str = typer.Option(..., "--month", "-m", help="Campaign month YYYY-MM."),
    out: Path = typer.Option(..., "--out", "-o", help="Workbook to write (.xlsx)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Export a month's evaluation to Excel (one sheet per dimension, bilingual headers).

    Planned and actual cost side by side; ROI and net value from the actual cost of the
    outcomes recorded so far.

    Example: weixi evaluate export --month 2026-03 --out eval-2026-03.xlsx
    """
    from weixi import summaries
    from weixi.evaluate.service import evaluate_month, export_excel
    from weixi.store.analytics import open_store

    loc = current_locale()
    with open_store() as con:
        _sync_execution(con, parse_month(month))
        report = evaluate_month(con=con, month=parse_month(month), locale=loc, rebuild=True)
        # the outcomes just synced are the page's too
        summaries.refresh_after_evaluation(con, parse_month(month))
    path = export_excel(report, out, locale=loc)
    if as_json:
        emit_json({"month": report["month"], "path": str(path)})
    else:
        console.print(t("Wrote {path}", path=str(path)))


@evaluate_app.command("adjust")
@guarded
def adjust(
    month: str = typer.Option(..., "--month", "-m", help="Last evaluated month YYYY-MM."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Adjust next month's action per segment from the measured effect (Thompson sampling).

    Keeps the randomized control; prints what changed in the plan and why.

    Example: weixi evaluate adjust --month 2026-03
    """
    from weixi.evaluate.service import adjust_plan
    from weixi.store.analytics import open_store

    with open_store() as con:
        out = adjust_plan(con=con, month=parse_month(month), locale=current_locale())
    if as_json:
        emit_json(out)
        return
    for line in out["report"]:
        console.print(line, highlight=False)


@uplift_app.command("train")
@guarded
def uplift_train(
    months: list[str] = typer.Option(
        None, "--month", "-m", help="Evaluated months to learn from (default: all)."
    ),
    learner: str = typer.Option("t", "--learner", help="t (T-learner) or x (X-learner)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Train the multi-treatment uplift model (LightGBM) on evaluated campaigns.

    Example: weixi uplift train --learner x
    """
    from weixi.evaluate.service import train_uplift
    from weixi.evaluate.uplift import UpliftParams
    from weixi.store.analytics import open_store

    with open_store() as con:
        meta = train_uplift(
            con=con,
            months=[parse_month(m) for m in months] if months else None,
            params=UpliftParams(learner=learner),
        )
    if as_json:
        emit_json(meta)
        return
    console.print(
        t(
            "Uplift model {version}: actions {actions}; Qini {qini}",
            version=meta["version"],
            actions=", ".join(meta["actions"]),
            qini="-" if meta["qini"] is None else f"{meta['qini']:.4f}",
        )
    )


@uplift_app.command("fit-eval")
@guarded
def uplift_fit_eval_cmd(
    csv: Path = typer.Option(
        ..., "--csv", help="CSV of a randomized experiment, one row a customer."
    ),
    treatment: str = typer.Option(..., "--treatment", help="Column naming each row's arm."),
    treated: str = typer.Option(..., "--treated", help="Value of that column for treated rows."),
    control: str = typer.Option(..., "--control", help="Value of that column for control rows."),
    outcome: str = typer.Option(
        ..., "--outcome", help="Response column (yes/no, true/false, 1/0)."
    ),
    id_col: str = typer.Option(None, "--id", help="Id column to ignore."),
    drop: list[str] = typer.Option(
        [], "--drop", help="Column that is not a feature, e.g. another outcome (repeatable)."
    ),
    mediator: str = typer.Option(
        None,
        "--mediator",
        help="0/1 column the treatment works through, known for the treated (offer accepted, "
        "customer reached): never a feature; adds the product's response learner.",
    ),
    truth: Path = typer.Option(
        None,
        "--truth",
        help="CSV of each row's true effect (id column, true_uplift, systematic_uplift), "
        "as `weixi generate-experiment` writes: compare the learners' ranking with it.",
    ),
    test_size: float = typer.Option(0.3, "--test-size", min=0.05, max=0.9, help="Held-out share."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the folds."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Fit the uplift learners on an outside randomized experiment and report on a held-out part.

    Example: weixi uplift fit-eval --csv hillstrom.csv --treatment segment --treated "Mens E-Mail" --control "No E-Mail" --outcome visit
    """
    from weixi.churn.tabular import read_csv
    from weixi.evaluate.external import fit_eval

    result = fit_eval(
        read_csv(csv),
        treatment=treatment,
        treated=treated,
        control=control,
        outcome=outcome,
        id_col=id_col,
        drop=list(drop),
        mediator=mediator,
        test_size=test_size,
        seed=seed,
        truth=None if truth is None else read_csv(truth),
    )
    if as_json:
        emit_json(result)
        return
    a = result["test"]
    console.print(
        t(
            "Held-out part: {n} rows; average treatment effect {ate} (95% interval {lo} … {hi})",
            n=f"{result['n_test']:,}",
            ate=_pct(a["ate"]),
            lo=_pct(a["ate_low"]),
            hi=_pct(a["ate_high"]),
        )
    )
    table = Table(title=t("Uplift on the held-out part of {file}", file=csv.name))
    cols = ["Learner", "Qini coefficient", "Uplift AUC", "Uplift in the top 30%"]
    truth_of = result.get("truth", {}).get("systematic_uplift") or result.get("truth", {}).get(
        "true_uplift"
    )
    if truth_of:
        cols.append("Rank correlation with the true effect")
    for col in cols:
        table.add_column(t(col), justify="left" if col == "Learner" else "right")
    rows = (
        ("model", t("Product: {learner}", learner=result["model"]["learner"]), result["model"]),
        ("baseline_t_logistic", t("Baseline: logistic T-learner"), result["baseline_t_logistic"]),
    )
    for key, label, m in rows:
        cells = [label, f"{m['qini_coefficient']:.4f}", f"{m['uplift_auc']:.4f}"]
        cells.append(_pct(m["uplift_at_30"]))
        if truth_of:
            cells.append(f"{truth_of['spearman'][key]:.3f}")
        table.add_row(*cells)
    if truth_of:
        table.add_row(
            t("The true effect's ranking"),
            f"{truth_of['qini_coefficient']:.4f}",
            "",
            "",
            "1.000",
        )
    console.print(table)
    sel = result["selection"]
    console.print(
        t(
            "Chosen out of fold: {learner}. Best out of fold: {best}, {margin} Qini above the "
            "default {default} (standard error {se}); a learner must beat the default by more "
            "than one standard error to be chosen.",
            learner=sel["learner"],
            default=sel["default"],
            best=sel["best_out_of_fold"],
            margin=f"{sel['margin']:+.4f}",
            se=f"{sel['standard_error']:.4f}",
        )
    )


@uplift_app.command("report")
@guarded
def uplift_report_cmd(
    month: str = typer.Option(..., "--month", "-m", help="Evaluated campaign month YYYY-MM."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Qini coefficient and uplift by decile of the newest uplift model on a month.

    Example: weixi uplift report --month 2026-04
    """
    from weixi.evaluate.service import uplift_report
    from weixi.store.analytics import open_store

    with open_store() as con:
        rep = uplift_report(con=con, month=parse_month(month))
    if as_json:
        emit_json(rep)
        return
    table = Table(
        title=t(
            "Uplift by decile ({version}), Qini {qini}",
            version=rep["version"],
            qini="-" if rep["qini"] is None else f"{rep['qini']:.4f}",
        )
    )
    for col in ("Decile", "Treated", "Control", "Predicted uplift", "Observed uplift"):
        table.add_column(t(col))
    for r in rep["deciles"]:
        table.add_row(
            str(r["decile"]),
            f"{r['n_treated']:,}",
            f"{r['n_control']:,}",
            _pct(r["predicted_uplift"]),
            _pct(r["observed_uplift"]),
        )
    console.print(table)


@guarded
def simulate_cmd(
    subscribers: int = typer.Option(20_000, "--subscribers", "-n", help="Lines in month 1."),
    months: int = typer.Option(3, "--months", "-k", help="Campaign months to simulate."),
    policy: str = typer.Option("uplift", "--policy", help="rules, model or uplift."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    budget: float = typer.Option(None, "--budget", help="Yuan per month (default 0.15 × lines)."),
    warmup: int = typer.Option(2, "--warmup", help="Months without a campaign before the first."),
    diagnose: bool = typer.Option(
        False,
        "--diagnose",
        help="Also plan the oracle at the campaign's default cell resolution and the ceilings "
        "of one churn reduction per action (references.action_mean_share) and per action and "
        "level of its learning dimensions, learning.reduction_by else the library's learn_by "
        "(references.level_mean_share); and, per action, what the executed plan "
        "believed of its treated customers next to the truth (belief) and how far the "
        "evidence learned from could tell its levels apart (learnability).",
    ),
    home: Path = typer.Option(
        None, "--home", help="Keep the simulation's weixi home here (default: temporary)."
    ),
    reduction_by: str = typer.Option(
        None,
        "--reduction-by",
        help="The uplift policy's learning.reduction_by: library (each action's learn_by), a "
        "segment dimension such as a; default: the campaign's (one churn reduction per action).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run the real monthly job on the synthetic operator and compare with two references.

    Each month: the operator's export goes through `weixi import` and the monthly job (evaluate,
    adjust, segment, churn, uplift, plan), a simulated dialer works the tasks from the hidden
    responses, and the product's own planner values the full-information oracle and the
    attainable reference on the same budget and capacity.

    Example: weixi simulate --subscribers 200000 --months 6 --policy uplift --json
    """
    from weixi.synth.simulate import REFERENCE_LABELS, SimParams, simulate

    params = SimParams(
        subscribers=subscribers,
        months=months,
        policy=policy,
        seed=seed,
        budget=budget,
        warmup=warmup,
        diagnose=diagnose,
        home=str(home) if home else None,
        reduction_by=reduction_by,
    )
    loc = current_locale()

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{x:+.2%}"

    def show(m) -> None:  # progress on stderr, so --json output stays clean
        err_console.print(
            t(
                "{month}: value {value:,.0f}; oracle {oracle:,.0f}; attainable {attainable:,.0f}; "
                "cost {cost:,.0f}; lift {lift} [{low}, {high}], true {true:+.2%}",
                loc,
                month=m.month,
                value=m.value,
                oracle=m.oracle_value,
                attainable=m.attainable_value,
                cost=m.cost,
                lift=pct(m.measured_lift),
                low=pct(m.lift_ci[0] if m.lift_ci else None),
                high=pct(m.lift_ci[1] if m.lift_ci else None),
                true=m.true_lift,
            ),
            highlight=False,
        )
        if m.references:
            err_console.print(
                "  "
                + "; ".join(
                    f"{t(REFERENCE_LABELS[k], loc)} {v:.0%}" for k, v in m.references.items()
                ),
                highlight=False,
            )

    res = simulate(params, on_month=show)
    if as_json:
        out = res.as_dict()
        keys = (
            "month",
            "value",
            "oracle_value",
            "attainable_value",
            "cost",
            "measured_lift",
            "lift_ci",
            "true_lift",
            "value_share",
            "attainable_share",
            "n_treated",
            "n_control",
            "control_share",
            "budget",
            "actions",
            "learning",
            "seconds",
            *(("references", "mix", "belief", "learnability") if diagnose else ()),
        )
        out["months"] = [{k: m[k] for k in keys} for m in out["months"]]
        emit_json(out)


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.add_typer(evaluate_app, name="evaluate")
    app.add_typer(uplift_app, name="uplift")
    app.command("simulate")(simulate_cmd)
