"""Every English text the churn domain passes to t() has a zh-CN translation in churn.po."""

import ast
from pathlib import Path

from weixi.i18n import catalog

SRC = Path(__file__).resolve().parents[2] / "src" / "weixi"
FILES = [*sorted((SRC / "churn").glob("*.py")), SRC / "cli" / "churn.py"]


def _literals(path: Path) -> set[str]:
    """First arguments of ``t(...)`` calls that are string literals (implicit concatenation
    of adjacent literals included, which a regular expression would cut short)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "t"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.add(node.args[0].value)
    return out


def test_all_churn_texts_are_translated():
    zh = catalog("zh-CN")
    used = {m for f in FILES for m in _literals(f)}
    from weixi.churn import reasons

    used |= {m for pair in reasons._CHANGE.values() for m in pair}
    used |= set(reasons.STATUS.values()) | set(reasons._USAGE_NAMES.values())
    from weixi.cli.churn import _FIGURE_ROWS

    used |= {"champion", "challenger", "retired", "model_promoted"}  # roles, audit action
    used |= {"Champion", "Challenger", "Retired"}  # headings picked by role
    used |= {row[0] for row in _FIGURE_ROWS}
    missing = sorted(m for m in used if m not in zh)
    assert not missing, missing
