"""The ``weixi`` command line. Each domain module registers its own commands.

Example:
    weixi generate --subscribers 20000 --months 3 --seed 1 --out demo/raw
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
from weixi.i18n import current_locale, normalize_locale, t

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


#: typer's own help texts (panel titles, default and required marks), by module attribute;
#: their values as typer defines them are the English message ids
_TYPER_TEXTS = (
    "ARGUMENTS_PANEL_TITLE",
    "OPTIONS_PANEL_TITLE",
    "COMMANDS_PANEL_TITLE",
    "ERRORS_PANEL_TITLE",
    "DEPRECATED_STRING",
    "DEFAULT_STRING",
    "ENVVAR_STRING",
    "REQUIRED_LONG_STRING",
    "ABORTED_TEXT",
    "RICH_HELP",
)


def command(locale: str | None = None) -> Any:
    """The click command tree of ``app`` with its help texts — each command's description and
    each option's — in ``locale`` (default: the CLI's, ``WEIXI_LANG``), from the catalogs
    (``clihelp.po``); a text without a translation stays English."""
    import typer.main

    loc = normalize_locale(locale) if locale else current_locale()
    cmd = typer.main.get_command(app)
    if loc == "en":
        return cmd

    def tr(text: str | None) -> str | None:
        return t(text, loc) if text else text

    def walk(c: Any) -> None:
        c.help, c.short_help = tr(c.help), tr(c.short_help)
        for p in c.params:
            if getattr(p, "help", None):
                p.help = tr(p.help)
        plain = c.get_help_option

        def help_option(ctx: Any, _plain: Any = plain) -> Any:
            opt = _plain(ctx)
            if opt is not None:
                opt.help = tr(opt.help)
            return opt

        c.get_help_option = help_option
        for sub in (getattr(c, "commands", None) or {}).values():
            walk(sub)

    walk(cmd)
    return cmd


#: typer's modules whose own messages go through gettext (``_``; its bundled click's error
#: messages are plain English strings and stay English)
_GETTEXT_MODULES = ("typer.core", "typer.rich_utils")


@contextmanager
def typer_texts(locale: str) -> Iterator[None]:
    """typer's own texts in ``locale`` while the block runs, restored after: the panel titles,
    ``[default: …]`` and ``[required]``, and the messages typer passes through gettext
    ("Missing command.", "No such command …", "Aborted!")."""
    import importlib

    from typer import rich_utils

    loc = normalize_locale(locale)
    if loc == "en":
        yield
        return

    def gettext(message: str) -> str:
        return t(message, loc)

    def ngettext(singular: str, plural: str, n: int) -> str:
        return t(singular if n == 1 else plural, loc)

    texts = {k: getattr(rich_utils, k) for k in _TYPER_TEXTS}
    functions = [
        (mod, attr, getattr(mod, attr))
        for mod in map(importlib.import_module, _GETTEXT_MODULES)
        for attr in ("_", "ngettext")
        if hasattr(mod, attr)
    ]
    try:
        for k, en in texts.items():
            setattr(rich_utils, k, t(en, loc))
        for mod, attr, _old in functions:
            setattr(mod, attr, gettext if attr == "_" else ngettext)
        yield
    finally:
        for k, en in texts.items():
            setattr(rich_utils, k, en)
        for mod, attr, old in functions:
            setattr(mod, attr, old)


def _argv_locale(argv: list[str]) -> str | None:
    """The ``--lang`` of a command line (the root option), if given."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


def main() -> None:
    """Console-script entry point: help texts in the CLI's language (``--lang``, else
    ``WEIXI_LANG``)."""
    import sys

    loc = normalize_locale(_argv_locale(sys.argv[1:]) or current_locale())
    with typer_texts(loc):
        command(loc)(prog_name="weixi")
