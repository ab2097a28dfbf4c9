"""Daily event feeds of the synthetic operator (服务营销机会), consistent with its monthly data.

Events are drawn from a month's canonical snapshot: the same customers and lines, and a daily
rate per line that grows with its churn risk for the churn signals (usage drop, zero-call days,
calls to a competitor's service number, complaints), so at-risk customers show more warnings.
Contract expiry, new subscriptions, birthdays (from the ID number) and holidays follow the
snapshot's dates; business handled and membership upgrades are care events at flat rates.
A share (:data:`PORT_OUT_SHARE`) of the mobile lines that leave in the day's month port their
number to a competitor (携号转网): one ``port_out`` event on a day of that month, ``detail`` the
destination drawn from the competitors' shares (fixed per seed, :func:`destination_shares`).

The feed is written operator-style (Chinese headers and values, ``YYYYMMDD`` dates) with its
``events_mapping.yaml`` for ``weixi events import``.

Example:
    >>> import pyarrow as pa
    >>> snap = pa.table({"subscriber_id": ["S1", "S2"], "customer_id": ["C1", "C2"],
    ...     "status": ["active", "active"], "contract_end": pa.array([None, None], pa.date32()),
    ...     "activation_date": pa.array([dt.date(2020, 1, 1)] * 2, pa.date32()),
    ...     "id_number": [None, None], "vip_level": ["none", "gold"],
    ...     "competitor_contacts": [0, 0], "complaints": [0, 0]})
    >>> t = daily_events(snap, dt.date(2026, 10, 1), risk=[0.02, 0.5], seed=1)
    >>> set(t.column("event_type").to_pylist()) <= set(EVENT_TYPES)
    True
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml

from weixi.ingest.events import EVENT_TYPES, PORT_OUT_DESTINATIONS

#: Daily base rate per active line; churn signals are multiplied by the line's relative risk.
RATES = {
    "usage_drop": 0.0012,
    "zero_call_days": 0.0010,
    "competitor_call": 0.0006,
    "complaint_filed": 0.0004,
    "business_handled": 0.004,
    "membership_upgrade": 0.0004,  # members (vip_level != none) only
}
RISK_SCALED = ("usage_drop", "zero_call_days", "competitor_call", "complaint_filed")
EXPIRY_NOTICE_DAYS = (60, 30)  # a contract_expiring event this many days before the end
HOLIDAYS = {(1, 1): "元旦", (5, 1): "劳动节", (10, 1): "国庆节", (6, 1): "儿童节"}
COMPETITOR_NUMBERS = ("10086", "10010")
BUSINESS = ("套餐变更", "充值缴费", "宽带报修", "号码过户", "流量包订购")
#: Share of leaving mobile lines that port their number out (the rest cancel or lapse).
PORT_OUT_SHARE = 0.4
#: Competitors' mean share of port-outs (keys of ``PORT_OUT_DESTINATIONS``).
PORT_OUT_MIX = {"china_mobile": 0.6, "china_unicom": 0.3, "china_broadnet": 0.1}

#: The feed's operator-style headers (raw header -> event field).
HEADERS = {
    "事件编号": "event_id",
    "事件日期": "event_date",
    "客户编号": "customer_id",
    "用户编号": "subscriber_id",
    "事件类型": "event_type",
    "数值": "value",
    "说明": "detail",
}


def _risk_multiplier(risk: np.ndarray) -> np.ndarray:
    finite = risk[np.isfinite(risk)]  # no scores (a month before the first model): all NaN
    mean = float(finite.mean()) if finite.size else 0.0
    rel = np.nan_to_num(risk / mean if mean > 0 else np.ones_like(risk), nan=1.0)
    return np.clip(rel, 0.1, 25.0)


def destination_shares(seed: int) -> dict[str, float]:
    """The competitors' shares of port-outs of the operator ``seed`` (around :data:`PORT_OUT_MIX`).

    Example:
        >>> s = destination_shares(3)
        >>> sorted(s) == sorted(PORT_OUT_DESTINATIONS), round(sum(s.values()), 6)
        (True, 1.0)
    """
    base = np.array([PORT_OUT_MIX[k] for k in PORT_OUT_DESTINATIONS])
    shares = np.random.default_rng([int(seed), 17]).dirichlet(base * 200)
    return dict(zip(PORT_OUT_DESTINATIONS, shares.tolist(), strict=True))


def _port_outs(snapshot: pa.Table, day: dt.date, leaving: np.ndarray, seed: int) -> tuple:
    """``(mask, destination)`` of the lines porting out on ``day``: a fixed share of the leaving
    mobile lines, each on one day of ``day``'s month (hashed from the line, so the same line
    ports out once, on the same day, whichever days are drawn)."""
    n = snapshot.num_rows
    if "line_type" in snapshot.column_names:
        mobile = np.asarray(pc.equal(snapshot["line_type"], "mobile").fill_null(False))
    else:
        mobile = np.ones(n, bool)
    keys = snapshot["subscriber_id"].to_numpy(zero_copy_only=False).astype(str)
    h = pd.util.hash_array(keys, hash_key=f"portout{int(seed):09d}"[:16]).astype(np.float64)
    u = h / 2.0**64
    ported = np.asarray(leaving, bool) & mobile & (u < PORT_OUT_SHARE)
    first = day.replace(day=1)
    n_days = ((first + dt.timedelta(days=32)).replace(day=1) - first).days
    # reuse the uniform below the share for the day and the destination (independent digits)
    v = (u / PORT_OUT_SHARE * 1e3) % 1.0
    w = (u / PORT_OUT_SHARE * 1e6) % 1.0
    on_day = (v * n_days).astype(int) + 1 == day.day
    shares = destination_shares(seed)
    cut = np.cumsum(list(shares.values()))
    dest = np.asarray(list(shares), object)[np.minimum(np.searchsorted(cut, w), len(cut) - 1)]
    return ported & on_day, dest


def daily_events(
    snapshot: pa.Table,
    day: dt.date,
    *,
    risk: Any,
    seed: int = 0,
    leaving: Any = None,
) -> pa.Table:
    """Draw ``day``'s events of the lines in ``snapshot`` (canonical columns).

    Args:
        snapshot: canonical snapshot rows (``subscriber_id, customer_id, status, contract_end,
            activation_date, id_number, vip_level, competitor_contacts, complaints``).
        day: the event date.
        risk: per line, its monthly churn probability (true or scored); NaN counts as average.
        seed: random seed (the same seed and day give the same feed).
        leaving: optional, per line, whether it leaves in ``day``'s month (gone or cancelled in
            that month's snapshot); a share of those on mobile port out (``port_out`` events).

    Returns:
        A table with the event fields (``event_id, event_date, customer_id, subscriber_id,
        event_type, value, detail``), one row per event.
    """
    n = snapshot.num_rows
    rng = np.random.default_rng([int(seed), day.toordinal()])
    active = np.asarray(pc.equal(snapshot["status"], "active").fill_null(False))
    rel = _risk_multiplier(np.asarray(risk, dtype=float))
    member = np.asarray(pc.not_equal(snapshot["vip_level"], "none").fill_null(False))
    comp = np.nan_to_num(
        np.asarray(snapshot["competitor_contacts"].to_numpy(zero_copy_only=False), dtype=float)
    )
    compl = np.nan_to_num(
        np.asarray(snapshot["complaints"].to_numpy(zero_copy_only=False), dtype=float)
    )
    idx_parts, type_parts, value_parts, detail_parts = [], [], [], []

    def add(mask: np.ndarray, etype: str, value: np.ndarray | None = None, detail=None) -> None:
        rows = np.flatnonzero(mask)
        idx_parts.append(rows)
        type_parts.append(np.full(len(rows), etype, dtype=object))
        value_parts.append(
            np.full(len(rows), np.nan) if value is None else np.asarray(value, float)[rows]
        )
        if detail is None:
            detail_parts.append(np.full(len(rows), None, dtype=object))
        else:
            detail_parts.append(np.asarray(detail, dtype=object)[rows])

    u = rng.random((len(RATES), n))
    for k, (etype, rate) in enumerate(RATES.items()):
        p = rate * (rel if etype in RISK_SCALED else 1.0)
        if etype == "competitor_call":
            p = p * (1 + comp)
        elif etype == "complaint_filed":
            p = p * (1 + compl)
        elif etype == "membership_upgrade":
            p = np.where(member, p, 0.0)
        hit = active & (u[k] < p)
        if etype == "usage_drop":
            add(hit, etype, value=np.round(rng.uniform(30, 85, n)))
        elif etype == "zero_call_days":
            add(hit, etype, value=rng.integers(3, 11, n))
        elif etype == "competitor_call":
            add(hit, etype, detail=np.asarray(COMPETITOR_NUMBERS, object)[rng.integers(0, 2, n)])
        elif etype == "business_handled":
            add(hit, etype, detail=np.asarray(BUSINESS, object)[rng.integers(0, len(BUSINESS), n)])
        else:
            add(hit, etype)
    day_num = (day - dt.date(1970, 1, 1)).days
    end = snapshot["contract_end"].cast(pa.int32()).to_numpy(zero_copy_only=False)
    left = np.asarray(end, dtype=float) - day_num
    add(active & np.isin(left, EXPIRY_NOTICE_DAYS), "contract_expiring", value=left)
    act = np.asarray(
        snapshot["activation_date"].cast(pa.int32()).to_numpy(zero_copy_only=False), float
    )
    add(act == day_num, "new_subscription")
    ids = snapshot["id_number"].cast(pa.string())  # an all-NULL column may come untyped
    mmdd = pc.utf8_slice_codeunits(ids.fill_null(""), 10, 14).to_numpy(zero_copy_only=False)
    add(active & (mmdd == f"{day:%m%d}"), "birthday")
    holiday = HOLIDAYS.get((day.month, day.day))
    if holiday:
        add(active & member, "holiday", detail=np.full(n, holiday, dtype=object))
    if leaving is not None:
        ported, dest = _port_outs(snapshot, day, np.asarray(leaving, bool), seed)
        add(ported, "port_out", detail=dest)
    idx = np.concatenate(idx_parts) if idx_parts else np.array([], int)
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    types = np.concatenate(type_parts)[order]
    values = np.concatenate(value_parts)[order]
    details = np.concatenate(detail_parts)[order]
    ids_out = [f"E{day:%Y%m%d}{i:07d}" for i in range(len(idx))]
    return pa.table(
        {
            "event_id": pa.array(ids_out, pa.string()),
            "event_date": pa.array([day] * len(idx), pa.date32()),
            "customer_id": snapshot["customer_id"].take(pa.array(idx, pa.int64())),
            "subscriber_id": snapshot["subscriber_id"].take(pa.array(idx, pa.int64())),
            "event_type": pa.array(types.tolist(), pa.string()),
            "value": pa.array(values, pa.float64(), from_pandas=True),
            "detail": pa.array(details.tolist(), pa.string()),
        }
    )


def event_mapping_dict(encoding: str = "utf-8") -> dict[str, Any]:
    """The mapping of the operator-style feed to the event fields."""
    cols: dict[str, Any] = {}
    for raw, name in HEADERS.items():
        cols[name] = {"source": raw}
    cols["event_type"]["values"] = {zh: key for key, (_en, zh) in EVENT_TYPES.items()}
    return {"version": 1, "encoding": encoding, "date_format": "%Y%m%d", "columns": cols}


def write_daily(
    table: pa.Table, out_dir: Path | str, day: dt.date, encoding: str = "utf-8"
) -> dict[str, Any]:
    """Write ``table`` (from :func:`daily_events`) as ``events_YYYY-MM-DD.csv`` + the mapping."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    zh = {key: z for key, (_e, z) in EVENT_TYPES.items()}
    raw = pa.table(
        {
            "事件编号": table["event_id"],
            "事件日期": pa.array([f"{day:%Y%m%d}"] * table.num_rows, pa.string()),
            "客户编号": table["customer_id"],
            "用户编号": table["subscriber_id"],
            "事件类型": pa.array([zh[x] for x in table["event_type"].to_pylist()], pa.string()),
            "数值": table["value"],
            "说明": table["detail"],
        }
    )
    path = out / f"events_{day.isoformat()}.csv"
    with open(path, "wb") as fh:
        pacsv.write_csv(raw, fh)
    if encoding not in ("utf-8", "utf8"):
        path.write_bytes(path.read_bytes().decode("utf-8").encode(encoding))
    mapping = out / "events_mapping.yaml"
    mapping.write_text(
        "# Mapping of the synthetic operator's daily event feed (weixi events import).\n"
        + yaml.safe_dump(event_mapping_dict(encoding), allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    counts = pc.value_counts(table["event_type"]).to_pylist() if table.num_rows else []
    by_type = {str(c["values"]): int(c["counts"]) for c in counts}
    return {
        "date": day.isoformat(),
        "file": str(path),
        "rows": table.num_rows,
        "by_type": dict(sorted(by_type.items())),
        "mapping": str(mapping),
    }


def simulate_days(
    *,
    con,
    session_scope,
    out_dir: Path | str,
    start: dt.date,
    days: int = 7,
    seed: int = 0,
    triggers: Any = "seed",
) -> list[dict[str, Any]]:
    """Run ``days`` daily feeds through the product on the current store (the demo operator).

    Each day draws the events of the work month's snapshot lines (risk: the store's churn
    scores; the lines leaving in the next month, when it is loaded, port out), writes the
    operator-style feed, then :func:`weixi.flows.run_day` imports it and
    fires the triggers; each day commits. Returns one report per day.
    """
    from weixi.flows import run_day
    from weixi.ingest.events import load_event_mapping
    from weixi.store.months import add_months, churn_label_sql, loaded_months
    from weixi.triggers.service import work_month

    month = work_month(con, start)
    if month is None:
        from weixi.errors import NotFoundError

        raise NotFoundError("no segmented month in the store: run `weixi demo` first")
    cols = ", ".join(
        f"s.{c}"
        for c in (
            "subscriber_id",
            "customer_id",
            "status",
            "contract_end",
            "activation_date",
            "id_number",
            "vip_level",
            "competitor_contacts",
            "complaints",
        )
    )
    m = f"DATE '{month.isoformat()}'"
    # who leaves in the next month is known when that month is loaded (the churn label)
    nxt = add_months(month, 1)
    known = nxt in set(loaded_months(con))
    label = f"LEFT JOIN ({churn_label_sql(month)}) l USING (subscriber_id)" if known else ""
    snap = con.sql(  # risk: NULL for lines without a score (none before `weixi churn score`)
        f"SELECT {cols}, s.line_type, c.p_churn AS risk, "
        f"{'coalesce(l.churned, 0) = 1' if known else 'false'} AS leaving "
        "FROM snapshot s "
        "LEFT JOIN (SELECT subscriber_id, max(p_churn) AS p_churn FROM churn_scores "
        f"WHERE month = {m} GROUP BY 1) c USING (subscriber_id) {label} "
        f"WHERE s.month = {m} ORDER BY s.subscriber_id"
    ).to_arrow_table()
    risk_arr = snap["risk"].to_numpy(zero_copy_only=False).astype(float)
    leaving = snap["leaving"].to_numpy(zero_copy_only=False).astype(bool)
    reports = []
    for i in range(days):
        day = start + dt.timedelta(days=i)
        in_next = known and day.replace(day=1) == nxt
        feed = daily_events(
            snap, day, risk=risk_arr, seed=seed, leaving=leaving if in_next else None
        )
        written = write_daily(feed, out_dir, day)
        mapping = load_event_mapping(written["mapping"])
        with session_scope() as session:
            rep = run_day(
                con=con,
                session=session,
                day=day,
                mapping=mapping,
                paths=[written["file"]],
                triggers=triggers,
            )
        reports.append(rep)
    return reports
