"""The process's userfaultfd: guest memories registered for asynchronous
write-protection (Linux 6.7+), which serves two ends.

Keeping Linux from mapping pages a guest never reads. On a read fault in a
file-backed mapping, Linux maps not just the faulting page but up to 16
neighbouring pages already in the page cache ("fault-around"). A guest's
linear memory is such a mapping (wasmtime maps it copy-on-write from the
``.cwasm``), and a run reads objects scattered all over the interpreter's
heap: a trivial first run read ~300 pages and had ~1900 mapped, so each live
instance counted ~10 MiB of resident memory (RSS), of which ~1 MiB was its
own. The kernel skips fault-around in a mapping registered with userfaultfd
for write-protection (``uffd_disable_fault_around``), so each guest memory is
registered (``register``) before its guest reads a page. Each page a guest
reads is then mapped on its own fault (~0.3 ms more for a new instance's
first run), and only those pages count.

Telling which pages a run wrote (``_pristine``). ``write_protect`` marks
pages; the first write to a marked page faults, and with asynchronous
write-protection the kernel resolves that fault itself (no thread ever waits
for us: ~1 µs) and clears the mark. ``PAGEMAP_SCAN`` reports the pages
without the mark as written (``_page_scan.Scanner``). Nothing is marked
until a memory is as it is to be restored to (``_pristine``).

One userfaultfd serves the process and stays open (closing it would drop
every registration). Where userfaultfd is unavailable (an older kernel, a
seccomp profile that blocks it) memory is simply not registered.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

__all__ = ["register", "write_protect"]

_SYS_USERFAULTFD = {"x86_64": 323, "aarch64": 282}.get(os.uname().machine) if sys.platform == "linux" else None
_UFFD_USER_MODE_ONLY = 1
"""Only faults from user space: what an unprivileged process may ask for."""
_UFFD_API = 0xAA
_WP_UNPOPULATED, _WP_ASYNC = 1 << 13, 1 << 15
"""``UFFD_FEATURE_*``: write-protection resolved by the kernel, for any memory type."""
_REGISTER_MODE_WP = 1 << 1
_WRITEPROTECT_MODE_WP = 1 << 0


class _Api(ctypes.Structure):
    _fields_ = [("api", ctypes.c_uint64), ("features", ctypes.c_uint64), ("ioctls", ctypes.c_uint64)]


class _Register(ctypes.Structure):
    _fields_ = [
        ("start", ctypes.c_uint64), ("length", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("ioctls", ctypes.c_uint64)
    ]  # fmt: skip


class _WriteProtect(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("length", ctypes.c_uint64), ("mode", ctypes.c_uint64)]


def _iowr(number: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (_UFFD_API << 8) | number


_UFFDIO_API = _iowr(0x3F, ctypes.sizeof(_Api))
_UFFDIO_REGISTER = _iowr(0x00, ctypes.sizeof(_Register))
_UFFDIO_WRITEPROTECT = _iowr(0x06, ctypes.sizeof(_WriteProtect))


class _Userfaultfd:
    """The process's userfaultfd, set up for asynchronous write-protection."""

    def __init__(self, number: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
        libc.ioctl.restype = ctypes.c_int
        self._libc = libc
        fd = libc.syscall(number, os.O_CLOEXEC | os.O_NONBLOCK | _UFFD_USER_MODE_ONLY)
        if fd < 0:
            raise self._error("userfaultfd")
        self._fd = int(fd)
        self.pid = os.getpid()
        api = _Api(api=_UFFD_API, features=_WP_ASYNC | _WP_UNPOPULATED)
        if libc.ioctl(self._fd, _UFFDIO_API, ctypes.byref(api)) < 0:
            error = self._error("UFFDIO_API")
            os.close(self._fd)
            raise error

    def _error(self, what: str) -> OSError:
        errno = ctypes.get_errno()
        return OSError(errno, f"{what}: {os.strerror(errno)}")

    def close(self) -> None:
        os.close(self._fd)

    def register(self, start: int, end: int) -> bool:
        request = _Register(start=start, length=end - start, mode=_REGISTER_MODE_WP)
        return bool(self._libc.ioctl(self._fd, _UFFDIO_REGISTER, ctypes.byref(request)) == 0)

    def write_protect(self, start: int, end: int) -> bool:
        request = _WriteProtect(start=start, length=end - start, mode=_WRITEPROTECT_MODE_WP)
        return bool(self._libc.ioctl(self._fd, _UFFDIO_WRITEPROTECT, ctypes.byref(request)) == 0)


_lock = threading.Lock()
_opened: list[_Userfaultfd | None] = []


def _forget_in_child() -> None:
    """After ``fork``: the inherited userfaultfd registers ranges of the
    parent's address space, not the child's; the child opens its own."""
    global _lock
    _lock = threading.Lock()
    for userfaultfd in _opened:
        if userfaultfd is not None:
            userfaultfd.close()
    _opened.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _userfaultfd() -> _Userfaultfd | None:
    if _opened and _opened[0] is not None and _opened[0].pid != os.getpid():  # forked without os.fork's hooks
        _forget_in_child()
    with _lock:
        if not _opened:
            try:
                _opened.append(_Userfaultfd(_SYS_USERFAULTFD) if _SYS_USERFAULTFD is not None else None)
            except OSError:
                _opened.append(None)
        return _opened[0]


def register(start: int, end: int) -> bool:
    """Register ``[start, end)`` (page-aligned, mapped) for asynchronous
    write-protection, which also stops fault-around there: True if done,
    False if this system cannot (nothing changes then)."""
    userfaultfd = _userfaultfd()
    return userfaultfd is not None and userfaultfd.register(start, end)


def write_protect(start: int, end: int) -> bool:
    """Mark every page of ``[start, end)``, a part of a ``register``-ed range,
    as not written: True if done, False if not (part of the range is not
    registered with this process's userfaultfd, as after a ``fork``)."""
    userfaultfd = _userfaultfd()
    return userfaultfd is not None and userfaultfd.write_protect(start, end)
