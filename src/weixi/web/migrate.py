"""Run the Alembic migrations of the operational database from code (CLI, tests, demo)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from weixi.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def alembic_config(url: str | None = None) -> Config:
    """The Alembic config of the source tree, optionally pinned to ``url``."""
    ini = ROOT / "alembic.ini"
    if not ini.exists():
        raise ConfigError(
            "alembic.ini not found at {path}: run from a source checkout (pip install -e .)",
            path=ini,
        )
    cfg = Config(str(ini))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (default: the configured one) to ``revision``."""
    from weixi.config import get_settings

    target = url or get_settings().db_url
    if target.startswith("sqlite:///") and target != "sqlite:///:memory:":
        Path(target.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(target), revision)


def current(url: str | None = None) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from weixi.config import get_settings

    engine = create_engine(url or get_settings().db_url)
    try:
        with engine.connect() as con:
            return MigrationContext.configure(con).get_current_revision()
    finally:
        engine.dispose()
