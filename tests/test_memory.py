"""The memory a step frees goes back to the system."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from weixi.memory import release_freed_memory


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap and /proc")
def test_freed_heap_memory_goes_back_to_the_system():
    release_freed_memory()
    # 300 MB of arrays small enough for glibc's heap, then one kept on top of them: freeing
    # the others leaves them in the heap (nothing at its top to trim)
    chunks = [np.ones(100_000 // 8) for _ in range(3_000)]
    keep = np.ones(100_000 // 8)
    del chunks
    before = _rss()
    release_freed_memory()
    after = _rss()
    assert keep.sum() == 100_000 // 8
    assert before - after > 250 * 2**20, (before / 2**20, after / 2**20)
