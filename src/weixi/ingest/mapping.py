"""The mapping file: how an operator's export becomes the canonical snapshot.

A mapping is YAML, validated by pydantic models (never passed around as a raw dict)::

    version: 1
    encoding: gb18030        # utf-8 | utf-8-sig | gbk | gb18030 | utf-16; auto when omitted
    delimiter: "|"           # auto-detected from the header when omitted
    date_format: "%Y%m%d"    # default; each column may override it
    true_values: [是, Y, y, 1, true, TRUE]
    false_values: [否, N, n, 0, false, FALSE]
    columns:                 # canonical name: how to get it from the file
      subscriber_id: {source: YHBS}
      arpu: {source: ARPU_FEN, scale: 0.01}
      line_type: {source: 业务类型, values: {移动: mobile, 宽带: broadband}}
    reference:               # optional: branches, enterprise_groups, group_contacts, staff
      branches: {file: branches.csv, columns: {branch_id: {source: DSBM}}}

The YAML is read with every scalar as text (so ``Y``, ``1`` and ``true`` stay the strings
the operator's file contains) and pydantic converts numbers where the model asks for them.

Example:
    >>> m = Mapping.model_validate({"columns": {
    ...     "subscriber_id": {"source": "ID"}, "branch_id": {"source": "DS"},
    ...     "line_type": {"source": "LX"}, "status": {"source": "ZT"},
    ...     "activation_date": {"source": "RW"}, "arpu": {"source": "ARPU", "scale": "0.01"}}})
    >>> m.columns["arpu"].scale
    0.01
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from weixi.errors import ConfigError
from weixi.ingest import schema

DEFAULT_TRUE = ("是", "Y", "y", "1", "true", "TRUE", "True")
DEFAULT_FALSE = ("否", "N", "n", "0", "false", "FALSE", "False")
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb2312", "gb18030", "utf-16", "latin-1")


def _norm_encoding(value: str | None) -> str | None:
    if value is None or value.strip() in ("", "~", "null", "auto"):
        return None
    low = value.strip().lower().replace("_", "-")
    low = {"utf8": "utf-8", "utf8-sig": "utf-8-sig", "cp936": "gbk", "latin1": "latin-1"}.get(
        low, low
    )
    if low not in ENCODINGS:
        raise ValueError(f"unsupported encoding {value!r}; use one of {', '.join(ENCODINGS)}")
    return low


def _check_delimiter(value: str | None) -> str | None:
    if value is None or value in ("", "~", "null", "auto"):
        return None
    value = {"\\t": "\t", "tab": "\t"}.get(value, value)
    if len(value) != 1 or value in '\r\n"':
        raise ValueError(f"delimiter must be one character (not a quote or newline), got {value!r}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnMap(_Model):
    """How one canonical column is read: source header, unit scale, value map, date format."""

    source: str = Field(min_length=1, description="Header of the column in the operator's file")
    type: Literal["str", "int", "float", "bool", "date"] | None = None
    scale: float | None = Field(default=None, description="Multiply numbers by this (fen→yuan)")
    values: dict[str, str] = Field(default_factory=dict, description="raw value → canonical")
    date_format: str | None = None
    true_values: tuple[str, ...] | None = None
    false_values: tuple[str, ...] | None = None

    @field_validator("source")
    @classmethod
    def _strip_source(cls, v: str) -> str:
        return v.strip()

    @field_validator("values", mode="before")
    @classmethod
    def _strip_keys(cls, v: object) -> object:
        if isinstance(v, dict):
            return {
                str(k).strip(): ("" if val is None else str(val).strip()) for k, val in v.items()
            }
        return v

    @field_validator("scale")
    @classmethod
    def _scale_positive(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:
            raise ValueError("scale must be a positive number such as 0.01 (fen → yuan)")
        return v


class ReferenceMap(_Model):
    """One reference table file (branches, enterprise_groups, group_contacts, staff)."""

    file: str = Field(min_length=1)
    encoding: str | None = None
    delimiter: str | None = None
    columns: dict[str, ColumnMap]

    @field_validator("encoding")
    @classmethod
    def _enc(cls, v: str | None) -> str | None:
        return _norm_encoding(v)

    @field_validator("delimiter")
    @classmethod
    def _delim(cls, v: str | None) -> str | None:
        return _check_delimiter(v)


class Mapping(_Model):
    """A whole mapping file (see the module docstring for the format)."""

    version: int = 1
    encoding: str | None = None
    delimiter: str | None = None
    quote: str = '"'
    date_format: str = "%Y%m%d"
    true_values: tuple[str, ...] = DEFAULT_TRUE
    false_values: tuple[str, ...] = DEFAULT_FALSE
    columns: dict[str, ColumnMap]
    reference: dict[
        Literal["branches", "enterprise_groups", "group_contacts", "staff"], ReferenceMap
    ] = Field(default_factory=dict)
    _base_dir: Path | None = PrivateAttr(default=None)  # the mapping file's folder

    @field_validator("encoding")
    @classmethod
    def _enc(cls, v: str | None) -> str | None:
        return _norm_encoding(v)

    @field_validator("delimiter")
    @classmethod
    def _delim(cls, v: str | None) -> str | None:
        return _check_delimiter(v)

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != 1:
            raise ValueError(f"unsupported mapping version {v}; this weixi reads version 1")
        return v

    @model_validator(mode="after")
    def _check_columns(self) -> Mapping:
        unknown = sorted(set(self.columns) - set(schema.BY_NAME))
        if unknown:
            raise ValueError(
                f"unknown canonical column(s) {unknown}; see docs/data-model.md for the names"
            )
        missing = [name for name in schema.REQUIRED if name not in self.columns]
        if missing:
            raise ValueError(f"required column(s) {missing} have no mapping entry (source: …)")
        _check_types(self.columns, {f.name: f for f in schema.FIELDS}, "columns")
        overlap = set(self.true_values) & set(self.false_values)
        if overlap:
            raise ValueError(f"values {sorted(overlap)} are in both true_values and false_values")
        for table, ref in self.reference.items():
            fields = {f.name: f for f in schema.reference_fields(table)}
            unknown = sorted(set(ref.columns) - set(fields))
            if unknown:
                raise ValueError(
                    f"reference.{table}: unknown column(s) {unknown}; expected {sorted(fields)}"
                )
            key = schema.reference_fields(table)[0].name
            if key not in ref.columns:
                raise ValueError(f"reference.{table}: the key column {key!r} has no mapping entry")
            _check_types(ref.columns, fields, f"reference.{table}.columns")
        return self

    def true_for(self, col: ColumnMap) -> tuple[str, ...]:
        """Raw texts read as TRUE for ``col`` (its own list, else the file-wide one)."""
        return col.true_values if col.true_values is not None else self.true_values

    def false_for(self, col: ColumnMap) -> tuple[str, ...]:
        """Raw texts read as FALSE for ``col``."""
        return col.false_values if col.false_values is not None else self.false_values

    def digest(self) -> str:
        """A stable hash of the mapping's content (stored with each import run)."""
        text = self.model_dump_json()
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def reference_path(self, table: str) -> Path:
        """Resolve a reference file relative to the mapping file's folder."""
        path = Path(self.reference[table].file)
        if not path.is_absolute() and self._base_dir is not None:
            path = self._base_dir / path
        return path


