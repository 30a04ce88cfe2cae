"""Putting a used guest's linear memory back the way instantiation left it.

Everything a script can change lives in its instance's linear memory: the
interpreter, its heap, the guest wrapper, libc. wasmtime maps that memory
copy-on-write from the compiled artifact (``.cwasm``) on disk, plus zero
pages around the image. A page the guest has written is therefore a private
(anonymous) page in the mapping; every other page still reads as the file or
as zeros. So an instance is made pristine again by finding its written pages
with Linux's ``PAGEMAP_SCAN`` ioctl (6.7+) and copying the original bytes
back over them (zeros outside the image). That costs ~0.2 ms on this
project's VM (the scan, then a copy per written range) instead of a new
instantiation (~2 ms) and its page faults: the restored pages stay resident.

What is not in linear memory does not carry a script's data: wasm globals
(the stack pointer returns to its start when the export returns; the
others are set at instantiation and never written by the guest's code),
tables (never written after instantiation) and WASI handles (output
streams, pollables: write-only or empty). ``GuestInstance`` restores only
after a run that returned normally and was short, and retires an
instance after a number of runs, which bounds the handles a run can leave.

An instance is restorable only if, right after instantiation, its memory
is found (one copy-on-write mapping of the artifact, between zero-page
regions and guard pages) and has no written page yet. If the kernel lacks
``PAGEMAP_SCAN``, or anything about the layout is unexpected, instances
are simply not restored (each run gets a new one, as before).
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PristineMemory", "locate_memory", "memory_lock", "restoring_supported"]

_PAGE = mmap.PAGESIZE
_IS_FILE, _IS_PRESENT, _IS_SWAPPED, _IS_PFNZERO = 1 << 2, 1 << 3, 1 << 4, 1 << 5
"""``PAGE_IS_*`` categories of ``<linux/fs.h>``."""
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


class _Linux:
    """The process-wide handles the scans and restores use, opened on first use."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
        libc.ioctl.restype = ctypes.c_int
        libc.process_vm_readv.argtypes = [
            ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong
        ]  # fmt: skip
        libc.process_vm_readv.restype = ctypes.c_ssize_t
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.mmap.restype = ctypes.c_void_p
        self.libc = libc
        self.pagemap = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        self.images: dict[str, _Image] = {}
        self.live: set[int] = set()
        """Image addresses of the located memories of live instances."""
        self.supported = self._probe()

    def _probe(self) -> bool:
        """True if ``PAGEMAP_SCAN`` works (on an untouched page: nothing written)."""
        self._blank = mmap.mmap(-1, _PAGE)
        address = ctypes.addressof(ctypes.c_char.from_buffer(self._blank))
        try:
            return _Scanner(self).written(address, address + _PAGE) == []
        except OSError:
            return False


_lock = threading.Lock()
_linux: list[_Linux] = []


def memory_lock() -> threading.Lock:
    """Held while an instance is made or freed, so a new instance's memory is
    told apart from the others' in ``/proc/self/maps``."""
    return _lock


def _process() -> _Linux | None:
    if not _linux and sys.platform == "linux":
        try:
            _linux.append(_Linux())
        except OSError:  # no /proc: treated as unsupported
            return None
    return _linux[0] if _linux else None


def restoring_supported() -> bool:
    """True on Linux with a working ``PAGEMAP_SCAN`` (checked once)."""
    process = _process()
    return process is not None and process.supported


class _Scanner:
    """One ``PAGEMAP_SCAN`` buffer (an instance's: used by one thread at a time)."""

    def __init__(self, linux: _Linux) -> None:
        self._linux = linux
        self._vec = (_Region * _VEC)()
        # Written pages: present and private (not the file's, not the shared
        # zero page), or swapped out.
        self._arg = _ScanArg(
            size=ctypes.sizeof(_ScanArg),
            vec=ctypes.addressof(self._vec),
            vec_len=_VEC,
            category_inverted=_IS_FILE | _IS_PFNZERO,
            category_mask=_IS_FILE | _IS_PFNZERO,
            category_anyof_mask=_IS_PRESENT | _IS_SWAPPED,
            return_mask=_IS_PRESENT | _IS_SWAPPED,
        )

    def written(self, start: int, end: int) -> list[tuple[int, int]]:
        """The written ranges in ``[start, end)``. Raises ``OSError`` if the scan fails."""
        arg, vec, linux = self._arg, self._vec, self._linux
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


@dataclass(frozen=True)
class _Image:
    """The artifact's bytes, mapped read-only once per file: the source of every restore."""

    device: int
    inode: int
    address: int
    size: int


