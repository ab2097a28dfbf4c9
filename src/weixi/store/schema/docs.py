"""The "Analytics store schema" part of docs/data-model.md, rendered from the registry."""

from __future__ import annotations

from weixi.store.schema import SCHEMA_VERSION, STEPS, TABLES


def render_markdown() -> list[str]:
    """Lines of the schema section: the mechanism, every table, the steps, "Adding a table"."""
    lines = [
        "## Analytics store schema (`weixi.store.schema`)",
        "",
        "Every table of the DuckDB file is declared once, in `weixi.store.schema.tables.TABLES`",
        "(name, columns in order with their types, the module that writes it). Steps only write",
        "rows; none creates or alters a table. A store carries its version in `schema_version`",
        "(one row per applied step: `version`, `name`, `applied_at`).",
        "",
        "- **Applied on open.** `weixi.store.analytics.connect` (every writable connection:",
        "  CLI commands, the monthly job, the web app's jobs) calls `schema.ensure`: nothing when",
        "  the file is at the current version, otherwise `schema.upgrade`.",
        "- **`weixi db upgrade`** upgrades both stores: the operational database (Alembic) and",
        "  the analytics store; `--json` reports `operational.revision` and `analytics.version`",
        "  with what the upgrade applied, created and added. It also publishes a fresh",
        "  read-only snapshot for the web app (a snapshot published by an older weixi is only",
        "  read until then; the pages treat a table it lacks as empty).",
        "- **One transaction.** `upgrade` runs the steps newer than the file's version in",
        "  order, then creates every declared table that is missing and adds every declared",
        "  column a table lacks (NULL for existing rows), checks the result against the",
        "  declaration and records the version; any error rolls all of it back.",
        "- **Idempotent.** A second upgrade finds the version current and changes nothing.",
        "- **Refuses a newer file.** A store written by a newer weixi (higher version) is not",
        "  opened for writing.",
        "- **Configuration-dependent columns: none, by design.** The `segments` table is a",
        "  fixed core: the dimensions are the columns `a` … `i` (plus the helper columns of",
        "  `weixi.segment.exprs.SEGMENT_COLUMNS`), and a preset (`weixi.segment.rules`) must",
        "  define rules for every one of them — it chooses the *levels* (values), never the",
        "  columns. Per-dimension results are long tables keyed by `dimension`, `segment`",
        "  (`segment_profiles`, `segment_migration`). A new dimension is a schema change (a",
        "  column and a step), not a preset option, so every store of a version has one layout.",
        "",
        f"Current version: **{SCHEMA_VERSION}**. Steps:",
        "",
        "| version | step |",
        "|---|---|",
    ]
    lines += [f"| {s.version} | {s.name} |" for s in STEPS]
    lines += ["", "Tables:", "", "| table | written by | columns | row |", "|---|---|---|---|"]
    for t in TABLES.values():
        owner = f"`{t.owner}`" if t.owner.startswith("weixi.") else t.owner  # a module, or not
        lines.append(f"| `{t.name}` | {owner} | {len(t.columns)} | {t.doc} |")
    lines += [
        "",
        "### Adding a table",
        "",
        "One change, in `src/weixi/store/schema/`:",
        "",
        '1. `tables.py`: append a `Table(name, _cols("col TYPE, …"), owner, doc)` to `_TABLES`',
        "   (in the section of the domain that writes it).",
        '2. `steps.py`: append `Step(N + 1, "add table <name>")` to `STEPS` (no `apply`: the',
        "   upgrade creates declared tables that are missing).",
        "3. Regenerate this file (`python -m weixi.ingest.schema > docs/data-model.md`).",
        "",
        "The step that writes the table then just `INSERT`s/`DELETE`s: no `CREATE TABLE IF NOT",
        "EXISTS`, no `ADD COLUMN IF NOT EXISTS`, no `table_exists` guard (an empty table always",
        "exists; test for rows when the data decides). Tests get the table from",
        "`weixi.store.analytics.connect` (or `schema.ensure(con)` on a raw DuckDB connection).",
        "",
        "Adding a column: append it to the table's columns in `tables.py` and a `Step` without",
        "`apply`; existing rows get NULL (or the column's `DEFAULT`). Renaming, backfilling or",
        "dropping: a `Step` with an `apply(con)` that does it against the previous layout (it",
        "runs before the declared tables are synced; see `_baseline` for a rename and a",
        "backfill). When branches each added a step, the lead renumbers them in merge order,",
        "like Alembic revisions: versions are consecutive and never reused once released.",
        "",
    ]
    return lines
