"""Process-wide memory settings for long bulk work (imports)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's default starting value


@functools.cache
def large_allocations_returned() -> bool:
    """Make glibc give every allocation of 128 KB or more back to the system when it is freed.

    glibc starts with that threshold but raises it (up to 32 MB) each time a big block is freed, after
    which big blocks (numpy arrays, pandas' parse buffers, a batch's COPY text) come from the heap and stay
    with the process after use. An import parses and writes ~200,000-row batches in two threads, and the
    heap kept about 60 MB more at its peak (measured on 370,000 events: 351 MB → 288 MB). Fixing the
    threshold turns the dynamic adjustment off. Once per process; False where there is no glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
