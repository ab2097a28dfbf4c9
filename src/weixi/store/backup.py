"""Backup and restore of both stores (DuckDB analytics, SQLite or PostgreSQL operational).

A backup is a folder holding ``analytics.duckdb``, ``operational.sqlite`` (or
``operational.pgdump``), ``models/`` (the churn model files the analytics store's registry points
at) and ``manifest.json``: the versions of weixi and of each engine, the Alembic revision, row counts per table,
SHA-256 and size of every file, and the audit chain's head.

How each store is copied consistently:

* DuckDB: ``CHECKPOINT`` (the WAL is folded into the file), then a file copy while this process
  holds the read-write connection, which DuckDB locks exclusively: nobody can write meanwhile.
* SQLite: the online backup API (a consistent snapshot even while the web app writes).
* PostgreSQL: ``pg_dump --format=custom`` on a snapshot exported by the transaction that also
  counts the rows, so counts and dump describe the same instant.

The folder is written under a temporary name and renamed when complete, so an interrupted backup
never looks like a finished one.

Restore checks everything before it changes anything: the manifest's format and Alembic
revision, every file's checksum, and the row counts of the copies prepared next to the live
files. Only then does it swap: the DuckDB file by an atomic rename, SQLite through the backup
API into the live database (one write transaction), PostgreSQL by ``pg_restore
--single-transaction``. A crash between the two swaps leaves one store restored; running the
same restore again finishes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from weixi.errors import ConfigError, IntegrityCheckError

FORMAT = 1
MANIFEST = "manifest.json"
ANALYTICS_FILE = "analytics.duckdb"
SQLITE_FILE = "operational.sqlite"
PG_FILE = "operational.pgdump"
MODELS = "models"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _duck_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_schema = 'main' ORDER BY 1"
        ).fetchall()
    ]
    if not tables:
        return {}
    union = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)
    return {name: int(n) for name, n in con.execute(union).fetchall()}


def _sql_counts(con: sa.Connection) -> dict[str, int]:
    names = sorted(sa.inspect(con).get_table_names())
    out = {}
    for name in names:
        table = sa.table(name)
        out[name] = int(con.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    return out


def _sqlite_path(url: str) -> Path:
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:":
        raise ConfigError("an in-memory SQLite database cannot be backed up or restored")
    return Path(path)


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            "{name} is not on PATH: install the PostgreSQL client tools of your server's "
            "version (Debian/Ubuntu: apt-get install postgresql-client)",
            name=name,
        )
    return path


def _pg_args(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password (which goes into PGPASSWORD, not the process list)."""
    u = sa.engine.make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise IntegrityCheckError("{tool} failed: {error}", tool=Path(cmd[0]).name, error=last[0])


