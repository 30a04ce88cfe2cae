"""Linux primitives for restoring guest memory (see ``_pristine``).

``PAGEMAP_SCAN`` (an ioctl on ``/proc/self/pagemap``, Linux 6.7+) lists the
pages of a range that a process has written: in wasmtime's copy-on-write
mapping of a ``.cwasm`` those are the private pages; in a range registered
with userfaultfd (``_userfaultfd``), also those written since they were
last write-protected. Restoring copies with slice assignments on
``_abi.MEMORY``, the process's memory as one byte view, instead of ctypes
calls.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import sys
import threading

__all__ = ["PAGE", "Iovec", "Linux", "Scanner", "memory_lock", "process", "restoring_supported", "zeros"]

PAGE = mmap.PAGESIZE
_IS_WRITTEN, _IS_FILE, _IS_PRESENT, _IS_SWAPPED, _IS_PFNZERO = 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5
"""``PAGE_IS_*`` categories of ``<linux/fs.h>``."""
_CHECK_WPASYNC = 1 << 1
"""``PM_SCAN_CHECK_WPASYNC``: fail unless the range is registered for asynchronous write-protection."""
_VEC = 512
"""Ranges returned per ``PAGEMAP_SCAN`` call; the scan continues if there are more."""


class _Region(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64), ("categories", ctypes.c_uint64)]


class _ScanArg(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "size", "flags", "start", "end", "walk_end", "vec", "vec_len", "max_pages",
            "category_inverted", "category_mask", "category_anyof_mask", "return_mask",
        )
    ]  # fmt: skip


# _IOWR('f', 16, struct pm_scan_arg)
_PAGEMAP_SCAN = (3 << 30) | (ctypes.sizeof(_ScanArg) << 16) | (ord("f") << 8) | 16


class Linux:
    """The process-wide handles the scans and restores use, opened on first use."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
        libc.ioctl.restype = ctypes.c_int
        # A one-byte read (the growth probe): it keeps the GIL, which costs less
        # than releasing and retaking it when other threads wait for it.
        self.read_process = ctypes.PyDLL(None, use_errno=True).process_vm_readv
        self.read_process.argtypes = [
            ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong
        ]  # fmt: skip
        self.read_process.restype = ctypes.c_ssize_t
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.mmap.restype = ctypes.c_void_p
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.munmap.restype = ctypes.c_int
        self.libc = libc
        self.pid = os.getpid()
        self.pagemap = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        self.supported = self._probe()

    def close(self) -> None:
        os.close(self.pagemap)

    def _probe(self) -> bool:
        """True if ``PAGEMAP_SCAN`` works (on an untouched page: nothing written)."""
        self._blank = mmap.mmap(-1, PAGE)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._blank))
        try:
            return Scanner(self).written(address, address + PAGE) == [] and self._reads_growth(address)
        except OSError:
            return False

    def _reads_growth(self, readable: int) -> bool:
        """True if the growth probe (``PristineMemory.grown``: ``process_vm_readv``
        of one byte) tells a readable page (1 byte read) from an inaccessible
        one (``EFAULT``). Under a filter that refuses the call, a grown memory
        would look ungrown: then nothing is restored at all."""
        byte = ctypes.create_string_buffer(1)
        local, pid = Iovec(ctypes.addressof(byte), 1), os.getpid()
        read = self.read_process(pid, ctypes.byref(local), 1, ctypes.byref(Iovec(readable, 1)), 1, 0)
        # PROT_NONE (0): every access faults.
        guard = self.libc.mmap(None, PAGE, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if guard in (None, ctypes.c_void_p(-1).value):
            return False
        try:
            refused = self.read_process(pid, ctypes.byref(local), 1, ctypes.byref(Iovec(guard, 1)), 1, 0)
            code = ctypes.get_errno()
        finally:
            self.libc.munmap(guard, PAGE)
        return read == 1 and refused == -1 and code == errno.EFAULT


_lock = threading.Lock()
_linux: list[Linux] = []


def memory_lock() -> threading.Lock:
    """Held while an instance is made or freed, so a new instance's memory is
    told apart from the others' in ``/proc/self/maps``."""
    return _lock


def _forget_in_child() -> None:
    """After ``fork``: an inherited ``/proc/self/pagemap`` descriptor still reads
    the parent's address space (the file is bound to the process that opened
    it), so scans would miss every page the child's guests write. The child
    opens its own on first use; the lock may have been held by a thread that
    did not survive the fork."""
    global _lock
    _lock = threading.Lock()
    for linux in _linux:
        linux.close()
    _linux.clear()


def process() -> Linux | None:
    if _linux and _linux[0].pid != os.getpid():  # forked without os.fork's hooks
        _forget_in_child()
    if not _linux and sys.platform == "linux":
        try:
            _linux.append(Linux())
        except OSError:  # no /proc: treated as unsupported
            return None
    return _linux[0] if _linux else None


def restoring_supported() -> bool:
    """True on Linux with a working ``PAGEMAP_SCAN`` (checked once)."""
    linux = process()
    return linux is not None and linux.supported


class Scanner:
    """Two ``PAGEMAP_SCAN`` queries over one buffer (an instance's: used by one thread at a time)."""

    def __init__(self, linux: Linux) -> None:
        self._linux = linux
        self._vec = (_Region * _VEC)()
        # Written pages: present and private (not the file's, not the shared
        # zero page), or swapped out.
        self._private = _ScanArg(
            size=ctypes.sizeof(_ScanArg),
            vec=ctypes.addressof(self._vec),
            vec_len=_VEC,
            category_inverted=_IS_FILE | _IS_PFNZERO,
            category_mask=_IS_FILE | _IS_PFNZERO,
            category_anyof_mask=_IS_PRESENT | _IS_SWAPPED,
            return_mask=_IS_PRESENT | _IS_SWAPPED,
        )
        # Pages without the userfaultfd write-protection mark; refused (EPERM)
        # if part of the range is not registered for asynchronous write-protection.
        self._unmarked = _ScanArg(
            size=ctypes.sizeof(_ScanArg),
            flags=_CHECK_WPASYNC,
            vec=ctypes.addressof(self._vec),
            vec_len=_VEC,
            category_mask=_IS_WRITTEN,
            return_mask=_IS_WRITTEN,
        )

    def written(self, start: int, end: int) -> list[tuple[int, int]]:
        """The ranges in ``[start, end)`` written since they were mapped. Raises ``OSError`` if the scan fails."""
        return self._scan(self._private, start, end)

    def unmarked(self, start: int, end: int) -> list[tuple[int, int]]:
        """The ranges in ``[start, end)`` written since ``_userfaultfd.write_protect``
        marked them (or never marked). Raises ``OSError`` if the scan fails,
        as it does where part of the range is not registered."""
        return self._scan(self._unmarked, start, end)

    def _scan(self, arg: _ScanArg, start: int, end: int) -> list[tuple[int, int]]:
        vec, linux = self._vec, self._linux
        out: list[tuple[int, int]] = []
        arg.start, arg.end = start, end
        while True:
            found = linux.libc.ioctl(linux.pagemap, _PAGEMAP_SCAN, ctypes.byref(arg))
            if found < 0:
                errno = ctypes.get_errno()
                raise OSError(errno, f"PAGEMAP_SCAN: {os.strerror(errno)}")
            fields = memoryview(vec).cast("B").cast("Q")[: 3 * found].tolist()
            out.extend(zip(fields[0::3], fields[1::3], strict=True))
            if arg.walk_end >= end:
                return out
            arg.start = arg.walk_end


_ZEROS = memoryview(bytes(64 * PAGE))


def zeros(start: int, stop: int) -> list[tuple[slice, memoryview]]:
    """Copies (``MEMORY[target] = source``) that zero ``[start, stop)``."""
    pieces = []
    while start < stop:
        step = min(stop - start, len(_ZEROS))
        pieces.append((slice(start, start + step), _ZEROS[:step]))
        start += step
    return pieces


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
