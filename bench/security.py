"""Benchmark of the audit chain and of backup/restore; prints JSON.

    python bench/security.py --events 100000                 # record + verify 100 k events
    python bench/security.py --events 0 --home /tmp/demo      # back up and restore a demo home

The audit part writes into a fresh SQLite database in a temporary folder through the product's
own ``weixi.security.audit.record`` (commit every 1 000 events) and times ``verify``. The backup
part copies the home first, so the given home is never changed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def bench_audit(events: int, folder: Path) -> dict:
    from sqlalchemy.orm import Session

    from weixi.security import audit
    from weixi.store.db import get_engine
    from weixi.web import migrate

    url = f"sqlite:///{folder / 'audit.sqlite'}"
    migrate.upgrade(url)
    engine = get_engine(url)
    started = time.perf_counter()
    with Session(engine) as s:
        for i in range(events):
            audit.record(
                session=s,
                action="unmask" if i % 3 else "export",
                username=f"agent{i % 50:02d}",
                object_type="customer",
                object_id=f"S{i:010d}",
                detail={"fields": ["phone", "name"], "page": "customer_360"},
                ip="10.0.0.1",
            )
            if i % 1000 == 999:
                s.commit()
        s.commit()
    record_s = time.perf_counter() - started
    with Session(engine) as s:
        report = audit.verify(session=s)
    return {
        "events": events,
        "record_seconds": round(record_s, 2),
        "record_per_s": round(events / record_s) if record_s else None,
        "verify_ok": report.ok,
        "verify_seconds": round(report.seconds, 2),
        "db_bytes": (folder / "audit.sqlite").stat().st_size,
    }


def bench_backup(home: Path, folder: Path) -> dict:
    from weixi.store import backup

    work = folder / "home"
    shutil.copytree(home, work, ignore=shutil.ignore_patterns("raw", "exports"))
    duck, url = work / "weixi.duckdb", f"sqlite:///{work / 'weixi.sqlite'}"
    out = folder / "bk"
    models = work / "models"
    made = backup.backup(out, duckdb_file=duck, db_url=url, models_dir=models)
    restored = backup.restore(out, duckdb_file=duck, db_url=url, models_dir=models)
    return {
        "backup_seconds": made["seconds"],
        "backup_bytes": made["bytes"],
        "files": made["files"],
        "model_files": made["model_files"],
        "rows": made["rows"],
        "restore_seconds": restored["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--home", type=Path, default=None, help="A weixi home to back up.")
    args = parser.parse_args()
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="weixi-bench-sec-") as tmp:
        os.environ.setdefault("WEIXI_HOME", tmp)
        if args.events:
            out["audit"] = bench_audit(args.events, Path(tmp))
        if args.home:
            out["backup"] = bench_backup(args.home, Path(tmp))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
