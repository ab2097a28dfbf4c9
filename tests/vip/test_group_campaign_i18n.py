"""Every English text of the group campaign (CLI, group view, group task card) and every
reason and outcome label has a zh-CN translation."""

import ast
import re
from pathlib import Path

from weixi.i18n import catalog
from weixi.vip import campaign
from weixi.vip.params import load_params

SRC = Path(__file__).resolve().parents[2] / "src" / "weixi"
TEMPLATES = [
    SRC / "web/templates/vip/group.html",
    SRC / "web/templates/vip/groups.html",
    SRC / "web/templates/work/queue.html",
]


def _t_literals(path: Path) -> set[str]:
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


def test_group_campaign_texts_are_translated():
    zh = catalog("zh-CN")
    used = _t_literals(SRC / "cli/vip.py") | _t_literals(SRC / "vip/campaign.py")
    for f in TEMPLATES:
        used |= set(re.findall(r"_\('([^']+)'", f.read_text(encoding="utf-8")))
    used.add("Group retention")  # the group task's action label (web.labels)
    missing = sorted(m for m in used if m not in zh)
    assert not missing, missing


def test_reason_and_outcome_labels_are_bilingual():
    p = load_params().group_campaign
    assert set(p.reasons) == {"alert", "top_risk", "high_risk"}
    for lab in p.reasons.values():
        assert lab.en and re.search(r"[\u4e00-\u9fff]", lab.zh)
    for en, zh in campaign.OUTCOME_TEXT.values():
        assert en and re.search(r"[\u4e00-\u9fff]", zh)