@dataclass
class Manifest:
    """The contents of ``manifest.json``."""

    data: dict[str, Any]

    def write(self, folder: Path) -> None:
        """Write ``manifest.json`` into ``folder`` and flush it to disk."""
        path = folder / MANIFEST
        with path.open("w", encoding="utf-8") as fh:
            json.dump(self.data, fh, ensure_ascii=False, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """Read and check the manifest of a backup folder (one-line errors)."""
        path = folder / MANIFEST
        if not path.is_file():
            raise IntegrityCheckError(
                "{folder} is not a weixi backup: {manifest} is missing",
                folder=folder,
                manifest=MANIFEST,
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise IntegrityCheckError(
                "{path} is not valid JSON: {error}", path=path, error=str(exc)
            ) from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise IntegrityCheckError(
                "{path}: unsupported backup format {found!r} (this weixi reads format {supported})",
                path=path,
                found=data.get("format") if isinstance(data, dict) else data,
                supported=FORMAT,
            )
        return cls(data)


def _summary(data: dict[str, Any], folder: Path, seconds: float) -> dict[str, Any]:
    return {
        "folder": str(folder),
        "alembic_revision": data["alembic_revision"],
        "operational": data["operational"]["kind"],
        "files": {
            k: v["bytes"] for k, v in data["files"].items() if not k.startswith(MODELS + "/")
        },
        "model_files": sum(1 for k in data["files"] if k.startswith(MODELS + "/")),
        "bytes": sum(v["bytes"] for v in data["files"].values()),
        "rows": {store: sum(counts.values()) for store, counts in data["row_counts"].items()},
        "audit_head_id": (data.get("audit_head") or {}).get("id"),
        "seconds": round(seconds, 3),
    }


def backup(
    out: Path, *, duckdb_file: Path, db_url: str, models_dir: Path | None = None
) -> dict[str, Any]:
    """Back up both stores into the new folder ``out``; return the summary (see module doc)."""
    import time

    from weixi import __version__
    from weixi.store.analytics import connect
    from weixi.web import migrate

    started = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError("{out} exists and is not empty: back up into a new folder", out=out)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        counts: dict[str, dict[str, int]] = {}
        files: dict[str, Path] = {}
        # analytics: fold the WAL in, copy under the exclusive read-write lock
        if duckdb_file.exists():
            con = connect(duckdb_file)
            try:
                con.execute("CHECKPOINT")
                counts["analytics"] = _duck_counts(con)
                shutil.copyfile(duckdb_file, tmp / ANALYTICS_FILE)
            finally:
                con.close()
            files[ANALYTICS_FILE] = tmp / ANALYTICS_FILE
        # model files (written once per version, never changed: a plain copy is consistent)
        if models_dir is not None and models_dir.is_dir():
            shutil.copytree(models_dir, tmp / MODELS)
            for path in sorted((tmp / MODELS).rglob("*")):
                if path.is_file():
                    files[path.relative_to(tmp).as_posix()] = path
        # operational
        engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
        kind = engine.dialect.name
        try:
            revision = migrate.current(db_url)
            if kind == "sqlite":
                src = sqlite3.connect(_sqlite_path(db_url))
                dst = sqlite3.connect(tmp / SQLITE_FILE)
                try:
                    src.backup(dst)
                finally:
                    dst.close()
                    src.close()
                copy = sa.create_engine(
                    f"sqlite:///{tmp / SQLITE_FILE}", poolclass=sa.pool.NullPool
                )
                with copy.connect() as c:
                    counts["operational"] = _sql_counts(c)
                    head = _audit_head(c)
                copy.dispose()
                files[SQLITE_FILE] = tmp / SQLITE_FILE
            elif kind == "postgresql":
                pg_dump = _pg_tool("pg_dump")
                rr = engine.connect().execution_options(isolation_level="REPEATABLE READ")
                with rr as c, c.begin():
                    snap = c.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
                    counts["operational"] = _sql_counts(c)
                    head = _audit_head(c)
                    url, env = _pg_args(db_url)
                    _run(
                        [
                            pg_dump,
                            "--format=custom",
                            "--no-owner",
                            f"--snapshot={snap}",
                            f"--file={tmp / PG_FILE}",
                            f"--dbname={url}",
                        ],
                        env,
                    )
                files[PG_FILE] = tmp / PG_FILE
            else:
                raise ConfigError(
                    "cannot back up a {kind} database: use SQLite or PostgreSQL", kind=kind
                )
        finally:
            engine.dispose()
        data = {
            "format": FORMAT,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "weixi_version": __version__,
            "duckdb_version": duckdb.__version__,
            "sqlite_version": sqlite3.sqlite_version,
            "alembic_revision": revision,
            "operational": {"kind": kind},
            "analytics": {"present": ANALYTICS_FILE in files},
            "row_counts": counts,
            "audit_head": head,
            "files": {
                name: {"sha256": sha256_file(path), "bytes": path.stat().st_size}
                for name, path in files.items()
            },
        }
        Manifest(data).write(tmp)
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _summary(data, out, time.perf_counter() - started)


def _audit_head(con: sa.Connection) -> dict[str, Any] | None:
    if "audit_chain_head" not in sa.inspect(con).get_table_names():
        return None
    row = con.execute(
        sa.text("SELECT last_id, last_hash FROM audit_chain_head WHERE id = 1")
    ).first()
    return {"id": int(row[0]), "hash": row[1]} if row else None


def _check_audit(con: sa.Connection, head: dict[str, Any] | None, path: Path) -> None:
    """Refuse a backup whose audit chain is broken or ends elsewhere than the manifest says.

    Checksums only prove the files are the ones the manifest lists; someone who edits the audit
    log in a backup can recompute them. The chain cannot be recomputed unnoticed from outside
    (see ``weixi.security.audit``), so a restore never brings back a rewritten audit log.
    """
    if head is None:
        return
    from sqlalchemy.orm import Session

    from weixi.security import audit

    with Session(bind=con) as s:
        report = audit.verify(session=s)
    if not report.ok:
        raise IntegrityCheckError(
            "the audit log in {path} is broken at event {event} ({reason})",
            path=path,
            event=report.broken_id,
            reason=report.reason,
        )
    if (report.head_id or 0, report.head_hash) != (
        head["id"],
        head["hash"] if head["id"] else None,
    ):
        raise IntegrityCheckError(
            "the audit log in {path} ends at event {event}, the manifest says {expected}",
            path=path,
            event=report.head_id,
            expected=head["id"],
        )


def _check_counts(store: str, found: dict[str, int], expected: dict[str, int]) -> None:
    if found != expected:
        diff = sorted(
            name for name in set(found) | set(expected) if found.get(name) != expected.get(name)
        )
        first = diff[0]
        raise IntegrityCheckError(
            "the {store} copy does not match the manifest: table {table} has "
            "{found} rows, the manifest says {expected}",
            store=store,
            table=first,
            found=found.get(first),
            expected=expected.get(first),
        )


def restore(
    src: Path, *, duckdb_file: Path, db_url: str, models_dir: Path | None = None
) -> dict[str, Any]:
    """Check the backup in ``src`` completely, then replace both stores with it."""
    import time

    from alembic.script import ScriptDirectory

    from weixi.web import migrate

    started = time.perf_counter()
    src = Path(src)
    manifest = Manifest.read(src).data
    # 1. the manifest must fit this weixi and this configuration
    revision = manifest.get("alembic_revision")
    known = {
        s.revision for s in ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions()
    }
    if revision is not None and revision not in known:
        raise IntegrityCheckError(
            "the backup is at database revision {revision}, unknown to this weixi: "
            "restore it with the weixi version that made it ({version})",
            revision=revision,
            version=manifest.get("weixi_version"),
        )
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    kind = engine.dialect.name
    engine.dispose()
    if manifest["operational"]["kind"] != kind:
        raise IntegrityCheckError(
            "the backup holds a {held} operational database but "
            "WEIXI_DATABASE_URL points at {kind}",
            held=manifest["operational"]["kind"],
            kind=kind,
        )
    # 2. every file is there and unchanged
    for name, meta in sorted(manifest["files"].items()):
        path = src / name
        if not path.is_file():
            raise IntegrityCheckError("{path} is missing from the backup", path=path)
        if path.stat().st_size != meta["bytes"] or sha256_file(path) != meta["sha256"]:
            raise IntegrityCheckError(
                "{path} is corrupt: its SHA-256 does not match the manifest", path=path
            )
    counts = manifest["row_counts"]
    staged: Path | None = None
    staged_models: Path | None = None
    model_files = [n for n in manifest["files"] if n.startswith(MODELS + "/")]
    try:
        if models_dir is not None and model_files:
            models_dir.parent.mkdir(parents=True, exist_ok=True)
            staged_models = models_dir.with_name(f".{models_dir.name}.restore-{os.getpid()}")
            shutil.rmtree(staged_models, ignore_errors=True)
            shutil.copytree(src / MODELS, staged_models)
            for name in model_files:
                copied = staged_models / name.split("/", 1)[1]
                if sha256_file(copied) != manifest["files"][name]["sha256"]:
                    raise IntegrityCheckError(
                        "copying {path} changed it (disk error?)", path=src / name
                    )
        # 3. stage the analytics copy next to the live file and check it opens and counts right
        if ANALYTICS_FILE in manifest["files"]:
            duckdb_file.parent.mkdir(parents=True, exist_ok=True)
            staged = duckdb_file.with_name(f".{duckdb_file.name}.restore-{os.getpid()}")
            shutil.copyfile(src / ANALYTICS_FILE, staged)
            if sha256_file(staged) != manifest["files"][ANALYTICS_FILE]["sha256"]:
                raise IntegrityCheckError(
                    "copying {path} changed it (disk error?)", path=src / ANALYTICS_FILE
                )
            try:
                con = duckdb.connect(str(staged), read_only=True)
            except duckdb.Error as exc:
                raise IntegrityCheckError(
                    "{path} does not open: {error}", path=src / ANALYTICS_FILE, error=str(exc)
                ) from exc
            try:
                _check_counts("analytics", _duck_counts(con), counts.get("analytics", {}))
            finally:
                con.close()
        if kind == "sqlite":
            ro = sa.create_engine(
                "sqlite://",
                creator=lambda: sqlite3.connect(f"file:{src / SQLITE_FILE}?mode=ro", uri=True),
                poolclass=sa.pool.NullPool,
            )
            with ro.connect() as c:
                ok = c.exec_driver_sql("PRAGMA integrity_check").scalar_one()
                if ok != "ok":
                    raise IntegrityCheckError(
                        "{path} fails integrity_check: {result}",
                        path=src / SQLITE_FILE,
                        result=ok,
                    )
                _check_counts("operational", _sql_counts(c), counts.get("operational", {}))
                _check_audit(c, manifest.get("audit_head"), src / SQLITE_FILE)
            ro.dispose()
        else:
            _run([_pg_tool("pg_restore"), "--list", str(src / PG_FILE)])  # the archive reads
        # 4. swap: model folder and analytics file by rename (after folding the live WAL so
        # none is left over), then the operational database
        if staged_models is not None and models_dir is not None:
            old = models_dir.with_name(f".{models_dir.name}.old-{os.getpid()}")
            if models_dir.exists():
                models_dir.rename(old)
            staged_models.rename(models_dir)
            staged_models = None
            shutil.rmtree(old, ignore_errors=True)
        if staged is not None:
            if duckdb_file.exists():
                from weixi.store.analytics import connect

                live = connect(duckdb_file)  # fails cleanly if another process holds the file
                live.execute("CHECKPOINT")
                live.close()
            wal = duckdb_file.with_name(duckdb_file.name + ".wal")
            if wal.exists():
                wal.unlink()
            os.replace(staged, duckdb_file)
            staged = None
        if kind == "sqlite":
            live_path = _sqlite_path(db_url)
            live_path.parent.mkdir(parents=True, exist_ok=True)
            source = sqlite3.connect(f"file:{src / SQLITE_FILE}?mode=ro", uri=True)
            target = sqlite3.connect(live_path, timeout=30)
            try:
                source.backup(target)  # one write transaction: readers see old or new
            finally:
                target.close()
                source.close()
        else:
            url, env = _pg_args(db_url)
            _run(
                [
                    _pg_tool("pg_restore"),
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--dbname={url}",
                    str(src / PG_FILE),
                ],
                env,
            )
            live = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
            with live.connect() as c:
                _check_counts("restored operational", _sql_counts(c), counts.get("operational", {}))
            live.dispose()
    finally:
        if staged is not None and staged.exists():
            staged.unlink()
        if staged_models is not None:
            shutil.rmtree(staged_models, ignore_errors=True)
    return _summary(manifest, src, time.perf_counter() - started)
