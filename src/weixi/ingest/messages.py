"""Import errors as catalog messages: one line, naming the file and row, saying what to do.

An :class:`ImportProblem` keeps its English message id and parameters, so the CLI prints it in
the reader's language (``--lang zh-CN``), ``import_runs.error`` stores the English text plus
the id and parameters (``error_key``), and the web app re-renders it in the viewer's language.
Parameters never hold row contents: errors name files, rows, columns and headers only, so no
personal data reaches stderr, logs or ``import_runs`` (see ``docs/import.md``).

Example:
    >>> p = ImportProblem(EMPTY_FILE, file="a.csv")
    >>> str(p)
    'a.csv: the file is empty (0 bytes); export the month again'
    >>> p.render("zh-CN") != str(p)
    True
"""

from __future__ import annotations

import json
import re

from weixi.errors import IngestError
from weixi.i18n import t

FILE_NOT_FOUND = "{file}: file not found; check the path"
EMPTY_FILE = "{file}: the file is empty (0 bytes); export the month again"
NO_HEADER = "{file}: row 1 must be a header naming the columns, but it is empty"
EXCEL_FILE = (
    "{file}: this is an Excel workbook ({kind}), not CSV; save it as CSV (UTF-8) or Parquet "
    "and import that file"
)
ZIP_FILE = "{file}: this is a ZIP archive, not CSV; unzip it and import the CSV files inside"
COMPRESSED_FILE = (
    "{file}: this file is {kind}-compressed; decompress it (gzip is read directly) and import "
    "the CSV"
)
BINARY_FILE = (
    "{file}: this is not a text file (binary data near byte {offset}); export the month as "
    "CSV or Parquet"
)
GZIP_DAMAGED = "{file}: the gzip data is damaged or truncated; copy or export the file again"
WRONG_ENCODING = (
    "{file}: row {row} is not valid {declared}; the file decodes as {guess} — set "
    "`encoding: {guess}` in the mapping"
)
DECLARED_ENCODING = (
    "{file}: the mapping declares `encoding: {declared}`, but the file is {guess} (see row "
    "{row}) — set `encoding: {guess}` in the mapping"
)
UNKNOWN_ENCODING = (
    "{file}: row {row} is not valid {declared}, and no supported encoding fits; check how the "
    "file was exported and set `encoding:` in the mapping"
)
DUPLICATE_HEADER = (
    "{file}: row 1 names the column {name} twice (columns {first} and {second}); rename or "
    "drop one of them in the export"
)
UNCLOSED_QUOTE = (
    "{file}: row {row}: a quote opened in this row is never closed, so the lines after it would "
    "be swallowed; fix the quoting in the export (or set `quote:` in the mapping)"
)
LOST_LINES = (
    "{file}: {lines} lines hold only {records} records (near row {row}); quoting or line "
    "endings are inconsistent — fix the export"
)
CSV_READER = (
    "{file}: the CSV reader stopped at row {row} ({what}); check the delimiter {delim}, the "
    "quoting and the line endings of the export"
)
SPARK_ENCODING = (
    "{file}: the Spark engine cannot split {declared} text into lines where the file lies; "
    "convert the export to UTF-8 or GB18030, or import a local copy of it"
)
PARQUET_UNREADABLE = "{file}: cannot be read as Parquet ({what}); export the file again"
REQUIRED_MISSING = (
    "{file}: row 1 (the header) lacks the required column {column} — the mapping expects the "
    "source header {source}, but the file (read with delimiter {delim}) has: {headers}"
)
NO_MAPPED_HEADER = (
    "{file}: row 1 has none of the mapped source headers ({expected}); it has {n} fields read "
    "with delimiter {delim} — is row 1 the header, and are `delimiter` and `encoding` right?"
)
NO_FILES = "no input files given; pass the month's CSV or Parquet files"
SHRINK = (
    "{month} ({files}): the import would replace {old} rows with {new} ({pct} fewer, more than the {limit} "
    "allowed by WEIXI_IMPORT_MAX_SHRINK); the month was left as it was — check the files (see "
    "`weixi quarantine {run_id}`); if the month really shrank, import again with --allow-shrink"
)
EMPTY_MONTH = (
    "{month} ({files}): no row can be loaded ({read} read, {quarantined} quarantined{reasons}); the month "
    "was left as it was — see `weixi quarantine {run_id}`; to load an empty month anyway, import "
    "again with --allow-shrink"
)
RECONCILE = (
    "reconciliation failed for {month}: read {read} != loaded {loaded} + quarantined "
    "{quarantined}; nothing was imported"
)
FAILED = "import of {month} failed: {what} ({kind}); run with --debug for the details"

# Short descriptions used as the ``what`` parameter (translated too).
WHAT_INVALID_STATE = "the file is not valid CSV at this row"
WHAT_UNREADABLE = "the reader could not parse it"
WHAT_IO = "the file cannot be read"

MESSAGES: tuple[str, ...] = tuple(
    v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str)
)


class ImportProblem(IngestError):
    """An :class:`IngestError` made of a catalog message id and its parameters.

    ``str()`` is in the current CLI language; :meth:`render` in any; :attr:`key` is the JSON
    stored with a failed run so pages can show it in the viewer's language.
    """

    def __init__(self, msgid: str, **params: object) -> None:
        values = {k: _param(v) for k, v in params.items()}
        self.msgid, self.params = msgid, values
        super().__init__(self.render("en"))
        # WeixiError.__init__ resets ``params`` (it keeps a template's own); keep the catalog's
        self.msgid, self.params = msgid, values

    def render(self, locale: str | None = None) -> str:
        """The message in ``locale`` (default: the CLI's current language)."""
        params = {k: t(v, locale) if k == "what" else v for k, v in self.params.items()}
        return t(self.msgid, locale, **params)

    def __str__(self) -> str:
        return self.render(None)

    @property
    def key(self) -> str:
        """``{"msgid": …, "params": …}`` as JSON."""
        return json.dumps({"msgid": self.msgid, "params": self.params}, ensure_ascii=False)


def render_key(key: str | None, locale: str | None) -> str | None:
    """Re-render a stored ``error_key`` in ``locale`` (None when there is none or it is bad)."""
    if not key:
        return None
    try:
        data = json.loads(key)
        return ImportProblem(data["msgid"], **data["params"]).render(locale)
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _param(value: object) -> str | int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return value


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_DIGITS = re.compile(r"\d{6,}")


def scrub(text: str, limit: int = 160) -> str:
    """First line of a third-party error message with quoted text and long numbers removed.

    Engine messages quote the offending row or value; those may hold personal data.

    >>> scrub('Conversion Error: Could not convert string "张三 13812341234" to INT32\\nLINE 1')
    'Conversion Error: Could not convert string … to INT32'
    """
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    first = _DIGITS.sub("…", _QUOTED.sub("…", first))
    return first[:limit]
