"""The memory a step frees goes back to the system."""

from __future__ import annotations

import inspect
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


def _thp_mode() -> str:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        return "unknown"


def _huge_kib(start: int, end: int) -> int:
    """KiB on huge pages over every mapping that [start, end) spans (advice splits a mapping)."""
    huge = 0
    with open("/proc/self/smaps") as f:
        inside = False
        for line in f:
            head = line.split()
            if "-" in head[0] and ":" not in head[0]:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                inside = lo < end and hi > start
            elif inside and head[0] == "AnonHugePages:":
                huge += int(head[1])
    return huge


#: a fresh process: imports, one allocation ``a``, every page faulted in, its huge-page KiB
_HUGE_PAGES_OF_AN_ARRAY = (
    "import numpy as np\n{imports}\n{allocate}\n"
    "a[::4096] = 1\n" + inspect.getsource(_huge_kib) + "start = a.__array_interface__['data'][0]\n"
    "print(_huge_kib(start, start + a.nbytes))\n"
)


NUMPY_ARRAY = "a = np.empty(256 * 2**20, dtype=np.uint8)"
ARROW_BUFFER = (
    "import pyarrow as pa\n"
    "buf = pa.allocate_buffer(256 * 2**20)\n"
    "a = np.frombuffer(buf, dtype=np.uint8)"
)


@pytest.mark.skipif(_thp_mode() != "madvise", reason="huge pages only where they are advised")
@pytest.mark.parametrize("allocate", [NUMPY_ARRAY, ARROW_BUFFER], ids=["numpy", "arrow"])
def test_weixi_faults_numpy_and_arrow_memory_in_as_small_pages(allocate):
    import subprocess

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NUMPY_MADVISE_HUGEPAGE", "MIMALLOC_ALLOW_THP")
    }

    code = _HUGE_PAGES_OF_AN_ARRAY.format(imports="import weixi", allocate=allocate)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == 0


@pytest.mark.skipif(_thp_mode() != "madvise", reason="huge pages only where they are advised")
def test_this_test_process_got_arrow_set_up_before_pyarrow_loaded():
    import numpy as np
    import pyarrow as pa

    buf = pa.allocate_buffer(64 * 2**20)
    a = np.frombuffer(buf, dtype=np.uint8)
    a[::4096] = 1
    assert _huge_kib(buf.address, buf.address + buf.size) == 0


@pytest.mark.parametrize(("env_advice", "advised"), [(None, False), ("1", True), ("0", False)])
def test_numpy_huge_page_advice_is_off_unless_the_operator_sets_it(env_advice, advised):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env_advice is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = env_advice
    for code in (
        "import weixi, numpy; print(numpy._core.multiarray._get_madvise_hugepage())",
        "import numpy, weixi; print(numpy._core.multiarray._get_madvise_hugepage())",
    ):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == str(advised), code
