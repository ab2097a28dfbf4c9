"""CLI commands of the synth domain (thin: parse options, call the service, print)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from weixi.cli.common import console, emit_json, guarded, progress
from weixi.i18n import t


def register(app: typer.Typer) -> None:
    """Attach this domain's commands to the root app."""
    app.command("generate")(generate)
    app.command("generate-experiment")(generate_experiment)


@guarded
def generate(
    subscribers: int = typer.Option(
        20_000, "--subscribers", "-n", min=1, help="Lines in the first month."
    ),
    months: int = typer.Option(1, "--months", "-m", min=1, help="Consecutive months to write."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same operator)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if missing)."),
    start: str = typer.Option("2025-09", "--start", help="First month, YYYY-MM."),
    fmt: str = typer.Option("csv", "--format", help="csv or parquet."),
    encoding: str = typer.Option(
        "utf-8", "--encoding", help="CSV encoding: utf-8, utf-8-sig, gbk or gb18030."
    ),
    daily: int = typer.Option(
        0,
        "--daily",
        min=0,
        max=31,
        help="Also write this many days of daily event feeds (the days after the last month).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Generate a synthetic operator's monthly raw exports plus mapping.yaml.

    Writes subscribers_YYYY-MM.csv (operator-style headers, Chinese values, fen and KB units),
    branches.csv, enterprise_groups.csv, group_contacts.csv, staff.csv and mapping.yaml for `weixi import`.

    With --daily N, also writes events_YYYY-MM-DD.csv for the N days after the last month
    (usage drop, zero-call days, competitor calls, contract expiry, complaints, care events;
    at-risk customers show more warnings; port-outs of 40 % of the mobile lines leaving that
    month) and events_mapping.yaml for `weixi events import`.

    Example: weixi generate --subscribers 20000 --months 3 --seed 1 --out demo/raw --daily 7
    """
    from weixi.synth.generate import SyntheticOperator
    from weixi.synth.raw import write_raw

    with progress(disable=as_json) as bar:
        task = bar.add_task(t("Generating synthetic operator"), total=subscribers * months)
        op = SyntheticOperator(subscribers, seed=seed, start_month=start)
        result = write_raw(
            op,
            out,
            months=months,
            fmt=fmt,
            encoding=encoding,
            on_progress=lambda n: bar.advance(task, n),
        )
        if daily:
            from weixi.store.months import add_months
            from weixi.synth.events import daily_events, write_daily

            snap = op.snapshot()
            risk = op.true_churn_prob().column("p_churn").to_numpy(zero_copy_only=False)
            first = add_months(op.month, 1)
            leaving = op.leaving()  # the lines that leave in the days' month
            result["daily"] = [
                write_daily(
                    daily_events(snap, day, risk=risk, seed=seed, leaving=leaving),
                    out,
                    day,
                    encoding=encoding,
                )
                for day in (first + dt.timedelta(days=i) for i in range(daily))
            ]
    if as_json:
        emit_json(result)
        return
    for m in result["months"]:
        console.print(t("{month}: {rows} rows -> {file}", **m))
    for d in result.get("daily", []):
        console.print(
            t("{month}: {rows} rows -> {file}", month=d["date"], rows=d["rows"], file=d["file"])
        )
    console.print(t("Mapping written to {path}", path=result["mapping"]))


@guarded
def generate_experiment(
    subscribers: int = typer.Option(
        200_000, "--subscribers", "-n", min=100, help="Lines of the synthetic operator."
    ),
    action: str = typer.Option(
        "care_call", "--action", help="The retention action tested (a synthetic operator action)."
    ),
    share: float = typer.Option(
        0.5, "--treated-share", min=0.01, max=0.99, help="Share of the lines offered the action."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same operator)."),
    warmup: int = typer.Option(
        2, "--warmup", min=0, help="Months of history before the experiment's month."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="CSV to write (the truth goes beside it)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Run a randomized experiment of one action on the synthetic operator and write it as CSV.

    A random share of the lines the action applies to is offered it; each answers with its
    hidden take rate and the accepted offers change next month's churn. The CSV holds the lines'
    fields (no personal data), arm (treated/control), accepted and stayed, for
    `weixi uplift fit-eval`; OUT.truth.csv holds each line's true effect, which no real
    experiment shows (for --truth).

    Example: weixi generate-experiment -n 300000 --action handset_upgrade --out exp.csv
    """
    import pyarrow.csv as pacsv

    from weixi.synth.experiment import randomized_experiment

    exp = randomized_experiment(
        subscribers, action=action, treated_share=share, seed=seed, warmup=warmup
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    truth = out.with_name(out.stem + ".truth.csv")
    pacsv.write_csv(exp.table, out)
    pacsv.write_csv(exp.truth, truth)
    summary = {**exp.summary(), "file": str(out), "truth": str(truth)}
    if as_json:
        emit_json(summary)
        return
    console.print(
        t(
            "{month}: {action} offered to {treated} lines, {control} controls; churn "
            "{churn_treated} vs {churn_control}; true average effect {true_ate}",
            **summary,
        )
    )
    console.print(t("Experiment written to {file}, true effects to {truth}", **summary))
