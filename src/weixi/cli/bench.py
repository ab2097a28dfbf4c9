"""``weixi bench``: one synthetic province through the whole monthly cycle, timed per step."""

from __future__ import annotations

from pathlib import Path

import typer

from weixi.cli.common import console, emit_json, err_console, guarded
from weixi.i18n import t


def register(app: typer.Typer) -> None:
    """Attach ``bench`` to the root app."""
    app.command("bench")(bench)


@guarded
def bench(
    subscribers: int = typer.Option(
        1_000_000, "--subscribers", "-n", min=1000, help="Lines of the synthetic province."
    ),
    months: int = typer.Option(
        2, "--months", min=2, help="Months run (the last is timed; earlier ones give labels)."
    ),
    seed: int = typer.Option(1, "--seed", help="Random seed of the synthetic operator."),
    input_format: str = typer.Option(
        "csv", "--input", help="Import from the operator's CSV export or from Parquet."
    ),
    cache_dir: Path = typer.Option(
        None, "--cache-dir", help="Where the generated input is kept (default: <home>/bench-cache)."
    ),
    work_dir: Path = typer.Option(
        None, "--work-dir", help="Keep the benchmark's stores here (default: a temporary folder)."
    ),
    anchors: bool = typer.Option(
        True, "--anchors/--no-anchors", help="Also time the Parquet scan, DuckDB load and pandas."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run the whole monthly cycle on a synthetic province and time every step.

    Generates the input once (cached as the operator's CSV export and as Parquet), imports the
    earlier months untimed, then times the last month: import, segmentation, churn training
    and scoring, uplift, planning (matching, allocation, lists, tasks), an outcome file of
    10 % of the tasks and the evaluation. Also times a plain Parquet scan, DuckDB's plain CSV
    load and a naive pandas pipeline on the same input, and the peak memory of the process tree.

    Example: weixi bench --subscribers 1000000 --json
    """
    from weixi import benchmark
    from weixi.config import get_settings

    cache = cache_dir or (get_settings().home / "bench-cache")
    result = benchmark.run(
        subscribers=subscribers,
        months=months,
        seed=seed,
        input_format=input_format,
        cache_dir=cache,
        work_dir=work_dir,
        anchors=anchors,
        on_step=None if json_out else lambda msg: err_console.print(f"[cyan]→[/] {msg}"),
    )
    if json_out:
        emit_json(result)
        return
    console.print(t("{n} lines, whole cycle {s} s", n=subscribers, s=result["total_s"]))
    for name, secs in result["steps"].items():
        console.print(f"  {t(name)}: {secs:.1f} s")
    console.print(t("Peak memory: {g} GiB", g=result["peak_rss_gib"]))
    for key in ("import_floor_s", "parquet_floor_s", "pandas_s", "pandas_ratio"):
        if key in result:
            console.print(f"  {key}: {result[key]}")
