"""The ``weixi`` command line. Each domain module registers its own commands.

Example:
    weixi generate --subscribers 20000 --months 3 --seed 1 --out demo/raw
"""

from __future__ import annotations

import re
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
#: messages are plain English strings: :func:`error_text` translates them)
_GETTEXT_MODULES = ("typer.core", "typer.rich_utils")

#: The parse errors of typer's bundled click and of the pydantic checks typer 0.29 runs on option
#: values, which are built as plain English f-strings: the English text's pattern and the
#: catalog message (``clihelp.po``) that says it. A part named ``detail`` is itself such a text;
#: a text no pattern knows stays English.
_ERRORS = tuple(
    (re.compile(pattern, re.DOTALL), message)
    for pattern, message in (
        (r"Invalid value for (?P<hint>.+?): (?P<detail>.+)", "Invalid value for {hint}: {detail}"),
        (r"Invalid value: (?P<detail>.+)", "Invalid value: {detail}"),
        (
            r"No such option: (?P<name>\S+) \(Possible options: (?P<options>.+)\)",
            "No such option: {name} (Possible options: {options})",
        ),
        (r"No such option: (?P<name>\S+)", "No such option: {name}"),
        (r"Missing argument (?P<name>.+?)\.", "Missing argument {name}."),
        (r"Missing option (?P<name>.+?)\.", "Missing option {name}."),
        (r"Missing parameter: (?P<name>.+)", "Missing parameter: {name}"),
        (r"Option (?P<name>.+?) requires an argument\.", "Option {name} requires a value."),
        (
            r"Option (?P<name>.+?) requires (?P<n>\d+) arguments\.",
            "Option {name} requires {n} values.",
        ),
        (r"Option (?P<name>.+?) does not take a value\.", "Option {name} does not take a value."),
        (r"Argument (?P<name>.+?) takes (?P<n>\d+) values\.", "Argument {name} takes {n} values."),
        (
            r"Got unexpected extra argument(?:\(s\)|s)? \((?P<args>.*)\)",
            "Unexpected extra arguments: {args}",
        ),
        (r"(?P<value>.+?) is not one of (?P<choices>.+?)\.", "{value} is not one of {choices}."),
        (r"File (?P<name>.+?) does not exist\.", "File {name} does not exist."),
        (r"Directory (?P<name>.+?) does not exist\.", "Directory {name} does not exist."),
        (r"Path (?P<name>.+?) does not exist\.", "Path {name} does not exist."),
        (r"(?:File|Directory|Path) (?P<name>.+?) is a file\.", "{name} is a file, not a folder."),
        (
            r"(?:File|Directory|Path) (?P<name>.+?) is a directory\.",
            "{name} is a folder, not a file.",
        ),
        (r"(?:File|Directory|Path) (?P<name>.+?) is not readable\.", "{name} cannot be read."),
        (r"(?:File|Directory|Path) (?P<name>.+?) is not writable\.", "{name} cannot be written."),
        (
            r"Input should be a valid integer, unable to parse string as an integer",
            "Expected a whole number; this text is not one",
        ),
        (r"Input should be a valid integer.*", "Expected a whole number"),
        (
            r"Input should be a valid number, unable to parse string as a number",
            "Expected a number; this text is not one",
        ),
        (r"Input should be a valid number.*", "Expected a number"),
        (r"Input should be a valid boolean.*", "Expected true or false"),
        (r"Input should be greater than or equal to (?P<n>\S+)", "Must be at least {n}"),
        (r"Input should be less than or equal to (?P<n>\S+)", "Must be at most {n}"),
        (r"Input should be greater than (?P<n>\S+)", "Must be more than {n}"),
        (r"Input should be less than (?P<n>\S+)", "Must be less than {n}"),
        (r"Input should be (?P<choices>'.+)", "Must be one of {choices}"),
    )
)


def error_text(text: str, locale: str) -> str:
    """A CLI parse error's English ``text`` in ``locale`` (see ``_ERRORS``).

    >>> error_text("Invalid value for '--months': Input should be greater than or equal to 2", "zh-CN")
    "'--months' 的值无效：至少为 2"
    >>> error_text("Got unexpected extra argument(s) (x y)", "zh-CN")
    '多余的参数：x y'
    """
    loc = normalize_locale(locale)
    if loc == "en":
        return text
    for pattern, message in _ERRORS:
        found = pattern.fullmatch(text.strip())
        if found is None:
            continue
        parts = found.groupdict()
        if "detail" in parts:
            parts["detail"] = error_text(parts["detail"], loc)
        if "choices" in parts:  # 'a', 'b' or 'c'
            parts["choices"] = re.sub(r",? or ", ", ", parts["choices"])
        return t(message, loc, **parts)
    return text


@contextmanager
def typer_texts(locale: str) -> Iterator[None]:
    """typer's own texts in ``locale`` while the block runs, restored after: the panel titles,
    ``[default: …]`` and ``[required]``, the messages typer passes through gettext
    ("Missing command.", "No such command …", "Aborted!"), the usage line's "Usage:" and the
    parse errors of its bundled click (:func:`error_text`)."""
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

    from typer._click.formatting import HelpFormatter

    texts = {k: getattr(rich_utils, k) for k in _TYPER_TEXTS}
    functions = [
        (mod, attr, getattr(mod, attr))
        for mod in map(importlib.import_module, _GETTEXT_MODULES)
        for attr in ("_", "ngettext")
        if hasattr(mod, attr)
    ]
    plain_error, plain_usage = rich_utils.rich_format_error, HelpFormatter.write_usage

    def format_error(exc: Any) -> None:
        text = error_text(exc.format_message(), loc)
        exc.format_message = lambda: text  # what the error panel prints
        plain_error(exc)

    def write_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
        plain_usage(self, prog, args, t("Usage: ", loc) if prefix is None else prefix)

    try:
        for k, en in texts.items():
            setattr(rich_utils, k, t(en, loc))
        for mod, attr, _old in functions:
            setattr(mod, attr, gettext if attr == "_" else ngettext)
        rich_utils.rich_format_error = format_error
        HelpFormatter.write_usage = write_usage
        yield
    finally:
        for k, en in texts.items():
            setattr(rich_utils, k, en)
        for mod, attr, old in functions:
            setattr(mod, attr, old)
        rich_utils.rich_format_error = plain_error
        HelpFormatter.write_usage = plain_usage


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
