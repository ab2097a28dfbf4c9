"""Backup and restore of both stores: a restore brings back exactly the backed-up data; a
corrupt file or a manifest that does not match is refused with one line and nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tests.factories import make_history
from weixi.auth import service as auth
from weixi.cli import app
from weixi.security import audit
from weixi.store.analytics import open_store
from weixi.store.db import get_engine, session_scope
from weixi.store.schema import ensure as ensure_schema
from weixi.web import migrate

runner = CliRunner()


def _models() -> Path:
    from weixi.config import get_settings

    return get_settings().models_dir


def _populate(n: int = 400) -> None:
    (_models() / "churn" / "v1").mkdir(parents=True)
    (_models() / "churn" / "v1" / "meta.json").write_text('{"auc": 0.81}')
    with open_store() as con:
        ensure_schema(con)
        for _, table in make_history(n, months=2, seed=5):
            con.register("m", table)
            cols = ", ".join(table.column_names)
            con.execute(f"INSERT INTO snapshot ({cols}) SELECT {cols} FROM m")
            con.unregister("m")
    migrate.upgrade()
    with session_scope() as s:
        auth.create(session=s, username="planner1", password="Secret-pass-1", role="planner")
        audit.record(session=s, action="export", username="planner1", object_id="L1")


def _state() -> dict:
    """A fingerprint of both stores' contents."""
    with open_store(read_only=True) as con:
        snap = con.execute(
            "SELECT count(*), sum(hash(subscriber_id, month, arpu, phone)) FROM snapshot"
        ).fetchall()
    get_engine.cache_clear()
    with session_scope() as s:
        users = s.execute(sa.text("SELECT username, role FROM users ORDER BY id")).all()
        events = s.execute(sa.text("SELECT id, action, hash FROM audit_events ORDER BY id")).all()
    models = {
        p.relative_to(_models()).as_posix(): p.read_text()
        for p in sorted(_models().rglob("*"))
        if p.is_file()
    }
    return {
        "snapshot": snap,
        "users": users,
        "events": [tuple(e) for e in events],
        "models": models,
    }


def _change() -> None:
    (_models() / "churn" / "v1" / "meta.json").write_text('{"auc": 0.5}')
    (_models() / "churn" / "v2").mkdir()
    (_models() / "churn" / "v2" / "meta.json").write_text("{}")
    with open_store() as con:
        con.execute("DELETE FROM snapshot WHERE month = DATE '2025-09-01'")
        con.execute("UPDATE snapshot SET arpu = arpu * 2")
    with session_scope() as s:
        auth.create(session=s, username="intruder", password="Secret-pass-1", role="admin")


def _invoke(*args: str):
    get_engine.cache_clear()
    return runner.invoke(app, list(args))


def test_backup_change_restore_equals_backup(settings, tmp_path):
    _populate()
    before = _state()
    out = tmp_path / "bk"
    result = _invoke("backup", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["alembic_revision"] == migrate.current()
    assert set(manifest["files"]) == {
        "analytics.duckdb",
        "operational.sqlite",
        "models/churn/v1/meta.json",
    }
    assert manifest["row_counts"]["analytics"]["snapshot"] == before["snapshot"][0][0]
    assert manifest["row_counts"]["operational"]["users"] == 1
    assert manifest["audit_head"]["id"] == len(before["events"])
    assert summary["bytes"] == sum(f["bytes"] for f in manifest["files"].values())
    assert not list(tmp_path.glob(".bk.partial-*"))

    # a second backup into the same folder is refused
    assert _invoke("backup", "--out", str(out)).exit_code == 1

    _change()
    assert _state() != before
    result = _invoke("restore", "--from", str(out), "--json")
    assert result.exit_code == 0, result.output
    after = _state()
    # equal to the backup, plus the audit events of the backup (not in it) and of the restore
    assert after["snapshot"] == before["snapshot"] and after["users"] == before["users"]
    assert after["models"] == before["models"]
    assert after["events"][: len(before["events"])] == before["events"]
    assert [e[1] for e in after["events"][len(before["events"]) :]] == ["restore"]
    with session_scope() as s:
        assert audit.verify(session=s).ok  # the chain continues from the backup's head
    assert not list(Path(settings.duckdb_file).parent.glob(".*restore-*"))


@pytest.mark.parametrize(
    "damage",
    ["flip_duckdb", "flip_sqlite", "flip_model", "count", "revision", "missing", "audit"],
)
def test_restore_refuses_a_damaged_backup_and_changes_nothing(settings, tmp_path, damage):
    _populate(150)
    out = tmp_path / "bk"
    assert _invoke("backup", "--out", str(out)).exit_code == 0
    _change()
    changed = _state()
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if damage.startswith("flip"):
        target = (
            out
            / {
                "flip_duckdb": "analytics.duckdb",
                "flip_sqlite": "operational.sqlite",
                "flip_model": "models/churn/v1/meta.json",
            }[damage]
        )
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        expected = "is corrupt: its SHA-256 does not match the manifest"
    elif damage == "count":
        manifest["row_counts"]["analytics"]["snapshot"] += 1
        manifest_path.write_text(json.dumps(manifest))
        expected = "does not match the manifest: table snapshot"
    elif damage == "revision":
        manifest["alembic_revision"] = "9999"
        manifest_path.write_text(json.dumps(manifest))
        expected = "revision 9999, unknown to this weixi"
    elif damage == "audit":
        # an edited audit log whose file checksum is recomputed: the chain still gives it away
        import sqlite3

        from weixi.store.backup import sha256_file

        path = out / "operational.sqlite"
        con = sqlite3.connect(path)
        con.execute("DROP TRIGGER audit_events_no_update")
        con.execute("UPDATE audit_events SET username = 'nobody' WHERE id = 1")
        con.commit()
        con.close()
        manifest["files"]["operational.sqlite"] = {
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
        }
        manifest_path.write_text(json.dumps(manifest))
        expected = "is broken at event 1 (content_changed)"
    else:
        (out / "operational.sqlite").unlink()
        expected = "operational.sqlite is missing"
    result = _invoke("restore", "--from", str(out))
    assert result.exit_code == 1
    err = result.stderr.strip()
    assert expected in err and len(err.splitlines()) == 1, err
    assert _state() == changed  # nothing restored, not even the intact store


@pytest.mark.postgres
def test_postgres_backup_and_restore(settings, tmp_path, postgres_url, monkeypatch):
    import psycopg

    url = sa.engine.make_url(postgres_url)
    with psycopg.connect(
        f"host={url.host} port={url.port} user={url.username} dbname=postgres", autocommit=True
    ) as con:
        con.execute("CREATE DATABASE weixi_backup")
    db = url.set(database="weixi_backup").render_as_string(hide_password=False)
    monkeypatch.setenv("WEIXI_DATABASE_URL", db)
    from weixi import config

    config.get_settings.cache_clear()
    _populate(100)
    before = _state()
    out = tmp_path / "pg"
    result = _invoke("backup", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert "operational.pgdump" in json.loads((out / "manifest.json").read_text())["files"]
    _change()
    result = _invoke("restore", "--from", str(out))
    assert result.exit_code == 0, result.output
    after = _state()
    assert after["snapshot"] == before["snapshot"] and after["users"] == before["users"]
    assert after["events"][: len(before["events"])] == before["events"]
    with session_scope() as s:
        assert audit.verify(session=s).ok
