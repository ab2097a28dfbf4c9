"""Import every ORM module so ``Base.metadata`` knows all tables (app start-up, Alembic, tests)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from weixi.store.db import Base

#: Modules that define tables on ``weixi.store.db.Base``; missing ones are skipped.
ORM_MODULES = (
    "weixi.auth.models",
    "weixi.dispatch.models",
    "weixi.strategy.models",
    "weixi.evaluate.models",
    "weixi.ingest.models",
    "weixi.jobs.models",
    "weixi.vip.models",
    "weixi.complaints.models",
)


def import_all() -> MetaData:
    """Import the ORM modules that exist and return the complete metadata."""
    for name in ORM_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but one of its imports is missing
                raise
    return Base.metadata
