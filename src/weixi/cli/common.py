"""Shared CLI plumbing: one-line errors, ``--json`` output, Rich console and progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from weixi.errors import WeixiError, localized
from weixi.i18n import t

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

STATE: dict[str, bool] = {"debug": False}


def guarded(func: F) -> F:
    """Turn a WeixiError (or any error without ``--debug``) into one clear line and exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except WeixiError as exc:
            if STATE["debug"]:
                raise
            err_console.print(
                f"[bold red]{t('Error')}:[/] {escape(localized(exc))}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None
        except Exception as exc:
            if STATE["debug"]:
                raise
            err_console.print(
                f"[bold red]{t('Error')}:[/] {type(exc).__name__}: {exc} "
                f"({t('run with --debug for the traceback')})",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def emit_json(payload: Any) -> None:
    """Print ``payload`` as JSON on stdout (dates and numpy values converted)."""

    def _default(o: Any) -> Any:
        if hasattr(o, "isoformat"):
            return o.isoformat()
        if hasattr(o, "item"):
            return o.item()
        if isinstance(o, set | frozenset | tuple):
            return list(o)
        return str(o)

    sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=_default, indent=2) + "\n")
    sys.stdout.flush()


def progress(transient: bool = True, disable: bool = False) -> Progress:
    """A Rich progress bar on stderr (so ``--json`` output stays clean)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
        disable=disable,
    )
