"""The Chinese catalogs are merged into one mapping, so a message may have one translation only."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

import weixi
from weixi.i18n import catalog, t

FOLDER = Path(weixi.__file__).parent / "locale" / "zh_CN" / "LC_MESSAGES"


def test_no_message_is_translated_two_ways():
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for po in sorted(FOLDER.glob("*.po")):
        with po.open("rb") as fh:
            for m in read_po(fh):
                if not (m.id and m.string and isinstance(m.id, str)):
                    continue
                if m.id in seen and seen[m.id][1] != m.string:
                    clashes.append(f"{m.id!r}: {seen[m.id]} vs {(po.name, m.string)}")
                seen.setdefault(m.id, (po.name, m.string))
    assert not clashes, "\n".join(clashes)
    assert len(catalog("zh-CN")) == len(seen)


def test_words_that_meant_two_things():
    # an enterprise group (集团) is not a segment group, a leaver is not a member leaving a tier
    assert t("Enterprise group", "zh-CN") == "集团"
    assert t("Enterprise group detail", "zh-CN") == "集团客户详情"
    assert t("Leavers", "zh-CN") == "流失用户"
    assert t("Open", "zh-CN") == t("open", "zh-CN") == "待处理"
