"""Measurements of the host process: threads, descriptors, children, memory."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["children", "live_rss_bytes", "open_fds", "rss_bytes", "settle", "threads"]


def threads() -> int:
    """OS threads of this process (native ones included, not just Python's)."""
    return len(os.listdir("/proc/self/task"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident set size, from ``/proc/self/statm``."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def live_rss_bytes() -> int:
    """RSS after a garbage collection and glibc's ``malloc_trim(0)``: free heap pages the
    allocator keeps (which come and go with fragmentation) are handed back first, so what
    is left tracks memory still in use."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_bytes()


def children() -> set[int]:
    """Process ids whose parent is this process."""
    mine, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2 :].split()[1]) == mine:
            found.add(int(entry))
    return found


def settle(measure: Callable[[], int], target: int, timeout: float = 5.0) -> int:
    """``measure()`` once it is at most ``target``, or its last value after ``timeout``
    (work the run left behind, such as a tool thread finishing, may take a moment)."""
    end = time.monotonic() + timeout
    value = measure()
    while value > target and time.monotonic() < end:
        time.sleep(0.02)
        value = measure()
    return value
