"""Model registry: versioned model folders under ``settings.models_dir/churn`` + table ``churn_models``.

A version folder holds ``h1.txt``, ``h2.txt``… (LightGBM model files; the compiled ``.so``
is cached next to them) and ``meta.json`` (data window, features, category levels,
calibrators, metrics, config, drift reference). One version is active; scoring uses it.

Every version has a role: ``champion`` (the active one), ``challenger`` (trained, never
promoted) or ``retired`` (a former champion). Each promotion decision — the rule's comparison
of a challenger with the champion, or a manual promotion — is appended to ``churn_promotions``
with its figures and a reason code (translated when displayed, see :mod:`weixi.churn.champion`).
This module owns both tables and their migration.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb

from weixi.config import get_settings
from weixi.errors import NotFoundError

FIGURES = (
    "n",
    "churners",
    "auc_challenger",
    "auc_champion",
    "lift_challenger",
    "lift_champion",
    "d_auc",
    "d_auc_lo",
    "d_auc_hi",
    "d_lift",
    "d_lift_lo",
    "d_lift_hi",
)


def models_root() -> Path:
    """Folder holding one sub-folder per churn model version."""
    return get_settings().models_dir / "churn"


def next_version(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> str:
    """``churn-YYYYMM-NNN``: the next free sequence number for models trained as of a month."""
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
    folder = models_root() / version
    folder.mkdir(parents=True, exist_ok=False)
    for h, booster in boosters.items():
        booster.save_model(str(folder / f"h{h}.txt"))  # type: ignore[attr-defined]
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    con.execute(
        "INSERT INTO churn_models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE, 'challenger')",
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
    """Every registered version, newest first, with its role and its latest decision."""
    cur = con.execute(
        "SELECT version, created_at, as_of_month, window_start, window_end, horizons, n_train,"
        " metrics, active, role, path FROM churn_models"
        " ORDER BY created_at DESC, version DESC"
    )
    cols = [d[0] for d in cur.description]
    fetched = cur.fetchall()  # before the next query on this connection replaces the result
    latest = {d["version"]: d for d in reversed(get_decisions(con))}
    out = []
    for row in fetched:
        rec = dict(zip(cols, row, strict=True))
        rec["metrics"] = json.loads(rec["metrics"])
        rec["horizons"] = json.loads(rec["horizons"])
        rec["decision"] = latest.get(rec["version"])
        out.append(rec)
    return out


def record_decision(
    con: duckdb.DuckDBPyConnection,
    *,
    version: str,
    champion: str | None,
    decision: str,
    reason: str,
    actor: str,
    rule: dict,
    eval_month: dt.date | None = None,
    figures: dict | None = None,
) -> dict:
    """Append one promotion decision (with the comparison figures, if any); return it."""
    figures = figures or {}
    rec = {
        "decided_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "version": version,
        "champion": champion,
        "decision": decision,
        "reason": reason,
        "actor": actor,
        "eval_month": eval_month,
        **{k: figures.get(k) for k in FIGURES},
        "rule": json.dumps(rule),
    }
    cols = list(rec)
    con.execute(
        f"INSERT INTO churn_promotions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
        list(rec.values()),
    )
    return rec


def get_decisions(con: duckdb.DuckDBPyConnection, version: str | None = None) -> list[dict]:
    """Promotion decisions, newest first (of one version when given)."""
    where, args = ("WHERE version = ?", [version]) if version else ("", [])
    cur = con.execute(
        f"SELECT * FROM churn_promotions {where} ORDER BY decided_at DESC, rowid DESC", args
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def overview(con: duckdb.DuckDBPyConnection) -> dict:
    """Champion and challenger side by side: roles, their figures on one month, the decision.

    ``comparison`` is the challenger's latest decision when there is a challenger newer than
    the champion, else the champion's own promotion decision. ``champion`` and ``challenger``
    carry ``auc`` and ``top_decile_lift`` from that comparison (same rows for both).
    """
    models = get_all(con)
    champion = next((m for m in models if m["role"] == "champion"), None)
    challenger = next(
        (
            m
            for m in models
            if m["role"] == "challenger"
            and (champion is None or m["created_at"] > champion["created_at"])
        ),
        None,
    )
    comparison = None
    for m in (challenger, champion):
        if m is not None and m["decision"] is not None:
            comparison = m["decision"]
            break
    out = {"champion": None, "challenger": None, "comparison": comparison, "models": models}
    for key, m in (("champion", champion), ("challenger", challenger)):
        if m is None:
            continue
        side = {k: m[k] for k in ("version", "role", "as_of_month", "n_train", "created_at")}
        side["auc"] = side["top_decile_lift"] = None
        if comparison is not None and comparison.get("eval_month") is not None:
            if m["version"] == comparison["version"]:
                side["auc"] = comparison["auc_challenger"]
                side["top_decile_lift"] = comparison["lift_challenger"]
            elif m["version"] == comparison["champion"]:
                side["auc"] = comparison["auc_champion"]
                side["top_decile_lift"] = comparison["lift_champion"]
        out[key] = side
    if challenger is None and comparison is not None and comparison.get("champion"):
        # the champion won its comparison: show the model it replaced on the other side
        prev = next((m for m in models if m["version"] == comparison["champion"]), None)
        if prev is not None:
            out["challenger"] = {
                **{k: prev[k] for k in ("version", "role", "as_of_month", "n_train", "created_at")},
                "auc": comparison["auc_champion"],  # None after a manual promotion
                "top_decile_lift": comparison["lift_champion"],
            }
    return out


def get_active(con: duckdb.DuckDBPyConnection) -> str | None:
    """The active version, or None."""
    row = con.execute("SELECT version FROM churn_models WHERE active").fetchone()
    return row[0] if row else None


def promote(con: duckdb.DuckDBPyConnection, version: str) -> str | None:
    """Make ``version`` the active model (the champion ``weixi churn score`` uses).

    The previous champion becomes ``retired``; returns its version (None if there was none).
    """
    row = con.execute("SELECT count(*) FROM churn_models WHERE version = ?", [version]).fetchone()
    if not row or not row[0]:
        known = [r["version"] for r in get_all(con)]
        raise NotFoundError(
            "churn model {version!r} is not registered; known: {known}",
            version=version,
            known=known,
        )
    previous = get_active(con)
    con.execute(
        """UPDATE churn_models SET active = (version = ?),
             role = CASE WHEN version = ? THEN 'champion'
                         WHEN active OR role = 'champion' THEN 'retired' ELSE role END""",
        [version, version],
    )
    return previous if previous != version else None


def load_meta(con: duckdb.DuckDBPyConnection, version: str | None) -> tuple[str, Path, dict]:
    """(version, folder, meta) of ``version`` or of the active model."""
    version = version or get_active(con)
    if version is None:
        raise NotFoundError("no active churn model: run `weixi churn train --month YYYY-MM` first")
    found = con.execute("SELECT path FROM churn_models WHERE version = ?", [version]).fetchall()
    row = found[0] if found else None
    if not row:
        raise NotFoundError("churn model {version!r} is not registered", version=version)
    folder = Path(row[0])
    meta_file = folder / "meta.json"
    if not meta_file.exists():
        raise NotFoundError(
            "model files of {version} are missing under {folder}", version=version, folder=folder
        )
    return version, folder, json.loads(meta_file.read_text(encoding="utf-8"))


def delete(con: duckdb.DuckDBPyConnection, version: str) -> None:
    """Remove a version's row and files (used by tests and clean-up)."""
    _, folder, _ = load_meta(con, version)
    con.execute("DELETE FROM churn_models WHERE version = ?", [version])
    con.execute("DELETE FROM churn_promotions WHERE version = ?", [version])
    shutil.rmtree(folder, ignore_errors=True)
