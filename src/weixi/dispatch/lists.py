"""Work lists: export a branch's open list (Excel or CSV) with masked personal data and
bilingual headers; every export is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from weixi.dispatch.models import Campaign, Task, TaskStatus
from weixi.errors import ConfigError, NotFoundError
from weixi.security.masking import mask_sql
from weixi.strategy.schemas import StrategyLibrary

#: (column, English header, Chinese header)
EXPORT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("task_id", "Task", "任务编号"),
    ("campaign", "Campaign", "活动"),
    ("month", "Month", "月份"),
    ("branch_id", "Branch", "地市"),
    ("channel", "Channel", "渠道"),
    ("staff_id", "Staff", "执行人"),
    ("subscriber_id", "Subscriber", "用户标识"),
    ("phone", "Phone", "手机号码"),
    ("name", "Name", "客户姓名"),
    ("action", "Action", "维系策略"),
    ("offer", "Offer", "具体档次"),
    ("script", "Script", "话术"),
    ("reason", "Why on the list", "入单原因"),
    ("p_churn", "P(churn)", "离网概率"),
    ("expected_value", "Expected value (yuan)", "预期价值(元)"),
    ("status", "Status", "状态"),
)


def headers(locale: str | None = None) -> list[str]:
    """Bilingual headers ("Phone / 手机号码"); the locale's language comes first."""
    zh_first = (locale or "").lower().startswith("zh")
    return [f"{zh} / {en}" if zh_first else f"{en} / {zh}" for _, en, zh in EXPORT_COLUMNS]


def list_frame(
    *,
    con: duckdb.DuckDBPyConnection,
    session: Session,
    library: StrategyLibrary,
    branch: str,
    campaign: str | None = None,
    month: dt.date | None = None,
    locale: str | None = None,
    unmask: bool = False,
) -> pd.DataFrame:
    """Open tasks of ``branch`` as a frame in export column order (personal data masked)."""
    q = (
        select(
            Task.id.label("task_id"),
            Campaign.key.label("campaign"),
            Task.month,
            Task.branch_id,
            Task.channel,
            Task.staff_id,
            Task.subscriber_id,
            Task.action,
            Task.offer_id,
            Task.reason,
            Task.reason_zh,
            Task.p_churn,
            Task.expected_value,
            Task.status,
        )
        .join(Campaign, Campaign.id == Task.campaign_id)
        .where(Task.branch_id == branch, Task.status == TaskStatus.open.value)
        .order_by(Task.channel, Task.staff_id, Task.expected_value.desc())
    )
    if campaign:
        q = q.where(Campaign.key == campaign)
    if month:
        q = q.where(Task.month == month)
    tasks = pd.DataFrame(session.execute(q).all(), columns=list(q.selected_columns.keys()))
    zh = (locale or "").lower().startswith("zh")
    names = {a.key: a.name.get(locale) for a in library.actions}
    offers = {o.key: (o.name.get(locale), o.script.get(locale)) for _e, _p, o in library.offers()}
    tasks["action"] = tasks["action"].map(lambda a: names.get(a, a))
    tasks["offer"] = tasks["offer_id"].map(lambda o: offers.get(o, (o, ""))[0])
    tasks["script"] = tasks["offer_id"].map(lambda o: offers.get(o, ("", ""))[1])
    tasks["month"] = pd.to_datetime(tasks["month"]).dt.strftime("%Y-%m")
    con.register("_ex_tasks", tasks)
    try:
        pii = ["phone", "name"]
        cols = {r[0] for r in con.execute("DESCRIBE snapshot").fetchall()}
        sel = []
        for c in pii:
            if c not in cols:
                sel.append(f"NULL AS {c}")
            elif unmask:
                sel.append(f"n.{c}")
            else:  # _ex_tasks has no such column, so the name resolves to the snapshot's
                sel.append(mask_sql(c))
        join = (
            "LEFT JOIN snapshot n ON n.subscriber_id = t.subscriber_id "
            "AND n.month = CAST(t.month || '-01' AS DATE)"
        )
        # tasks written before revision 0002 have no Chinese reason: English then
        reason = "COALESCE(t.reason_zh, t.reason)" if zh else "t.reason"
        frame = con.execute(
            f"SELECT t.*, {', '.join(sel)}, {reason} AS reason_l FROM _ex_tasks t {join} "
            "ORDER BY t.channel, t.staff_id, t.expected_value DESC"
        ).df()
    finally:
        con.unregister("_ex_tasks")
    frame["reason"] = frame["reason_l"]
    frame["p_churn"] = frame["p_churn"].round(3)
    frame["expected_value"] = frame["expected_value"].round(2)
    return frame[[c for c, _, _ in EXPORT_COLUMNS]]


def export_list(
    *,
    con: duckdb.DuckDBPyConnection,
    session: Session,
    library: StrategyLibrary,
    branch: str,
    out: Path,
    campaign: str | None = None,
    month: dt.date | None = None,
    locale: str | None = None,
    unmask: bool = False,
    username: str | None = None,
) -> int:
    """Write the branch's open list to ``out`` (.xlsx or .csv); audit the export; return rows."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ConfigError("export file must end in .xlsx or .csv, not {name!r}", name=out.name)
    frame = list_frame(
        con=con,
        session=session,
        library=library,
        branch=branch,
        campaign=campaign,
        month=month,
        locale=locale,
        unmask=unmask,
    )
    if frame.empty and not _branch_known(session, branch):
        raise NotFoundError(
            "branch {branch!r} has no tasks: check the id or run `weixi plan`", branch=branch
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.columns = headers(locale)
    if suffix == ".csv":
        frame.to_csv(out, index=False, encoding="utf-8-sig")
    else:
        _write_xlsx(frame, out, branch)
    from weixi.security import audit

    audit.record(
        session=session,
        action="unmask" if unmask else "export",
        username=username or "cli",
        object_type="work_list",
        object_id=branch,
        detail={"rows": len(frame), "file": out.name, "campaign": campaign, "masked": not unmask},
    )
    session.flush()
    return len(frame)


def _branch_known(session: Session, branch: str) -> bool:
    return (
        session.execute(select(Task.id).where(Task.branch_id == branch).limit(1)).first()
        is not None
    )


def _write_xlsx(frame: pd.DataFrame, out: Path, branch: str) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(out), {"nan_inf_to_errors": True})
    ws = wb.add_worksheet(branch[:31] or "list")
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True})
    money = wb.add_format({"num_format": "#,##0.00"})
    pct = wb.add_format({"num_format": "0.0%"})
    widths = [8, 18, 9, 8, 14, 14, 14, 14, 10, 16, 24, 48, 56, 10, 12, 8]
    for j, h in enumerate(frame.columns):
        ws.write(0, j, h, head)
        ws.set_column(j, j, widths[j] if j < len(widths) else 12)
    ws.set_column(13, 13, 10, pct)
    ws.set_column(14, 14, 12, money)
    for i, row in enumerate(frame.itertuples(index=False), start=1):
        for j, v in enumerate(row):
            if v is None or (isinstance(v, float) and pd.isna(v)):
                ws.write_blank(i, j, None)
            else:
                ws.write(i, j, v)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)
    wb.close()
