"""The ingest docs are generated or checked against the code."""

from __future__ import annotations

from pathlib import Path

from weixi.ingest.mapping import ColumnMap, Mapping
from weixi.ingest.schema import FIELDS, REFERENCE_TABLES, render_markdown
from weixi.ingest.validate import REASONS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_data_model_doc_is_current():
    current = (DOCS / "data-model.md").read_text(encoding="utf-8")
    assert current == render_markdown(), (
        "docs/data-model.md is stale: run `python -m weixi.ingest.schema > docs/data-model.md`"
    )


def test_data_model_doc_lists_every_field_with_its_chinese_term():
    text = render_markdown()
    for f in FIELDS:
        assert f"| `{f.name}` | {f.zh.replace('|', chr(92) + '|')} |" in text
    for table in REFERENCE_TABLES:
        assert f"### `{table}`" in text


def test_import_doc_explains_every_reason_and_mapping_key():
    text = (DOCS / "import.md").read_text(encoding="utf-8")
    missing = [r for r in REASONS if f"`{r}`" not in text]
    assert not missing, f"docs/import.md does not explain reasons {missing}"
    keys = set(Mapping.model_fields) - {"base_dir"} | set(ColumnMap.model_fields)
    missing = [k for k in sorted(keys) if f"`{k}`" not in text]
    assert not missing, f"docs/import.md does not document mapping keys {missing}"


def test_reason_texts_and_cli_texts_have_chinese_translations():
    import re

    from weixi.i18n import t

    cli = (Path(__file__).resolve().parents[2] / "src/weixi/cli/ingest.py").read_text("utf-8")
    texts = set(REASONS.values()) | set(re.findall(r'\bt\(\s*"([^"]+)"', cli))
    texts |= {"File", "Table", "Encoding", "Read", "Loaded", "Quarantined", "Run", "Month"}
    untranslated = sorted(x for x in texts if t(x, "zh-CN") == x)
    assert not untranslated, f"add these to locale/zh_CN/LC_MESSAGES/ingest.po: {untranslated}"


def test_every_number_has_a_range():
    from weixi.ingest.schema import reference_fields

    fields = [*FIELDS, *(f for table in REFERENCE_TABLES for f in reference_fields(table))]
    open_ended = [f.name for f in fields if f.type in ("int", "float") and None in (f.min, f.max)]
    assert not open_ended, f"give these numbers a min and a max in schema.py: {open_ended}"
