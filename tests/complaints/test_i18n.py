"""Every English text of the complaints, customer-360 and churn-analysis code and templates
has a zh-CN translation."""

import ast
import re
from pathlib import Path

from weixi.complaints.models import CATEGORY_LABELS
from weixi.i18n import catalog

SRC = Path(__file__).resolve().parents[2] / "src" / "weixi"
PY = [
    *sorted((SRC / "complaints").glob("*.py")),
    SRC / "churn" / "analysis.py",
    SRC / "cli" / "complaints.py",
    SRC / "web" / "routes" / "complaints.py",
    SRC / "web" / "routes" / "churn_analysis.py",
]
TEMPLATES = [
    *sorted((SRC / "web" / "templates" / "complaints").glob("*.html")),
    SRC / "web" / "templates" / "churn_analysis.html",
]


def _literals(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            value = node.args[0].value
            if name in ("t", "ComplaintError", "NotFoundError") and isinstance(value, str):
                out.add(value)
    return out


def test_all_texts_are_translated():
    zh = catalog("zh-CN")
    used = {m for f in PY for m in _literals(f)}
    for f in TEMPLATES:
        used |= set(re.findall(r"_\('([^']+)'", f.read_text(encoding="utf-8")))
    used |= set(CATEGORY_LABELS.values())
    from weixi.web.routes.churn_analysis import TITLES

    used |= set(TITLES.values())
    missing = sorted(m for m in used if m not in zh)
    assert not missing, f"add these to locale/zh_CN/LC_MESSAGES/complaints.po: {missing}"
