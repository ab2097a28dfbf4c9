"""Every English text the churn domain passes to t() has a zh-CN translation in churn.po."""

import re
from pathlib import Path

from weixi.i18n import catalog

SRC = Path(__file__).resolve().parents[2] / "src" / "weixi"
FILES = [*sorted((SRC / "churn").glob("*.py")), SRC / "cli" / "churn.py"]
LITERAL = re.compile(r"\bt\(\s*\"([^\"]+)\"")


def test_all_churn_texts_are_translated():
    zh = catalog("zh-CN")
    used = {m for f in FILES for m in LITERAL.findall(f.read_text(encoding="utf-8"))}
    from weixi.churn import reasons

    used |= {m for pair in reasons._CHANGE.values() for m in pair}
    used |= set(reasons.STATUS.values()) | set(reasons._USAGE_NAMES.values())
    missing = sorted(m for m in used if m not in zh)
    assert not missing, missing
