"""Settings: one pydantic-settings class, env prefix ``WEIXI_``, read through ``get_settings()``."""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from pydantic import PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings. Every field can be set as ``WEIXI_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="WEIXI_", env_file=".env", extra="ignore")

    # dev | test | prod. Anything but an explicit "dev" gets Secure cookies (HTTPS only).
    env: str = "prod"
    home: Path = Path("var")  # where the embedded databases and model files live
    analytics_path: Path | None = None  # DuckDB file; default <home>/weixi.duckdb
    database_url: str | None = None  # SQLAlchemy URL; default sqlite:///<home>/weixi.sqlite
    engine: str = "duckdb"  # analytics engine: duckdb | spark
    # Signs session cookies and CSRF tokens. Unset: a random key generated once and kept in
    # <home>/secret_key (mode 0600), so restarts keep sessions and no default key exists.
    secret_key: str | None = None
    default_locale: str = "en"
    duckdb_threads: int | None = None
    duckdb_memory_limit: str | None = None
    import_timeout_hours: float = 24.0  # a 'running' import older than this is interrupted
    import_max_shrink: float = 0.2  # a re-import may shrink a month by this share (--allow-shrink)
    # A task shown to an agent is claimed for this long; unworked, it returns to the queue.
    claim_timeout_minutes: float = 15.0
    max_upload_mb: float = 20.0  # request bodies (outcome files) larger than this get 413
    job_workers: int = 2  # web jobs that do not write the analytics store, run side by side
    job_store_wait_seconds: float = 900.0  # a writer job waits this long for another process

    _secret: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_safe(self) -> Settings:
        if self.env not in {"dev", "test", "prod"}:
            raise ValueError(f"WEIXI_ENV must be dev, test or prod, not {self.env!r}")
        weak = self.secret_key is not None and (
            self.secret_key.startswith("dev-") or len(self.secret_key) < 16
        )
        if self.env != "dev" and weak:
            raise ValueError(
                "WEIXI_SECRET_KEY must be a random value of 16+ characters outside "
                "WEIXI_ENV=dev (or leave it unset and one is generated in WEIXI_HOME)"
            )
        if self.claim_timeout_minutes <= 0:
            raise ValueError("WEIXI_CLAIM_TIMEOUT_MINUTES must be positive")
        if self.max_upload_mb <= 0:
            raise ValueError("WEIXI_MAX_UPLOAD_MB must be positive")
        if self.engine not in {"duckdb", "spark"}:
            raise ValueError(f"WEIXI_ENGINE must be duckdb or spark, not {self.engine!r}")
        return self

    @property
    def secret_file(self) -> Path:
        return self.home / "secret_key"

    def secret(self) -> str:
        """The signing key: WEIXI_SECRET_KEY, else the key kept in ``<home>/secret_key``
        (created with a random value on first use; concurrent first uses agree on one)."""
        if self.secret_key:
            return self.secret_key
        if self._secret is None:
            self._secret = _load_or_create_secret(self.secret_file)
        return self._secret

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def duckdb_file(self) -> Path:
        return self.analytics_path or (self.home / "weixi.duckdb")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'weixi.sqlite').as_posix()}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


def _load_or_create_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process is writing it right now
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.02)
        raise ValueError(f"{path} is empty: delete it and start again") from None
    value = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests clear the cache through a fixture)."""
    return Settings()
