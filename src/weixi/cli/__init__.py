"""The ``weixi`` command line. Each domain module registers its own commands.

Example:
    weixi generate --subscribers 20000 --months 3 --seed 1 --out demo/raw
"""

from __future__ import annotations

import typer

from weixi import __version__
from weixi.cli import (
    bench,
    churn,
    common,
    complaints,
    demo,
    dispatch,
    evaluate,
    events,
    ingest,
    security,
    segment,
    strategy,
    synth,
    vip,
    web,
)
from weixi.i18n import t

app = typer.Typer(
    name="weixi",
    help="weixi (维系): tiered customer retention for telecom operators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    lang: str = typer.Option(
        None, "--lang", help="Output language: en or zh-CN (default: WEIXI_LANG)."
    ),
) -> None:
    """weixi (维系): tiered customer retention for telecom operators."""
    import os

    common.STATE["debug"] = debug
    if lang:
        os.environ["WEIXI_LANG"] = lang


@app.command("version")
def version() -> None:
    """Print the weixi version.

    Example: weixi version
    """
    typer.echo(f"weixi {__version__} — {t('tiered customer retention')}")


for _module in (
    synth,
    ingest,
    segment,
    churn,
    complaints,
    strategy,
    dispatch,
    evaluate,
    events,
    vip,
    web,
    security,
    demo,
    bench,
):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
