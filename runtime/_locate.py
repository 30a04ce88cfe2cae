"""Finding a new instance's linear memory in the process's address space.

wasmtime maps a guest's linear memory copy-on-write from the compiled
artifact (``.cwasm``), between zero-page regions and guard pages. Right
after instantiating (with ``memory_lock`` held: instances are made and freed
one at a time), ``locate_memory`` reads ``/proc/self/maps`` and takes the
artifact's one read-write private mapping that no located memory owns. An
instance made without locating its memory (a pool of size 0: its pool's
thread frees it later) maps one too, as do a parent's instances in a forked
child; while one may be mapped, the mappings are read before instantiating
as well (``mappings_before``), and the new one is the mapping that was not
there. Before, one such mapping left every later instance unlocated.
Anything unexpected (two new mappings, no guard pages, a replaced file, a
page already written) leaves the instance unlocated: it is then not
restored, never wrongly restored.

A located memory is registered with the process's userfaultfd at once,
before its guest reads a page (``_userfaultfd``).
"""

from __future__ import annotations

import ctypes
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

from ._page_scan import Linux, memory_lock, process, restoring_supported
from ._pristine import PristineMemory
from ._userfaultfd import register

__all__ = ["forget_memory", "locate_memory", "mappings_before", "memory_lock", "restoring_supported", "stray_made"]


@dataclass(frozen=True)
class _Image:
    """The artifact's bytes, mapped read-only once per file: the source of every restore."""

    device: int
    inode: int
    address: int
    size: int


_mapped: dict[str, _Image] = {}
"""Each artifact's image by path (kept for the life of the process)."""


def _image(linux: Linux, path: str, device: int, inode: int) -> _Image | None:
    """The artifact at ``path`` if it is still the file wasmtime mapped (same inode)."""
    image = _mapped.get(path)
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
    image = _mapped[path] = _Image(device, inode, address, stat.st_size)
    return image


_live: dict[int, str] = {}
"""The artifact of the located memory of each live instance, by image address (under ``memory_lock``)."""
_strays: set[str] = set()
"""The artifacts (paths) that instances whose memory no located one accounts
for may map now (under ``memory_lock``): made unlocated (and freed later, by
the pool's thread), or mappings the last look found unowned."""


def _forget_in_child() -> None:
    """The parent's instances do not run in a forked child, but their memories
    stay mapped there, owned by no located memory of the child's."""
    _strays.update(_live.values())
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def stray_made(artifact: Path) -> None:
    """An instance of ``artifact`` is being made without locating its memory
    (call with ``memory_lock`` held)."""
    _strays.add(str(artifact))


def forget_memory(memory: PristineMemory) -> None:
    """``memory``'s instance is being freed (call with ``memory_lock`` held)."""
    _live.pop(memory.image_start, None)


def _read_maps() -> str:
    with open("/proc/self/maps") as file:
        return file.read()


def mappings_before(artifact: Path) -> frozenset[int] | None:
    """The addresses of the artifact's read-write mappings now, if unlocated
    ones may be alive (call with ``memory_lock`` held, right before making an
    instance to locate); None when none may be: a look after suffices."""
    if str(artifact) not in _strays:
        return None
    return frozenset(int(fields[0].partition("-")[0], 16) for fields in _images(_read_maps(), str(artifact)))


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
    if at >= 0 and (fields := _line(maps, at + 1).split())[1:5] == _ANON.split():
        end = int(fields[0].partition("-")[2], 16)
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


def locate_memory(artifact: Path, before: frozenset[int] | None) -> PristineMemory | None:
    """The memory of the instance just made from ``artifact`` (call with
    ``memory_lock`` held, right after instantiating; ``before``: what
    ``mappings_before`` returned), or None if it cannot be told apart, does
    not look as expected or is not pristine."""
    linux = process()
    if linux is None or not linux.supported:
        return None
    path = str(artifact)
    maps = _read_maps()
    # The guest's copy-on-write image: the artifact's read-write private mapping no located memory owns.
    unowned = [fields for fields in _images(maps, path) if int(fields[0].partition("-")[0], 16) not in _live]
    if len(unowned) > 1:
        _strays.add(path)
    else:
        _strays.discard(path)
    found = unowned if before is None else [f for f in unowned if int(f[0].partition("-")[0], 16) not in before]
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
    low, high = bounds
    memory = PristineMemory(
        linux,
        base=low,
        image_start=image_start,
        image_end=image_end,
        end=high,
        source=image.address + int(offset, 16) - image_start,
        registered=register(low, high),  # before the guest reads a page
    )
    try:
        if memory.grown() or memory.written_pages():
            return None
    except OSError:
        return None
    _live[image_start] = path
    return memory
