"""Bilingual texts (English, Simplified Chinese) from gettext message catalogs.

English is the message id. Chinese translations live in ``weixi/locale/zh_CN/LC_MESSAGES/*.po``,
one catalog file per domain (cli.po, web.po, churn.po, …) so that each domain owns its texts;
all files are merged at load time with Babel's PO reader (no compile step needed).

Example:
    >>> t("Import finished", "zh-CN") != "" and t("Import finished", "en")
    'Import finished'
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = ("en", "zh-CN")
_LOCALE_DIR = Path(__file__).parent / "locale"


def normalize_locale(locale: str | None) -> str:
    """Map 'zh', 'zh_CN', 'zh-Hans' … to 'zh-CN' and anything else to 'en'."""
    if not locale:
        return "en"
    low = locale.replace("_", "-").lower()
    return "zh-CN" if low.startswith("zh") else "en"


@lru_cache(maxsize=4)
def catalog(locale: str) -> dict[str, str]:
    """Return the merged msgid -> msgstr mapping for ``locale`` (empty for English)."""
    if normalize_locale(locale) == "en":
        return {}
    out: dict[str, str] = {}
    folder = _LOCALE_DIR / "zh_CN" / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as fh:
            for msg in read_po(fh):
                if msg.id and msg.string and isinstance(msg.id, str):
                    out[msg.id] = msg.string  # type: ignore[assignment]
    return out


def current_locale() -> str:
    """The CLI's locale: ``WEIXI_LANG``, then ``LANG``; English when unset."""
    return normalize_locale(os.environ.get("WEIXI_LANG") or os.environ.get("LANG", "en"))


def t(message: str, locale: str | None = None, **params: object) -> str:
    """Translate ``message`` into ``locale`` (default: the CLI locale) and format ``params``."""
    loc = normalize_locale(locale) if locale else current_locale()
    text = catalog(loc).get(message, message) if loc != "en" else message
    return text.format(**params) if params else text
