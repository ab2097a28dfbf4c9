"""The canonical monthly subscriber snapshot: every field weixi understands.

One row per subscriber (line) per month. Operators' exports are renamed and converted to
these fields by a mapping file (see ``weixi.ingest.mapping``). ``docs/data-model.md`` is
generated from this table and tested to stay in sync.

Types are DuckDB/Arrow logical types: ``str``, ``int``, ``float``, ``bool``, ``date``.
Money is yuan (元), data volume megabytes (MB), speed Mbit/s, durations as stated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LINE_TYPES = ("mobile", "broadband", "data_card", "iot", "payphone", "fixed")
STATUSES = ("active", "suspended", "arrears_stopped", "cancelling", "cancelled")
PAYMENT_TYPES = ("personal", "corporate")  # corporate = 对公托收
CONTRACT_TYPES = (
    "none",
    "handset_subsidy",
    "prepaid_credit",
    "package_prepay",
    "deposit_bonus",
    "broadband_annual",
)
HANDSET_GENERATIONS = ("2g", "3g", "4g", "5g")
VIP_LEVELS = ("none", "silver", "gold", "diamond")
CREDIT_LISTS = ("none", "red", "grey", "black")


@dataclass(frozen=True)
class Field:
    """One canonical column."""

    name: str
    type: str  # str | int | float | bool | date
    zh: str  # the seeds' term
    meaning: str
    unit: str = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    pii: bool = False  # masked unless the role needs it
    identifier: bool = False  # an id: no spaces, quotes or control characters
    default: object = None  # value used when an optional column is absent from the file
    tags: tuple[str, ...] = field(default_factory=tuple)


FIELDS: tuple[Field, ...] = (
    # identity and organisation
    Field(
        "subscriber_id",
        "str",
        "用户标识",
        "Line (subscription) id, unique per month",
        required=True,
        identifier=True,
    ),
    Field(
        "customer_id",
        "str",
        "客户标识",
        "Customer / household id; a converged household shares it",
        identifier=True,
    ),
    Field("account_id", "str", "账户标识", "Billing account id", identifier=True),
    Field(
        "phone",
        "str",
        "手机号码/业务号码",
        "Service number (MSISDN or broadband account)",
        pii=True,
    ),
    Field("name", "str", "客户姓名", "Customer name", pii=True),
    Field("id_number", "str", "证件号码", "Identity document number", pii=True),
    Field(
        "branch_id",
        "str",
        "地市",
        "City branch (地市分公司) the line belongs to",
        required=True,
        identifier=True,
    ),
    Field("district", "str", "区县", "District / county inside the branch"),
    Field("line_type", "str", "业务类型", "Kind of line", required=True, choices=LINE_TYPES),
    Field("status", "str", "用户状态", "Line status at month end", required=True, choices=STATUSES),
    # exclusion flags
    Field(
        "is_free_account", "bool", "公免", "Free / internal (staff, test) account", default=False
    ),
    Field(
        "is_public_paid", "bool", "公纳", "Public-paid line (paid by a public body)", default=False
    ),
    Field("is_dedicated_line", "bool", "专线", "Broadband dedicated line (专线)", default=False),
    Field("do_not_disturb", "bool", "免打扰", "Customer asked not to be contacted", default=False),
    Field(
        "credit_list",
        "str",
        "红黑名单",
        "Credit list from payment history",
        choices=CREDIT_LISTS,
        default="none",
    ),
    # payment
    Field(
        "payment_type",
        "str",
        "付费方式",
        "Personal or corporate collection (对公托收)",
        choices=PAYMENT_TYPES,
        default="personal",
    ),
    Field(
        "group_payment_amount",
        "float",
        "集团统付金额",
        "Monthly amount paid by the enterprise group",
        unit="yuan/month",
        min=0,
        max=100_000,
        default=0.0,
    ),
    # dates
    Field("activation_date", "date", "入网时间", "Date the line joined the network", required=True),
    Field(
        "contract_type",
        "str",
        "合约类型",
        "Binding contract kind",
        choices=CONTRACT_TYPES,
        default="none",
    ),
    Field("contract_start", "date", "合约开始时间", "Contract start date"),
    Field("contract_end", "date", "合约到期时间", "Contract end date (binding ends)"),
    # package
    Field("package_name", "str", "套餐名称", "Tariff package"),
    Field(
        "package_fee",
        "float",
        "套餐月费",
        "Package monthly fee",
        unit="yuan/month",
        min=0,
        max=100_000,
    ),
    Field(
        "is_converged",
        "bool",
        "融合套餐",
        "Converged multi-service package (mobile + broadband …)",
        default=False,
    ),
    # usage and value
    Field(
        "arpu",
        "float",
        "ARPU/月出账收入",
        "Billed revenue of the month",
        unit="yuan/month",
        required=True,
        min=0,
        max=100000,
    ),
    Field(
        "voice_minutes",
        "float",
        "通话分钟数",
        "Outgoing + incoming billed voice minutes",
        unit="min/month",
        min=0,
        max=100_000,
        default=0.0,
    ),
    Field(
        "sms_mms_spend",
        "float",
        "短彩信费用",
        "SMS / MMS spend",
        unit="yuan/month",
        min=0,
        max=100_000,
        default=0.0,
    ),
    Field(
        "vas_spend",
        "float",
        "增值业务费用",
        "Value-added services spend (ring-back, content …)",
        unit="yuan/month",
        min=0,
        max=100_000,
        default=0.0,
    ),
    Field(
        "data_mb",
        "float",
        "流量",
        "Mobile data volume",
        unit="MB/month",
        min=0,
        max=100_000_000,
        default=0.0,
    ),
    Field(
        "zero_call_days",
        "int",
        "零通话天数",
        "Days in the month with no call",
        unit="days",
        min=0,
        max=31,
        default=0,
    ),
    # broadband
    Field(
        "bb_speed_mbps",
        "float",
        "宽带速率",
        "Broadband access speed",
        unit="Mbit/s",
        min=0,
        max=100_000,
    ),
    Field(
        "bb_online_hours",
        "float",
        "上网时长",
        "Broadband online duration",
        unit="hours/month",
        min=0,
        max=100_000,
    ),
    Field("has_iptv", "bool", "ITV", "Has an IPTV / ITV service", default=False),
    Field(
        "has_mobile_line",
        "bool",
        "手机加装",
        "Household also has a mobile line with us (broadband G dimension)",
    ),
    # handset
    Field("handset_model", "str", "终端型号", "Handset model"),
    Field(
        "handset_generation",
        "str",
        "终端制式",
        "Network generation of the handset",
        choices=HANDSET_GENERATIONS,
    ),
    Field("handset_smart", "bool", "智能机", "Smart handset"),
    Field(
        "handset_first_use_date",
        "date",
        "终端首次入网时间",
        "Date the handset was first seen on the network",
    ),
    # value programmes
    Field("vip_level", "str", "VIP等级", "VIP tier on file", choices=VIP_LEVELS, default="none"),
    Field(
        "annual_spend",
        "float",
        "年消费",
        "Spend over the last 12 months",
        unit="yuan/year",
        min=0,
        max=1_200_000,
    ),
    Field(
        "snapshot_midhigh",
        "bool",
        "拍照中高端",
        "On the frozen snapshot list of mid/high-end customers",
        default=False,
    ),
    Field(
        "group_id", "str", "集团编码", "Enterprise group the line is a member of", identifier=True
    ),
    # signals
    Field(
        "complaints",
        "int",
        "投诉次数",
        "Complaints received this month",
        min=0,
        max=1_000,
        default=0,
    ),
    Field(
        "competitor_contacts",
        "int",
        "竞争对手接触",
        "Calls to competitors' customer-service numbers this month",
        min=0,
        max=10_000,
        default=0,
    ),
    Field(
        "dual_competitor",
        "bool",
        "异网双卡",
        "Also uses a competitor's line (dual user)",
        default=False,
    ),
    Field(
        "satisfaction_score",
        "float",
        "满意度得分",
        "Latest satisfaction survey score",
        unit="0-100",
        min=0,
        max=100,
    ),
    Field(
        "complaints_3m",
        "int",
        "近3月投诉次数",
        "Complaints received in the last 3 months, this month included",
        min=0,
        max=3_000,
    ),
    Field(
        "dropped_call_rate",
        "float",
        "掉话率",
        "Dropped calls / calls this month (empty when the line made no call)",
        unit="%",
        min=0,
        max=100,
    ),
    Field(
        "weak_coverage_share",
        "float",
        "弱覆盖流量占比",
        "Share of this month's data traffic carried under weak coverage",
        unit="%",
        min=0,
        max=100,
    ),
    Field(
        "nps_score",
        "int",
        "NPS推荐意愿得分",
        "Latest NPS survey answer: likelihood to recommend us (0 = never, 10 = certainly)",
        unit="0-10",
        min=0,
        max=10,
    ),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
REQUIRED: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
PII_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.pii)

DUCKDB_TYPES = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
}


# Reference tables (loaded alongside the months; see docs/data-model.md).
REFERENCE_TABLES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "branches": (
        ("branch_id", "str", "地市编码"),
        ("name_en", "str", "English name"),
        ("name_zh", "str", "地市名称"),
    ),
    "enterprise_groups": (
        ("group_id", "str", "集团编码"),
        ("name", "str", "集团名称"),
        ("branch_id", "str", "地市"),
        ("handset_count", "int", "集团手机数"),
        ("industry", "str", "行业"),
        ("is_top500_taxpayer", "bool", "纳税500强"),
        ("annual_spend", "float", "集团年消费"),
    ),
    "group_contacts": (
        ("subscriber_id", "str", "联系人用户标识"),
        ("group_id", "str", "集团编码"),
        ("role", "str", "联系人角色"),
    ),
    "staff": (
        ("staff_id", "str", "工号"),
        ("name", "str", "姓名"),
        ("branch_id", "str", "地市"),
        ("channel", "str", "渠道"),
    ),
}

# Upper bounds of reference-table numbers (all numbers are >= 0).
REFERENCE_MAX: dict[tuple[str, str], float] = {
    ("enterprise_groups", "handset_count"): 10_000_000,
    ("enterprise_groups", "annual_spend"): 10_000_000_000,
}
# Reference-table columns that are ids (checked like the snapshot's identifiers).
REFERENCE_IDS = {"branch_id", "group_id", "staff_id", "subscriber_id"}

# Choices of reference-table columns (validated on import like the snapshot's choices).
STAFF_CHANNELS = ("account_manager", "call_center", "store")
# Key persons of an enterprise group (集团关键人/联系人): decision maker, day-to-day contact, finance.
CONTACT_ROLES = ("decision_maker", "contact", "finance")
REFERENCE_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("staff", "channel"): STAFF_CHANNELS,
    ("group_contacts", "role"): CONTACT_ROLES,
}


def reference_fields(table: str) -> tuple[Field, ...]:
    """Return the columns of reference ``table`` as :class:`Field` (the first one is the key)."""
    cols = REFERENCE_TABLES[table]
    return tuple(
        Field(
            name,
            typ,
            zh,
            zh,
            required=i == 0,
            choices=REFERENCE_CHOICES.get((table, name), ()),
            min=0 if typ in ("int", "float") else None,
            max=REFERENCE_MAX.get((table, name)),
            identifier=name in REFERENCE_IDS,
        )
        for i, (name, typ, zh) in enumerate(cols)
    )


def _md(text: object) -> str:
    return str(text).replace("|", "\\|")


def render_markdown() -> str:
    """Render ``docs/data-model.md`` from :data:`FIELDS` and :data:`REFERENCE_TABLES`.

    >>> render_markdown().startswith("# Data model")
    True
    """
    lines = [
        "# Data model",
        "",
        "Generated from `weixi.ingest.schema` by `render_markdown()` (regenerate with",
        "`python -m weixi.ingest.schema > docs/data-model.md`); `tests/ingest/test_docs.py`",
        "fails when this file is out of date.",
        "",
        "## Monthly snapshot (`snapshot`)",
        "",
        "One row per subscriber (line) per month, keyed by `(month, subscriber_id)`; `month` is",
        "the DATE of the month's first day. Money is yuan (元), data volume MB, speed Mbit/s.",
        "An optional column that is absent from the operator's file takes its default.",
        "Next month's churn label is derived from the next snapshot (`weixi.store.months`):",
        "a line churns when it is gone or `cancelled` in month + 1.",
        "",
        "| field | 中文 (seed term) | meaning | unit | type | required | choices / range | default |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in FIELDS:
        rng = ", ".join(f"`{c}`" for c in f.choices)
        if f.min is not None or f.max is not None:
            lo = "" if f.min is None else f"{f.min:g}"
            hi = "" if f.max is None else f"{f.max:g}"
            rng = f"{lo} … {hi}"
        meaning = f.meaning + (" (personal data, masked by role)" if f.pii else "")
        default = "" if f.default is None else f"`{f.default}`"
        lines.append(
            f"| `{f.name}` | {_md(f.zh)} | {_md(meaning)} | {_md(f.unit)} | {f.type} | "
            f"{'yes' if f.required else ''} | {rng} | {default} |"
        )
    lines += [
        "",
        "Cross-field checks on import: `contract_end` ≥ `contract_start`; `activation_date` and",
        "`handset_first_use_date` not after the month's last day; `subscriber_id` unique in the",
        "month. See `docs/import.md` for every check and its reason code.",
        "",
        "## Reference tables",
        "",
        "Replaced as a whole when an import's mapping has a `reference` section. The first",
        "column is the key (required, unique).",
    ]
    for table in REFERENCE_TABLES:
        lines += [
            "",
            f"### `{table}`",
            "",
            "| column | 中文 | type | choices |",
            "|---|---|---|---|",
        ]
        for f in reference_fields(table):
            choices = ", ".join(f"`{c}`" for c in f.choices)
            key = " (key)" if f.required else ""
            lines.append(f"| `{f.name}`{key} | {_md(f.zh)} | {f.type} | {choices} |")
    lines += [
        "",
        "## Import bookkeeping",
        "",
        "- `import_runs(run_id, month, started_at, finished_at, status, files, read, loaded,",
        "  quarantined, defects, mapping_hash, error, pid, host, proc_start, interruption,",
        "  error_key)` —",
        "  one row per `weixi import`; `status` is `running`, `succeeded`, `failed` or",
        "  `interrupted` (the process died before COMMIT: `interruption` = `process_gone` |",
        "  `timeout`, see `docs/import.md`); `files` and `defects` are JSON; `error` is English",
        "  and `error_key` its message id and parameters (shown in the reader's language).",
        "- `quarantine(run_id, month, file, row_number, column_name, reason, raw_value, raw_row)` —",
        "  one row per violation of a rejected row; `raw_row` is the row as read (JSON), with",
        "  personal data masked.",
        "",
    ]
    from weixi.store.schema.docs import render_markdown as schema_section

    lines += schema_section()
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - regeneration helper
    import sys

    sys.stdout.write(render_markdown())
