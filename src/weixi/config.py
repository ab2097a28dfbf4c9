"""Settings: one pydantic-settings class, env prefix ``WEIXI_``, read through ``get_settings()``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings. Every field can be set as ``WEIXI_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="WEIXI_", env_file=".env", extra="ignore")

    env: str = "dev"  # dev | test | prod
    home: Path = Path("var")  # where the embedded databases and model files live
    analytics_path: Path | None = None  # DuckDB file; default <home>/weixi.duckdb
    database_url: str | None = None  # SQLAlchemy URL; default sqlite:///<home>/weixi.sqlite
    engine: str = "duckdb"  # analytics engine: duckdb | spark
    secret_key: str = "dev-insecure-secret-change-me"
    default_locale: str = "en"
    duckdb_threads: int | None = None
    duckdb_memory_limit: str | None = None
    import_timeout_hours: float = 24.0  # a 'running' import older than this is interrupted
    job_workers: int = 2  # web jobs that do not write the analytics store, run side by side
    job_store_wait_seconds: float = 900.0  # a writer job waits this long for another process

    @model_validator(mode="after")
    def _check_safe(self) -> Settings:
        if self.env == "prod" and self.secret_key.startswith("dev-"):
            raise ValueError("WEIXI_SECRET_KEY must be set to a random value when WEIXI_ENV=prod")
        if self.engine not in {"duckdb", "spark"}:
            raise ValueError(f"WEIXI_ENGINE must be duckdb or spark, not {self.engine!r}")
        return self

    @property
    def duckdb_file(self) -> Path:
        return self.analytics_path or (self.home / "weixi.duckdb")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'weixi.sqlite').as_posix()}"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests clear the cache through a fixture)."""
    return Settings()
