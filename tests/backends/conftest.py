"""Fixtures of the backend parity suite: ONE real local[2] SparkSession per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    """The shared local SparkSession (started lazily, only when a spark test asks for it)."""
    from weixi.store.backends import spark_session

    session = spark_session()
    yield session
    session.stop()
    spark_session.cache_clear()