def _check_types(columns: dict[str, ColumnMap], fields: dict, where: str) -> None:
    for name, col in columns.items():
        if col.type is not None and col.type != fields[name].type:
            raise ValueError(
                f"{where}.{name}: type {col.type!r} contradicts the data model "
                f"({fields[name].type!r}); drop `type` or fix it"
            )
        if col.scale is not None and fields[name].type not in ("int", "float"):
            raise ValueError(f"{where}.{name}: scale only applies to numbers")
        if col.date_format is not None and fields[name].type != "date":
            raise ValueError(f"{where}.{name}: date_format only applies to dates")


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def parse_mapping(text: str, *, base_dir: Path | None = None, origin: str = "mapping") -> Mapping:
    """Parse mapping YAML text into a validated :class:`Mapping` (raises ConfigError).

    >>> parse_mapping("columns: {}")
    Traceback (most recent call last):
    ...
    weixi.errors.ConfigError: mapping is invalid: required column(s) ['subscriber_id', 'branch_id', 'line_type', 'status', 'activation_date', 'arpu'] have no mapping entry (source: …)
    """
    try:
        # BaseLoader keeps every scalar as a string: "Y", "1", "true" stay raw texts.
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(
            "{origin} is not valid YAML: {error}", origin=origin, error=str(exc)
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            "{origin} must be a YAML mapping with a `columns:` section", origin=origin
        )
    try:
        model = Mapping.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            "{origin} is invalid: {errors}", origin=origin, errors=_format_errors(exc)
        ) from exc
    model._base_dir = base_dir
    return model


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate a mapping YAML file; reference files resolve next to it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("mapping file not found: {path}", path=path) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "mapping file {path} must be UTF-8: {error}", path=path, error=str(exc)
        ) from exc
    return parse_mapping(text, base_dir=path.resolve().parent, origin=f"mapping {path}")
