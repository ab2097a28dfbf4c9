"""Hand the memory a finished batch step freed back to the operating system.

A step of the monthly job frees gigabytes (feature frames, encoded matrices, Arrow batches),
but the allocators keep much of it for reuse: glibc's heap keeps freed chunks below its top
(arrays of a few megabytes, under its adaptive mmap threshold, land there), and Arrow's pool
keeps freed pages. The process then enters the next step already holding what the last one
dropped, and its peak is the sum. Measured on the 10 M-line store: after the churn training
frame was built and deleted, RSS stayed at 3.5 GiB until both were asked to give memory back
(0.4 GiB after). :func:`release_freed_memory` asks them; the monthly job calls it between
steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name)
        lib.malloc_trim  # noqa: B018 - glibc only (not musl, not macOS)
    except (OSError, AttributeError, TypeError):
        return None
    return lib


def release_freed_memory() -> None:
    """Return the memory glibc's heap and Arrow's pool hold free to the system.

    Costs milliseconds to a few tenths of a second on a heap of gigabytes; call it between
    batch steps, not inside loops. Does nothing where the allocator has no such call.
    """
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - an Arrow build without the call
        log.debug("Arrow's pool could not release its unused memory", exc_info=True)
    lib = _libc()
    if lib is not None:
        lib.malloc_trim(0)


def arrow_small_pages() -> bool:
    """Keep Arrow's allocator (mimalloc) from advising transparent huge pages; whether the
    setting can still take effect (it must come before ``pyarrow`` is first imported).

    The same stall as :func:`numpy_small_pages`, in Arrow's pool: mimalloc marks its memory
    ``MADV_HUGEPAGE`` unless ``MIMALLOC_ALLOW_THP=0``. Measured on this project's machine:
    converting a 2 M-line, 1.2 GB Arrow table of churn features to pandas took 19.4 s with 715
    page faults (2 MB each, each compacting memory first) and 0.84 s with the variable set
    (290 k small faults). An operator's own ``MIMALLOC_ALLOW_THP`` is left alone.
    """
    import os
    import sys

    os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")
    return "pyarrow" not in sys.modules


def numpy_small_pages() -> bool:
    """Stop numpy from advising transparent huge pages for its large arrays; whether it did.

    numpy marks every array of 4 MB or more ``MADV_HUGEPAGE``. Where the kernel's huge-page
    ``defrag`` setting is ``madvise`` (Debian's default), each 2 MB fault of such an array then
    compacts memory on the spot when no free 2 MB block is at hand — the usual case on a
    machine whose memory is mostly page cache. Measured on this project's machine (2 cores,
    24 GiB, 8 GB of page cache): writing a fresh 1.2 GB array took 14–18 s with the advice and
    0.9 s without it (0.3 s with it only right after another process had freed huge pages);
    converting a 2 M-line training frame to pandas, 20 s against 0.8 s. An operator who wants
    the advice sets ``NUMPY_MADVISE_HUGEPAGE=1``, which is left alone; otherwise the variable
    is set to 0 for numpy (and the processes this one starts) to read.
    """
    import os
    import sys

    if os.environ.get("NUMPY_MADVISE_HUGEPAGE") is not None:
        return False
    # numpy reads the variable when it is imported: nothing to import here (a CLI start stays
    # light); a numpy already loaded is switched directly
    os.environ["NUMPY_MADVISE_HUGEPAGE"] = "0"
    if "numpy" not in sys.modules:
        return True
    try:
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy < 2
        from numpy.core import multiarray
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is None:  # pragma: no cover - a numpy without the switch
        return False
    setter(False)
    return True
