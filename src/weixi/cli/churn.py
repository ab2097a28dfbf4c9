"""CLI commands of the churn domain (thin: parse options, call the service, print)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from weixi.cli.common import console, emit_json, guarded
from weixi.i18n import t

churn_app = typer.Typer(
    help="Churn warning (离网预警): train, score, backtest, report; try the model on any CSV.",
    no_args_is_help=True,
)

_METRICS = ("auc", "pr_auc", "top_decile_lift", "ece", "n_train", "n_test")
_ROWS = ("model", "lightgbm", "lightgbm_default", "baseline_lr")


def _params(path: Path | None):
    from weixi.churn.params import load_params

    return load_params(path)


def _fmt(v: object) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _metric_table(result: dict, rows: tuple[str, ...], title: str) -> Table:
    table = Table(title=title)
    table.add_column(t("model"))
    # with --base-rate: the calibration error before the prior correction beside the one after
    shown = (*_METRICS[:4], "ece_raw", *_METRICS[4:]) if result.get("base_rate") else _METRICS
    for m in shown:
        table.add_column(m, justify="right")
    for name in rows:
        if name in result:
            table.add_row(t(name), *(_fmt(result[name].get(m)) for m in shown))
    return table


ParamsOpt = typer.Option(None, "--params", help="YAML file with churn hyper-parameters.")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
BaseRateOpt = typer.Option(
    None,
    "--base-rate",
    min=0.0001,
    max=0.9999,
    help="Real churn rate of the scored population (e.g. 0.02): probabilities learnt on an "
    "oversampled training set are moved to it (prior correction); ece_raw is before.",
)


def _warn(result: dict) -> None:
    if result.get("warnings"):
        train = result.get("train_rate", result.get("churn_rate", 0.0))
        console.print(
            "[yellow]"
            + t(
                "Warning: the training churn share ({share}) looks oversampled; pass "
                "--base-rate with the real churn rate to calibrate the probabilities to it.",
                share=f"{train:.1%}",
            )
            + "[/yellow]"
        )


@churn_app.command("crossval")
@guarded
def crossval(
    csv: Path = typer.Option(..., "--csv", help="CSV file with one row per customer."),
    target: str = typer.Option(..., "--target", help="Churn column (yes/no, true/false, 1/0)."),
    id_col: str = typer.Option(None, "--id", help="Id column to ignore."),
    drop: list[str] = typer.Option([], "--drop", help="Column to ignore (repeatable)."),
    folds: int = typer.Option(5, "--folds", help="Number of stratified folds."),
    params: Path = ParamsOpt,
    base_rate: float = BaseRateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Cross-validate the churn model and the logistic-regression baseline on any CSV.

    Example: weixi churn crossval --csv telco.csv --target Churn --id customerID --folds 5
    """
    from weixi.churn import tabular

    df = tabular.read_csv(csv)
    result = tabular.crossval(
        df,
        target,
        id_col=id_col,
        drop=list(drop),
        folds=folds,
        params=_params(params),
        base_rate=base_rate,
    )
    if as_json:
        emit_json(result)
        return
    title = t("{k}-fold cross-validation of {file}", k=folds, file=csv.name)
    console.print(_metric_table(result, _ROWS, title))
    _warn(result)


