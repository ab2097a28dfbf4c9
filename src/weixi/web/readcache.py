"""Read models computed once per published snapshot.

A snapshot never changes once published, so a read model of it (the dashboard's KPIs and
trend, say) stays true until the next publish: pages keep the result keyed by the snapshot's
file name and recompute only when a writer publishes a new one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from fastapi import Request

T = TypeVar("T")
MAX_ENTRIES = 64

_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_LOCK = threading.Lock()


def cached(request: Request, name: str, args: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
    """``compute()`` for the snapshot this request reads, reusing an earlier result."""
    snap = request.state._state.get("snapshot_file")
    if snap is None:  # no snapshot: nothing stable to key on
        return compute()
    key = (str(request.app.state.settings.duckdb_file), snap, name, args)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = compute()
    with _LOCK:
        _CACHE[key] = value
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return value