def _image(linux: _Linux, path: str, device: int, inode: int) -> _Image | None:
    """The artifact at ``path`` if it is still the file wasmtime mapped (same inode)."""
    image = linux.images.get(path)
    if image is not None and (image.device, image.inode) == (device, inode):
        return image
    try:
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
            if (stat.st_dev, stat.st_ino) != (device, inode):
                return None  # replaced since wasmtime mapped it: other bytes
            # Read-only (never one of the guests' read-write mappings), kept for
            # the life of the process (a replaced artifact's stays mapped too).
            address = linux.libc.mmap(None, stat.st_size, mmap.PROT_READ, mmap.MAP_SHARED, file.fileno(), 0)
    except OSError:
        return None
    if address in (None, ctypes.c_void_p(-1).value):
        return None
    image = linux.images[path] = _Image(device, inode, address, stat.st_size)
    return image


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class PristineMemory:
    """One instance's linear memory and how to put it back as instantiated.

    ``[base, end)`` is the memory as instantiated: zeros, then the
    artifact's image ``[image_start, image_end)``, then zeros; past ``end``
    lie guard pages until the guest grows its memory.
    """

    def __init__(self, linux: _Linux, *, base: int, image_start: int, image_end: int, end: int, source: int) -> None:
        self.base, self.image_start, self.image_end, self.end = base, image_start, image_end, end
        self._linux = linux
        self._source = source
        """The address of the original of guest address a is ``_source + a``."""
        self._scanner = _Scanner(linux)
        self._probe = ctypes.create_string_buffer(1)
        self._local = _Iovec(ctypes.addressof(self._probe), 1)
        self._remote = _Iovec(end, 1)

    def written_pages(self) -> int:
        """How many pages differ from instantiation now (or may: written at some point)."""
        return sum(stop - start for start, stop in self._scanner.written(self.base, self.end)) // _PAGE

    def grown(self) -> bool:
        """True once the guest has grown its memory: the page at ``end`` became readable."""
        read = self._linux.libc.process_vm_readv(
            os.getpid(), ctypes.byref(self._local), 1, ctypes.byref(self._remote), 1, 0
        )
        return bool(read == 1)

    def restore(self) -> bool:
        """Copy the original bytes over every written page. False (nothing
        restored; discard the instance) if the memory grew or the scan failed."""
        if self.grown():
            return False
        try:
            ranges = self._scanner.written(self.base, self.end)
        except OSError:
            return False
        image_start, image_end, source = self.image_start, self.image_end, self._source
        for start, stop in ranges:
            if start < image_start:  # zeros before the image
                cut = min(stop, image_start)
                ctypes.memset(start, 0, cut - start)
                start = cut
            if start < stop and start < image_end:
                cut = min(stop, image_end)
                ctypes.memmove(start, source + start, cut - start)
                start = cut
            if start < stop:  # zeros after it
                ctypes.memset(start, 0, stop - start)
        return True

    def forget(self) -> None:
        """The instance is being freed (call with ``memory_lock`` held)."""
        self._linux.live.discard(self.image_start)


_ANON = " rw-p 00000000 00:00 0"
"""How ``/proc/self/maps`` goes on after the range for a private zero-page mapping."""


def _line(maps: str, at: int) -> str:
    """The whole line of ``/proc/self/maps`` around index ``at``."""
    end = maps.find("\n", at)
    return maps[maps.rfind("\n", 0, at) + 1 : end if end >= 0 else len(maps)]


def _around(maps: str, start: int, end: int) -> tuple[int, int] | None:
    """The zero-page mappings right before ``start`` and after ``end``, if any,
    widened to ``(base, end)``; None unless guard pages (``---p``) bound them.
    Only searches the text: parsing every line costs milliseconds in a busy process."""
    base = start
    at = maps.find(f"-{start:x}{_ANON}")
    if at >= 0:
        base = int(_line(maps, at).partition("-")[0], 16)
    at = maps.find(f"\n{end:x}-")
    if at >= 0 and _line(maps, at + 1).split()[1:5] == _ANON.split()[:4]:
        end = int(_line(maps, at + 1).split()[0].partition("-")[2], 16)
    guard_before = maps.find(f"-{base:x} ---p ")
    guard_after = maps.find(f"\n{end:x}-")
    if guard_before < 0 or guard_after < 0 or _line(maps, guard_after + 1).split()[1] != "---p":
        return None
    return base, end


def _images(maps: str, path: str) -> list[list[str]]:
    """The fields of every read-write private mapping of ``path``."""
    found, at = [], maps.find(path)
    while at >= 0:
        fields = _line(maps, at).split()
        if fields[1] == "rw-p" and fields[5:] == [path]:
            found.append(fields)
        at = maps.find(path, at + len(path))
    return found


def locate_memory(artifact: Path) -> PristineMemory | None:
    """The memory of the instance just made from ``artifact`` (call with
    ``memory_lock`` held, right after instantiating), or None if it cannot be
    told apart, does not look as expected or is not pristine."""
    linux = _process()
    if linux is None or not linux.supported:
        return None
    path, live = str(artifact), linux.live
    with open("/proc/self/maps") as file:
        maps = file.read()
    # The guest's copy-on-write image: the artifact's one read-write private mapping.
    found = [fields for fields in _images(maps, path) if int(fields[0].partition("-")[0], 16) not in live]
    if len(found) != 1:
        return None
    span, _, offset, device_text, inode, _ = found[0]
    start, _, end = span.partition("-")
    major, _, minor = device_text.partition(":")
    image_start, image_end = int(start, 16), int(end, 16)
    device = os.makedev(int(major, 16), int(minor, 16))
    bounds = _around(maps, image_start, image_end)
    image = _image(linux, path, device, int(inode))
    if bounds is None or image is None or int(offset, 16) + (image_end - image_start) > image.size:
        return None
    memory = PristineMemory(
        linux,
        base=bounds[0],
        image_start=image_start,
        image_end=image_end,
        end=bounds[1],
        source=image.address + int(offset, 16) - image_start,
    )
    try:
        if memory.grown() or memory.written_pages():
            return None
    except OSError:
        return None
    live.add(image_start)
    return memory