@churn_app.command("fit-eval")
@guarded
def fit_eval(
    train: Path = typer.Option(..., "--train", help="Training CSV."),
    test: Path = typer.Option(..., "--test", help="Test CSV (same columns)."),
    target: str = typer.Option(..., "--target", help="Churn column (yes/no, true/false, 1/0)."),
    id_col: str = typer.Option(None, "--id", help="Id column to ignore."),
    drop: list[str] = typer.Option([], "--drop", help="Column to ignore (repeatable)."),
    params: Path = ParamsOpt,
    base_rate: float = BaseRateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit on one CSV, evaluate on another: the model and the logistic-regression baseline.

    Example: weixi churn fit-eval --train churn-80.csv --test churn-20.csv --target Churn
    """
    from weixi.churn import tabular

    result = tabular.fit_eval(
        tabular.read_csv(train),
        tabular.read_csv(test),
        target,
        id_col=id_col,
        drop=list(drop),
        params=_params(params),
        base_rate=base_rate,
    )
    if as_json:
        emit_json(result)
        return
    title = t("Trained on {train}, tested on {test}", train=train.name, test=test.name)
    console.print(_metric_table(result, _ROWS, title))
    _warn(result)


def _month(text: str):
    from weixi.store.months import parse_month

    return parse_month(text)


@churn_app.command("train")
@guarded
def train_cmd(
    month: str = typer.Option(
        ..., "--month", help="Train with the data known at this month (YYYY-MM)."
    ),
    promote: bool = typer.Option(
        None,
        "--promote/--no-promote",
        help="Make it the active model regardless of the rule (default: only the first model).",
    ),
    challenger: bool = typer.Option(
        False,
        "--challenger",
        help="Register it as a challenger: promoted only when it beats the champion on the "
        "latest out-of-time month (the rule in the churn params' promotion section).",
    ),
    params: Path = ParamsOpt,
    base_rate: float = BaseRateOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Train and register churn models (next month, within 2 and 3 months) as of a month.

    Example: weixi churn train --month 2026-03 --challenger
    """
    from weixi.churn import service
    from weixi.store.analytics import open_store

    if challenger and promote is not None:
        raise typer.BadParameter(t("use --challenger or --promote/--no-promote, not both"))
    with open_store() as con:
        result = service.train(
            con=con,
            month=_month(month),
            params=_params(params),
            promote="challenger" if challenger else promote,
            base_rate=base_rate,
        )
        decision = _decision_text(result)
    if as_json:
        emit_json(result)
        return
    console.print(
        t(
            "Trained {version} on {start}..{end} (active: {active})",
            version=result["version"],
            start=result["window"][0],
            end=result["window"][1],
            active=t("yes") if result["active"] else t("no"),
        )
    )
    for h, why in result["skipped_horizons"].items():
        console.print(t("Horizon {h} skipped: {why}", h=h, why=why))
    console.print(decision)


def _decision_text(record: dict) -> str:
    """'Promoted to champion: …' or 'Kept as challenger: …' in the CLI language."""
    from weixi.churn import champion

    head = (
        t("Promoted to champion") if record["decision"] == "promoted" else t("Kept as challenger")
    )
    return f"{head}: {champion.describe(record)}"


@churn_app.command("score")
@guarded
def score_cmd(
    month: str = typer.Option(..., "--month", help="Month to score (YYYY-MM)."),
    version: str = typer.Option(None, "--version", help="Model version (default: the active one)."),
    engine: str = typer.Option("auto", "--engine", help="auto | lightgbm | lleaves"),
    params: Path = ParamsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Score every live line of a month into churn_scores, with reasons and drift checks.

    Example: weixi churn score --month 2026-03
    """
    from weixi import summaries
    from weixi.churn import service
    from weixi.store.analytics import open_store

    with open_store() as con:
        result = service.score(
            con=con, month=_month(month), version=version, engine=engine, params=_params(params)
        )
        summaries.refresh_after_step(con, _month(month), evaluation=False, changed="churn_scores")
    if as_json:
        emit_json(result)
        return
    console.print(
        t(
            "Scored {n} lines of {month} with {version}; expected churners {e:.0f}",
            n=result["n"],
            month=result["month"],
            version=result["model_version"],
            e=result["expected_churners"],
        )
    )
    console.print(t("Score PSI vs training: {psi:.3f}", psi=result["score_psi"]))
    for w in result["drift_warnings"]:
        console.print(
            t(
                "Drift warning: {feature} in branch {branch}, PSI {psi:.2f}",
                feature=w["feature"],
                branch=w["branch_id"],
                psi=w["psi"],
            )
        )


@churn_app.command("backtest")
@guarded
def backtest_cmd(
    month: str = typer.Option(
        ..., "--month", help="Predict churn of the month after this one (YYYY-MM)."
    ),
    params: Path = ParamsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Time-honest backtest: train on data known at a month, check against the next month.

    Example: weixi churn backtest --month 2026-02
    """
    from weixi.churn import service
    from weixi.store.analytics import open_store

    with open_store(read_only=True) as con:
        result = service.backtest(con=con, month=_month(month), params=_params(params))
    if as_json:
        emit_json(result)
        return
    table = Table(
        title=t("Backtest {month} -> {next}", month=result["month"], next=result["outcome_month"])
    )
    table.add_column(t("model"))
    for m in ("auc", "pr_auc", "top_decile_lift", "ece"):
        table.add_column(m, justify="right")
    for name in ("model", "logistic", "rule_c"):
        table.add_row(
            t(name), *(_fmt(result[name][m]) for m in ("auc", "pr_auc", "top_decile_lift", "ece"))
        )
    console.print(table)


@churn_app.command("report")
@guarded
def report_cmd(
    month: str = typer.Option(..., "--month", help="Month (YYYY-MM)."),
    out: Path = typer.Option(Path("churn-report.html"), "--out", help="HTML file to write."),
    lang: str = typer.Option(None, "--lang", help="en or zh-CN (default: the CLI language)."),
    params: Path = ParamsOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Write a self-contained HTML report: backtest, gains, calibration, branches, drift, reasons.

    Example: weixi churn report --month 2026-02 --out report.html
    """
    from weixi.churn import report
    from weixi.i18n import current_locale
    from weixi.store.analytics import open_store

    with open_store() as con:
        info = report.write_report(
            con=con,
            month=_month(month),
            out=out,
            locale=lang or current_locale(),
            params=_params(params),
        )
    if as_json:
        emit_json(info)
        return
    console.print(t("Report written to {path}", path=str(out)))


@churn_app.command("analysis")
@guarded
def analysis_cmd(
    month: str = typer.Option(..., "--month", help="Month the customers left in (YYYY-MM)."),
    branch: str = typer.Option(None, "--branch", help="One branch only."),
    as_json: bool = JsonOpt,
) -> None:
    """Who left in a month: by segment, branch, tenure, value, reason and destination.

    Example: weixi churn analysis --month 2026-03 --json
    """
    from weixi import flows
    from weixi.complaints import service as complaints
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.web import migrate

    migrate.upgrade()
    with session_scope() as s, open_store() as con:
        complaints.sync_analytics(session=s, con=con)
        out = flows.churn_analysis(con=con, session=s, month=_month(month), branch=branch)
    if as_json:
        emit_json(out)
        return
    console.print(
        t(
            "{month}: {left} of {live} lines left ({rate}), ARPU lost {arpu}",
            month=out["month"],
            left=out["left"],
            live=out["live"],
            rate=f"{(out['churn_rate'] or 0):.2%}",
            arpu=f"{out['arpu_lost']:.0f}",
        )
    )
    for dim, rows in out["by"].items():
        table = Table(title=t(dim))
        for col in ("key", "left", "live", "rate", "arpu_lost"):
            table.add_column(t(col), justify="left" if col == "key" else "right")
        for r in rows:
            table.add_row(*(_fmt(r.get(c)) for c in ("key", "left", "live", "rate", "arpu_lost")))
        console.print(table)


@churn_app.command("promote")
@guarded
def promote_cmd(
    version: str = typer.Argument(..., help="Model version, e.g. churn-202603-001."),
    as_json: bool = JsonOpt,
) -> None:
    """Make a model version the champion by hand, overriding the promotion rule (audited).

    Example: weixi churn promote churn-202603-002
    """
    import getpass

    from weixi.churn import service
    from weixi.security import audit
    from weixi.store.analytics import open_store
    from weixi.store.db import session_scope
    from weixi.web.migrate import upgrade

    user = getpass.getuser()
    upgrade()  # the audit log lives in the operational database
    with open_store() as con, session_scope() as session:
        record = service.promote_manually(con=con, version=version, actor=f"cli:{user}")
        audit.record(
            session=session,
            action="model_promoted",
            username=f"cli:{user}",
            object_type="churn_model",
            object_id=version,
            detail={"previous": record["champion"], "reason": "manual"},
        )
    if as_json:
        emit_json({"active": version, "previous": record["champion"]})
        return
    console.print(t("Active churn model: {version}", version=version))


_FIGURE_ROWS = (
    ("AUC", "auc", "auc_challenger", "auc_champion", "d_auc", "{:.4f}", "{:+.4f}"),
    ("Top-decile lift", "top_decile_lift", "lift_challenger", "lift_champion", "d_lift",
     "{:.2f}", "{:+.2f}"),
)  # fmt: skip


def _side_label(side: dict | None) -> str:
    """Column heading: Champion, Challenger, or Retired (the champion it replaced)."""
    role = side["role"] if side else "challenger"
    return {"champion": t("Champion"), "retired": t("Retired")}.get(role, t("Challenger"))


def _side_by_side(view: dict) -> Table:
    """Champion and challenger in two columns, with the difference and its interval."""
    champ, chall, cmp = view["champion"], view["challenger"], view["comparison"]
    month = cmp.get("eval_month") if cmp else None
    title = t("Champion and challenger")
    if month is not None:
        title += " — " + t("out-of-time month {month}", month=f"{month:%Y-%m}")
    table = Table(title=title)
    table.add_column("")
    for side in (champ, chall):
        label = _side_label(side)
        table.add_column(f"{label}\n{side['version']}" if side else label, justify="right")
    table.add_column(t("Difference (interval)"), justify="right")
    table.add_row(
        t("as_of_month"),
        *(f"{s['as_of_month']:%Y-%m}" if s else "—" for s in (champ, chall)),
        "",
    )
    for label, key, _new, _old, diff, fmt, dfmt in _FIGURE_ROWS:
        cells = [fmt.format(s[key]) if s and s[key] is not None else "—" for s in (champ, chall)]
        spread = "—"
        if cmp and cmp.get(diff) is not None:
            # differences are stored as challenger − champion of the decision
            spread = (
                f"{dfmt.format(cmp[diff])} "
                f"[{dfmt.format(cmp[diff + '_lo'])}, {dfmt.format(cmp[diff + '_hi'])}]"
            )
        table.add_row(t(label), *cells, spread)
    return table


@churn_app.command("models")
@guarded
def models_cmd(as_json: bool = JsonOpt) -> None:
    """Champion and challenger side by side, then every version with its role and decision.

    Example: weixi churn models --json
    """
    from weixi.churn import champion, registry
    from weixi.store.analytics import open_store

    with open_store() as con:
        view = registry.overview(con)
    for m in view["models"]:
        if m["decision"] is not None:
            m["decision"]["reason_text"] = champion.describe(m["decision"])
    if view["comparison"] is not None:
        view["comparison"]["reason_text"] = champion.describe(view["comparison"])
    if as_json:
        emit_json(view)
        return
    if view["champion"] or view["challenger"]:
        console.print(_side_by_side(view))
        if view["comparison"] is not None:
            console.print(_decision_text(view["comparison"]))
    table = Table(title=t("Churn models"))
    for col in ("version", "role", "as_of_month", "window_start", "window_end", "n_train"):
        table.add_column(t(col))
    table.add_column(t("Promotion decision"))
    for r in view["models"]:
        d = r["decision"]
        table.add_row(
            *(_fmt(r[c]) for c in ("version",)),
            t(r["role"]),
            *(_fmt(r[c]) for c in ("as_of_month", "window_start", "window_end", "n_train")),
            champion.short(d["reason"]) if d else "—",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.add_typer(churn_app, name="churn")


@churn_app.command("winback")
@guarded
def winback_cmd(
    month: str = typer.Option(..., "--month", help="List month (YYYY-MM): leavers before it."),
    spec: Path = typer.Option(None, "--spec", help="Win-back YAML (default: the preset)."),
    out: Path = typer.Option(None, "--out", help="Write the masked list as CSV here."),
    dispatch: bool = typer.Option(
        False,
        "--dispatch",
        help="Also dispatch it: treated lines become work-queue tasks, the control stays out.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Win-back list of recently churned high-value customers, with offers and a control group.

    With --dispatch the list becomes a campaign: each treated line is an open task for its
    account manager (else the call center); run it again and nothing is added twice.

    Example: weixi churn winback --month 2026-03 --out winback.csv --dispatch --json
    """
    from weixi.dispatch.winback import dispatch_winback, load_winback, winback_list
    from weixi.security.masking import mask_records
    from weixi.store.analytics import open_store

    if dispatch:
        from weixi.store.db import session_scope
        from weixi.web import migrate

        migrate.upgrade()
        with session_scope() as s, open_store() as con:
            summary = dispatch_winback(
                con=con, session=s, month=_month(month), spec=load_winback(spec)
            )
            df, _ = winback_list(con, _month(month), load_winback(spec))
    else:
        with open_store(read_only=True) as con:
            df, summary = winback_list(con, _month(month), load_winback(spec))
    if out is not None:
        import pandas as pd

        pd.DataFrame(mask_records(df.to_dict("records"))).to_csv(out, index=False)
        summary["file"] = str(out)
    if as_json:
        emit_json(summary)
        return
    console.print(
        t(
            "{lines} win-back lines: {treated} to contact, {control} in the control group",
            lines=summary["lines"],
            treated=summary["treated"],
            control=summary["control"],
        )
    )
    if dispatch:
        console.print(t("{n} win-back tasks created in the work queue", n=summary["tasks_created"]))


@churn_app.command("winback-eval")
@guarded
def winback_eval_cmd(
    month: str = typer.Option(..., "--month", help="Month of the dispatched list (YYYY-MM)."),
    horizon: int | None = typer.Option(
        None, "--horizon", min=1, max=12, help="Won back: a live line again within N months."
    ),
    spec: Path = typer.Option(None, "--spec", help="Win-back YAML (default: the preset)."),
    as_json: bool = JsonOpt,
) -> None:
    """Evaluate a dispatched win-back list against its control group.

    Won back: the customer has a live line again, one not live in the list month, in one of
    the N snapshot months after it (those loaded so far); N defaults to the spec's
    horizon_months (the window the monthly job evaluates it at, 2 in the preset).

    Example: weixi churn winback-eval --month 2026-03 --horizon 2 --json
    """
    from weixi.dispatch.winback import evaluate_winback, load_winback
    from weixi.store.analytics import open_store

    with open_store(read_only=True) as con:
        wb = load_winback(spec)
        out = evaluate_winback(con, _month(month), wb, horizon=horizon or wb.horizon_months)
    if as_json:
        emit_json(out)
        return
    if not out["measured_months"]:
        console.print(
            t("Not measurable yet: no snapshot month after {month} is loaded", month=out["month"])
        )
        return
    console.print(
        t(
            "Won back within {h} months: treated {tr} of {tn}, control {cr} of {cn}; lift {lift}",
            h=out["horizon"],
            tr=out["treated"]["won_back"],
            tn=out["treated"]["n"],
            cr=out["control"]["won_back"],
            cn=out["control"]["n"],
            lift="–" if out["lift"] is None else f"{out['lift']:+.2%}",
        )
    )
