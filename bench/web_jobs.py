"""Benchmark the web app under a long job: previews and a create while others browse.

Against a running app (e.g. ``weixi demo`` on 200 k lines): one preview, two concurrent
previews and one campaign create run as jobs while three clients loop over ``/healthz``,
``/dashboard`` and ``/queue``; prints each job's time and the pages' latencies as JSON, plus
``errors`` (a non-200 answer or an empty "No data loaded yet" page). Also measures publishing a
snapshot of ``--store`` when given (the app must not be writing it then).

Example:
    .venv/bin/python bench/web_jobs.py --url http://127.0.0.1:8000 --password weixi-demo-2026
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def _csrf(text: str) -> str:
    return text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _login(base: str, username: str, password: str) -> httpx.Client:
    c = httpx.Client(base_url=base, timeout=600, follow_redirects=False)
    token = _csrf(c.get("/login").text)
    r = c.post("/login", data={"username": username, "password": password, "csrf_token": token})
    if r.status_code != 303:
        raise SystemExit(f"cannot log in as {username}: {r.status_code}")
    return c


def _run_job(client: httpx.Client, form: dict, key: str, path: str) -> dict:
    t0 = time.perf_counter()
    token = _csrf(client.get("/campaigns").text)
    r = client.post(
        path, data={**form, "key": key, "csrf_token": token}, headers={"HX-Request": "true"}
    )
    queued = time.perf_counter() - t0
    found = re.search(r'id="job-(\d+)"', r.text)
    if r.status_code != 200 or not found:
        return {"key": key, "status": f"HTTP {r.status_code}", "error": r.text[:300]}
    job_id = int(found.group(1))
    while True:
        s = client.get(f"/api/v1/jobs/{job_id}").json()
        if s["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    return {
        "job": job_id,
        "status": s["status"],
        "error": s["error"],
        "queue_request_s": round(queued, 3),
        "total_s": round(time.perf_counter() - t0, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--password", default="weixi-demo-2026")
    ap.add_argument("--store", default=None, help="analytics file to time a publish of")
    args = ap.parse_args()
    base, pw = args.url, args.password
    planner, agent, analyst = (_login(base, u, pw) for u in ("planner", "agent", "analyst"))
    page = planner.get("/campaigns").text
    month = re.search(r'name="month" value="([0-9-]+)"', page).group(1)
    stamp = time.strftime("%H%M%S")
    form = {
        "name_en": "bench",
        "name_zh": "基准",
        "month": month,
        "months": "1",
        "budget": "200000",
        "control_pct": "10",
        "seats_pct": "100",
        "agent_per_day": "85",
        "channels": ["call_center", "account_manager", "sms"],
    }
    stop = threading.Event()
    latency: dict[str, list[float]] = {"/healthz": [], "/dashboard": [], "/queue": []}
    errors: list = []

    def browse(client: httpx.Client, path: str) -> None:
        while not stop.is_set():
            t = time.perf_counter()
            r = client.get(path)
            latency[path].append(time.perf_counter() - t)
            if r.status_code != 200 or "No data loaded yet" in r.text:
                errors.append((path, r.status_code))

    anon = httpx.Client(base_url=base, timeout=600)
    browsers = [
        threading.Thread(target=browse, args=a)
        for a in ((anon, "/healthz"), (analyst, "/dashboard"), (agent, "/queue"))
    ]
    out: dict = {}
    for th in browsers:
        th.start()
    try:
        time.sleep(1.0)
        out["preview"] = _run_job(planner, form, f"bench-{stamp}-a", "/campaigns/preview")
        other = _login(base, "planner", pw)
        with ThreadPoolExecutor(2) as pool:
            out["two_previews"] = list(
                pool.map(
                    lambda a: _run_job(a[0], form, a[1], "/campaigns/preview"),
                    ((planner, f"bench-{stamp}-b"), (other, f"bench-{stamp}-c")),
                )
            )
        out["create"] = _run_job(planner, form, f"bench-{stamp}-create", "/campaigns")
        time.sleep(0.5)
    finally:
        stop.set()
        for th in browsers:
            th.join()
    out["latency_ms"] = {
        p: {
            "n": len(v),
            "median": round(statistics.median(v) * 1000, 1),
            "p95": round(sorted(v)[max(int(len(v) * 0.95) - 1, 0)] * 1000, 1),
            "max": round(max(v) * 1000, 1),
        }
        for p, v in latency.items()
        if v
    }
    out["errors"] = errors[:20]
    if args.store:
        from weixi.store import snapshots

        t0 = time.perf_counter()
        snap = snapshots.publish_file(args.store)
        out["publish"] = {
            "bytes": snap.bytes,
            "checkpoint_s": snap.checkpoint_seconds,
            "copy_s": snap.copy_seconds,
            "total_s": round(time.perf_counter() - t0, 3),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
