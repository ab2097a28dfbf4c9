"""Route × role × ownership: who may record an outcome on which task, and unmask which customer.

The queue form, the JSON API and outcome files call one authorization function
(``weixi.security.access``); this matrix checks that each answers exactly the same for every
role and every kind of task or customer: the caller's own, a colleague's, a pooled one
claimed by the caller or by someone else, one of another branch.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from tests.web.conftest import csrf_of, follow_job, login
from tests.web.worlds import OTHER_BRANCH, World, branch_subscribers, build_world
from weixi.auth.models import ALL_ROLES
from weixi.dispatch.models import Task
from weixi.store.db import session_scope

ROLES = [r.value for r in ALL_ROLES]
A, P, BM, AM, AG, AN = ROLES
LIVE = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=1)

#: Kinds of task, as seen from the test branch's users (u_agent is HZCC0001, u_account_manager
#: HZAM0001): staff id, channel, claimed by, branch.
TASKS = {
    "agent_own": ("HZCC0001", "call_center", None, None),
    "agent_colleague": ("HZCC0002", "call_center", None, None),
    "pool_claimed_by_agent": (None, "call_center", "u_agent", None),
    "pool_free": (None, "call_center", None, None),
    "pool_claimed_by_other": (None, "call_center", "u_agent2", None),
    "am_own": ("HZAM0001", "account_manager", None, None),
    "am_colleague": ("HZAM0002", "account_manager", None, None),
    "other_branch": (None, "call_center", None, OTHER_BRANCH),
}
OK, NF, BUSY, ROLE = "ok", 404, 409, 403


def _expected_outcome(role: str, kind: str) -> object:
    if role in (A, AN):
        return ROLE
    if role in (P, BM):
        if role == BM and kind == "other_branch":
            return NF
        return BUSY if kind.startswith("pool_claimed") else OK  # on someone's screen
    if role == AM:
        return OK if kind == "am_own" else NF
    return OK if kind in ("agent_own", "pool_claimed_by_agent") else NF


@pytest.fixture(scope="module")
def world(tmp_path_factory, store_path, fresh_db_url) -> World:
    home = tmp_path_factory.mktemp("ownership")
    return build_world(fresh_db_url(home), home, store_path)


@pytest.fixture(scope="module")
def users(world) -> dict:
    out = {r: login(world.app, f"u_{r}") for r in ROLES}
    out["other_bm"] = login(world.app, "u_other_bm")
    return out


def _make_tasks(world: World, tag: str, sids: dict[str, str] | None = None) -> dict[str, int]:
    rows = []
    for kind, (staff, channel, claimed_by, branch) in TASKS.items():
        row = {
            "subscriber_id": (sids or {}).get(kind, f"{tag}-{kind}"),
            "staff_id": staff,
            "channel": channel,
        }
        if branch:
            row["branch_id"] = branch
        if claimed_by:
            row.update(claimed_by=claimed_by, claim_token="t-" + claimed_by, claimed_until=LIVE)
        rows.append(row)
    return dict(zip(TASKS, world.add_tasks(rows), strict=True))


def _status(resp) -> object:
    return OK if resp.status_code in (200, 303) else resp.status_code


def _form(client, task_id: int):
    return client.post(
        f"/queue/{task_id}/outcome",
        data={"result": "not_reached", "csrf_token": csrf_of(client)},
    )


def _api(client, task_id: int):
    return client.post(
        "/api/v1/outcomes",
        json={"task_id": task_id, "result": "not_reached"},
        headers={"X-CSRF-Token": csrf_of(client)},
    )


@pytest.mark.parametrize("role", ROLES)
def test_outcome_matrix_form_and_api_agree(world, users, role):
    client, wrong = users[role], []
    for route, call in (("api", _api), ("form", _form)):
        tasks = _make_tasks(world, f"{role}-{route}-{uuid.uuid4().hex[:6]}")
        for kind, task_id in tasks.items():
            want = _expected_outcome(role, kind)
            if route == "form" and role not in (AM, AG):
                want = ROLE  # the queue page is the front line's; managers use files or API
            got = _status(call(client, task_id))
            if got != want:
                wrong.append(f"{route} {kind} as {role}: expected {want}, got {got}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", [P, BM])
def test_outcome_files_follow_the_same_rules(world, users, role):
    client = users[role]
    tasks = _make_tasks(world, f"{role}-file-{uuid.uuid4().hex[:6]}")
    body = "task_id,result\n" + "".join(f"{tid},not_reached\n" for tid in tasks.values())
    queued = client.post(
        "/outcomes/upload",
        data={"csrf_token": csrf_of(client)},
        files={"file": ("dialer.csv", body.encode(), "text/csv")},
    )
    assert queued.status_code == 303  # recorded by a background job; its card has the result
    page = follow_job(client, queued)
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    for kind, task_id in tasks.items():
        want = _expected_outcome(role, kind)
        if want == OK:
            assert f"task {task_id} " not in text, kind
        elif want == NF:
            assert f"task {task_id} not found" in text, kind
        else:
            assert f"task {task_id} is being worked by" in text, kind
    recorded = sum(_expected_outcome(role, k) == OK for k in tasks)
    assert re.search(rf"Recorded {recorded}\b", text), text[-800:]
    for other in (AM, AG, A, AN):  # files are a manager's tool
        assert users[other].post("/outcomes/upload", data={}).status_code == 403


def test_account_manager_queue_is_their_book(world, users):
    for i in range(3):  # one task of the account manager's own book in each set
        _make_tasks(world, f"am-queue-{i}-{uuid.uuid4().hex[:6]}")
    am = users[AM]
    for _ in range(3):
        got = am.post("/api/v1/queue/next", headers={"X-CSRF-Token": csrf_of(am)}).json()
        with session_scope(world.url) as s:
            task = s.get(Task, got["id"])
            assert (task.staff_id, task.branch_id) == ("HZAM0001", "HZ")
            task.status = "done"  # next one
    agent = users[AG]
    got = agent.post("/api/v1/queue/next", headers={"X-CSRF-Token": csrf_of(agent)}).json()
    with session_scope(world.url) as s:
        task = s.get(Task, got["id"])
        assert task.channel == "call_center" and task.staff_id in (None, "HZCC0001")


@pytest.fixture(scope="module")
def customers(world, store_path) -> dict[str, str]:
    """kind -> a real subscriber of the store, with the kinds of task of TASKS."""
    hz = branch_subscribers(store_path, n=20)
    nb = branch_subscribers(store_path, branch=OTHER_BRANCH, n=1)
    sids = {kind: hz[i] for i, kind in enumerate(TASKS) if kind != "other_branch"}
    sids["other_branch"] = nb[0]
    _make_tasks(world, "unmask", sids)
    sids["branch_no_task"] = hz[-1]
    return sids


def _expected_unmask(role: str, kind: str) -> object:
    if role in (A, P, AN):
        return ROLE
    if role == "other_bm":
        return OK if kind == "other_branch" else NF
    if role == BM:
        return NF if kind == "other_branch" else OK
    if role == AM:
        return OK if kind == "am_own" else NF
    return OK if kind in ("agent_own", "pool_claimed_by_agent") else NF


@pytest.mark.parametrize("role", [*ROLES, "other_bm"])
def test_unmask_matrix_page_and_api_agree(users, customers, role):
    client, wrong = users[role], []
    for kind, sid in customers.items():
        want = _expected_unmask(role, kind)
        csrf = csrf_of(client)
        page = _status(client.post(f"/customers/{sid}/unmask", data={"csrf_token": csrf}))
        api = _status(
            client.post(f"/api/v1/customers/{sid}/unmask", headers={"X-CSRF-Token": csrf})
        )
        if (page, api) != (want, want):
            wrong.append(f"{kind} as {role}: expected {want}, page {page}, api {api}")
    assert not wrong, "\n".join(wrong)
