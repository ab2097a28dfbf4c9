"""Masking everywhere: no page, API response or export shows a clear phone number, name or ID
number to a role without the right; unmasking is limited to contact roles and always audited."""

from __future__ import annotations

import io

import duckdb
import openpyxl
import pytest

from tests.web.conftest import MOBILE, clear_phones, csrf_of, follow_job
from tests.web.test_authorization import TABLE
from weixi.security.masking import mask_id, mask_name, mask_phone, mask_text


def test_mask_functions():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_name("张三丰") == "张**"
    assert mask_name("李") == "李*"
    assert mask_id("110101199003074578") == "1101**********4578"
    assert mask_text("call 13812341234 now") == "call 138****1234 now"
    assert mask_phone(None) is None


@pytest.fixture(scope="module")
def clear_values(store_path):
    """Every clear phone number, name and ID number in the test store."""
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT phone, name, id_number FROM snapshot WHERE phone IS NOT NULL"
        ).fetchall()
    finally:
        con.close()
    phones = {r[0] for r in rows}
    ids = {r[2] for r in rows if r[2]}
    names = {r[1] for r in rows if r[1] and len(r[1]) >= 2}
    return phones, names, ids


def _leaks(text: str, clear_values) -> list[str]:
    _phones, names, ids = clear_values
    found = clear_phones(text)
    found += [i for i in ids if i in text]
    found += [n for n in names if f">{n}<" in text or f'"{n}"' in text]
    return found


@pytest.mark.parametrize(
    "role", ["admin", "planner", "branch_manager", "account_manager", "agent", "analyst"]
)
def test_no_clear_personal_data_in_pages_api_and_exports(clients, role, sid, clear_values):
    client = clients[role]
    leaks = {}
    for (method, _tpl), (path, _data, expected) in TABLE.items():
        if method != "GET" or expected.get(role) != 200:
            continue
        resp = client.get(path.format(sid=sid))
        body = resp.text if "spreadsheet" not in resp.headers.get("content-type", "") else ""
        found = _leaks(body, clear_values)
        if found:
            leaks[path] = found[:3]
    for q in ("", f"?q={sid}"):
        if role in ("planner", "branch_manager", "account_manager", "analyst"):
            found = _leaks(client.get(f"/customers{q}").text, clear_values)
            if found:
                leaks[f"/customers{q}"] = found[:3]
    assert not leaks, f"clear personal data shown to {role}: {leaks}"


def test_excel_export_is_masked_and_audited(clients, clear_values):
    client = clients["planner"]
    started = client.get("/churn/export.xlsx")  # a job: its page offers the file
    assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
    card = follow_job(client, started)
    assert 'data-job-status="done"' in card.text and "/download" in card.text
    resp = client.get(f"{started.headers['location']}/download")
    assert resp.status_code == 200 and "spreadsheet" in resp.headers["content-type"]
    assert clients["analyst"].get(f"{started.headers['location']}/download").status_code == 404
    wb = openpyxl.load_workbook(io.BytesIO(resp.content))
    cells = " ".join(str(c.value) for row in wb.active.iter_rows() for c in row if c.value)
    assert "****" in cells and not _leaks(cells, clear_values)
    audit = clients["admin"].get("/api/v1/audit?action=export&username=u_planner").json()
    assert any(e["object_type"] == "churn_top_risk" and '"xlsx"' in e["detail"] for e in audit)


def test_unmask_is_audited_and_only_for_contact_roles(clients, sid, clear_values):
    phones, _names, _ids = clear_values
    bm = clients["branch_manager"]
    before = len(clients["admin"].get("/api/v1/audit?action=unmask").json())
    resp = bm.post(f"/api/v1/customers/{sid}/unmask", headers={"X-CSRF-Token": csrf_of(bm)})
    assert resp.status_code == 200 and resp.json()["phone"] in phones
    page = bm.post(f"/customers/{sid}/unmask", data={"csrf_token": csrf_of(bm)})
    assert page.status_code == 200 and MOBILE.search(page.text)
    events = clients["admin"].get("/api/v1/audit?action=unmask").json()
    assert len(events) == before + 2
    assert events[0]["object_id"] == sid and events[0]["username"] == "u_branch_manager"
    for role in ("admin", "planner", "analyst"):
        c = clients[role]
        assert (
            c.post(
                f"/api/v1/customers/{sid}/unmask", headers={"X-CSRF-Token": csrf_of(c)}
            ).status_code
            == 403
        )


def test_quarantine_raw_rows_are_masked(clients):
    page = clients["planner"].get("/data/quarantine").text
    assert "below_minimum" in page or "below minimum" in page
    for clear in ("13912345670", "张三丰", "110101199003074578"):
        assert clear not in page
    assert "139****5670" in page and "张**" in page
