"""Every `weixi …` command that a message, page or doc tells the user to run exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    *sorted((ROOT / "src/weixi").rglob("*.py")),
    *sorted((ROOT / "src/weixi").rglob("*.html")),
    *sorted((ROOT / "src/weixi").rglob("*.po")),
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "README.md",
]
# A hint: `weixi …` in backticks or quotes, after "Example:", ": ", "(", "with", "see", "run",
# or a line of a fenced code block in the docs.
HINT = re.compile(
    r"(?:[`'\"(]|Example: |: |\bwith |\bsee |\bSee |\brun |\bRun |^\$ )"
    r"weixi((?: +[a-z][a-z0-9_-]*)+)",
    re.MULTILINE,
)
CODE_LINE = re.compile(r"^\s*(?:\$ )?weixi((?: +[a-z][a-z0-9_-]*)+)")
# Quoted phrases that start with the product name but are not commands.
PROSE = ("weixi retention", "weixi demo is ready at")


def hints() -> list[tuple[str, str]]:
    """(where, hint) for every command hint in the sources."""
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for m in HINT.finditer(text):
            hint = "weixi" + m.group(1)
            if hint.startswith(PROSE):
                continue
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", hint))
        if path.suffix == ".md":
            fenced = False
            for n, line in enumerate(text.splitlines(), 1):
                if line.lstrip().startswith("```"):
                    fenced = not fenced
                elif fenced and (m := CODE_LINE.match(line)):
                    found.append((f"{path.relative_to(ROOT)}:{n}", "weixi" + m.group(1)))
    return found


def _n_arguments(cmd) -> float:
    n = 0.0
    for p in cmd.params:
        if p.param_type_name == "argument":
            n += float("inf") if p.nargs == -1 else p.nargs
    return n


def check(hint: str, root) -> str | None:
    """Why ``hint`` is not a command of the app, or None when it is."""
    words = hint.split()[1:]
    cmd = root
    for i, word in enumerate(words):
        if hasattr(cmd, "commands"):
            if word not in cmd.commands:
                return f"no command {' '.join(['weixi', *words[: i + 1]])!r}"
            cmd = cmd.commands[word]
            continue
        extra = len(words) - i
        if extra > _n_arguments(cmd):
            return f"{' '.join(['weixi', *words[:i]])!r} takes no argument {word!r}"
        return None
    return None


def test_the_scanner_finds_hints_and_catches_wrong_ones():
    root = typer.main.get_command(_app())
    assert check("weixi import", root) is None
    assert check("weixi churn promote churn-202603-002", root) is None
    assert check("weixi ingest", root) == "no command 'weixi ingest'"
    assert check("weixi segment run", root) == "no command 'weixi segment run'"
    assert check("weixi version now", root) == "'weixi version' takes no argument 'now'"
    assert len(hints()) > 50


def _app() -> typer.Typer:
    from weixi.cli import app

    return app


@pytest.mark.parametrize("where", ["src", "docs"])
def test_every_command_hint_exists(where):
    root = typer.main.get_command(_app())
    wrong = [
        f"{loc}: {hint} — {why}"
        for loc, hint in hints()
        if loc.startswith(where) and (why := check(hint, root))
    ]
    assert not wrong, "command hints that do not exist:\n" + "\n".join(wrong)
