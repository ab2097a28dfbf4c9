"""The throw-away PostgreSQL server of ``tests/store`` for the ``postgres`` tests here too."""

from tests.store.conftest import postgres_url  # noqa: F401
