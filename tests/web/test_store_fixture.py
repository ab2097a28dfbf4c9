"""The web test store: restored from the cross-run cache, it refers only to its own folders."""

from __future__ import annotations

from pathlib import Path

import duckdb


def test_the_store_refers_only_to_model_folders_beside_it(store_path):
    """Every registered churn model lives under the store's own folder and has its files there
    (a cache built by another clone once pointed at that clone's ``var/models``)."""
    con = duckdb.connect(str(store_path), read_only=True)
    try:
        paths = [Path(r[0]) for r in con.execute("SELECT path FROM churn_models").fetchall()]
    finally:
        con.close()
    assert paths, "the store registers no churn model"
    for path in paths:
        assert path.is_absolute() and path.is_relative_to(store_path.parent), path
        assert (path / "meta.json").is_file(), path
