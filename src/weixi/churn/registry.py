"""Model registry: versioned model folders under ``settings.models_dir/churn`` + table ``churn_models``.

A version folder holds ``h1.txt``, ``h2.txt``… (LightGBM model files; the compiled ``.so``
is cached next to them) and ``meta.json`` (data window, features, category levels,
calibrators, metrics, config, drift reference). One version is active; scoring uses it.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb

from weixi.config import get_settings
from weixi.errors import NotFoundError
from weixi.store.analytics import table_exists

DDL = """
CREATE TABLE IF NOT EXISTS churn_models (
  version VARCHAR PRIMARY KEY,
  created_at TIMESTAMP,
  as_of_month DATE,
  window_start DATE,
  window_end DATE,
  horizons VARCHAR,
  n_train BIGINT,
  features VARCHAR,
  metrics VARCHAR,
  config VARCHAR,
  path VARCHAR,
  active BOOLEAN DEFAULT FALSE
)
"""


def models_root() -> Path:
    """Folder holding one sub-folder per churn model version."""
    return get_settings().models_dir / "churn"


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``churn_models`` when missing."""
    con.execute(DDL)


def next_version(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> str:
    """``churn-YYYYMM-NNN``: the next free sequence number for models trained as of a month."""
    ensure_table(con)
    prefix = f"churn-{as_of:%Y%m}-"
    row = con.execute(
        "SELECT count(*) FROM churn_models WHERE version LIKE ?", [prefix + "%"]
    ).fetchone()
    n = int(row[0]) if row else 0
    while (models_root() / f"{prefix}{n + 1:03d}").exists():
        n += 1
    return f"{prefix}{n + 1:03d}"


def save(
    con: duckdb.DuckDBPyConnection,
    version: str,
    boosters: dict[int, object],
    meta: dict,
    *,
    activate: bool,
) -> Path:
    """Write the model files and register the version (activating it when asked)."""
    ensure_table(con)
    folder = models_root() / version
    folder.mkdir(parents=True, exist_ok=False)
    for h, booster in boosters.items():
        booster.save_model(str(folder / f"h{h}.txt"))  # type: ignore[attr-defined]
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    con.execute(
        "INSERT INTO churn_models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE)",
        [
            version,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            meta["as_of"],
            meta["window_start"],
            meta["window_end"],
            json.dumps(sorted(int(h) for h in boosters)),
            meta["n_train"],
            json.dumps(meta["features"]),
            json.dumps(meta["metrics"]),
            json.dumps(meta["config"]),
            str(folder),
        ],
    )
    if activate:
        promote(con, version)
    return folder


def get_all(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every registered version, newest first."""
    if not table_exists(con, "churn_models"):
        return []
    cur = con.execute(
        "SELECT version, created_at, as_of_month, window_start, window_end, horizons, n_train,"
        " metrics, active, path FROM churn_models ORDER BY created_at DESC, version DESC"
    )
    cols = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        rec = dict(zip(cols, row, strict=True))
        rec["metrics"] = json.loads(rec["metrics"])
        rec["horizons"] = json.loads(rec["horizons"])
        out.append(rec)
    return out


def get_active(con: duckdb.DuckDBPyConnection) -> str | None:
    """The active version, or None."""
    if not table_exists(con, "churn_models"):
        return None
    row = con.execute("SELECT version FROM churn_models WHERE active").fetchone()
    return row[0] if row else None


def promote(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """Make ``version`` the active model (the one ``weixi churn score`` uses)."""
    ensure_table(con)
    row = con.execute("SELECT count(*) FROM churn_models WHERE version = ?", [version]).fetchone()
    if not row or not row[0]:
        known = [r["version"] for r in get_all(con)]
        raise NotFoundError(f"churn model {version!r} is not registered; known: {known}")
    con.execute("UPDATE churn_models SET active = (version = ?)", [version])


def load_meta(con: duckdb.DuckDBPyConnection, version: str | None) -> tuple[str, Path, dict]:
    """(version, folder, meta) of ``version`` or of the active model."""
    version = version or get_active(con)
    if version is None:
        raise NotFoundError("no active churn model: run `weixi churn train --month YYYY-MM` first")
    row = con.execute("SELECT path FROM churn_models WHERE version = ?", [version]).fetchone()
    if not row:
        raise NotFoundError(f"churn model {version!r} is not registered")
    folder = Path(row[0])
    meta_file = folder / "meta.json"
    if not meta_file.exists():
        raise NotFoundError(f"model files of {version} are missing under {folder}")
    return version, folder, json.loads(meta_file.read_text(encoding="utf-8"))


def delete(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """Remove a version's row and files (used by tests and clean-up)."""
    _, folder, _ = load_meta(con, version)
    con.execute("DELETE FROM churn_models WHERE version = ?", [version])
    shutil.rmtree(folder, ignore_errors=True)
