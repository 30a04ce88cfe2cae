"""Putting a used guest's linear memory back the way it was before the run.

Everything a script can change lives in its instance's linear memory: the
interpreter, its heap, the guest wrapper, libc. wasmtime maps that memory
copy-on-write from the compiled artifact (``.cwasm``) on disk, plus zero
pages around the image. A page the guest has written is therefore a private
(anonymous) page in the mapping; every other page still reads as the file or
as zeros. So an instance is put back by finding its written pages with
Linux's ``PAGEMAP_SCAN`` ioctl (6.7+, ``_page_scan``) and copying the right
bytes over them, instead of a new instantiation (~3 ms) and its page faults:
the restored pages stay resident.

Which pages were written is told two ways. Once the memory is as it is to
be restored to (saved after the warm-up, or put back by a first restore
that took every private page), the whole memory is write-protected through
the process's userfaultfd (``_userfaultfd``; asynchronous: the kernel
resolves a write fault itself and drops the mark), so restores find just
the pages written since: ~80 for a short script against ~370 that differ from
instantiation after a warm-up (~0.2 ms a restore instead of ~0.4 ms on this
project's VM). Pages are never marked again after that: see ``restore``.

The right bytes are those of the state saved after the instance's trusted
warm-up (``PristineMemory.save`` copies the pages it wrote aside, ~1.5 MiB),
or, for an instance that was never warmed, those instantiation left (the
artifact's, or zeros). Restoring to the warmed state keeps what the warm-up
did (caches filled, code specialised, options parsed), which a run would
otherwise redo: ~0.1-0.2 ms on this VM. The warm state holds one state of
``random`` for every run, so each restore also writes it a new one
(``_random_state``); an instance where that is not possible is not saved.

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
are simply not restored (each run gets a new one, as before). A memory
found is also registered with the userfaultfd at once, which keeps Linux
from mapping pages its guest never reads (``_userfaultfd``).
"""

from __future__ import annotations

import bisect
import ctypes
import errno
import mmap
import os
from dataclasses import dataclass
from pathlib import Path

from ._abi import MEMORY
from ._page_scan import PAGE, Iovec, Linux, Scanner, memory_lock, process, restoring_supported, zero
from ._userfaultfd import register, write_protect

__all__ = ["PristineMemory", "locate_memory", "memory_lock", "restoring_supported"]


@dataclass(frozen=True)
class _Image:
    """The artifact's bytes, mapped read-only once per file: the source of every restore."""

    device: int
    inode: int
    address: int
    size: int


_mapped: dict[str, _Image] = {}
"""Each artifact's image by path (kept for the life of the process)."""
_live: set[int] = set()
"""Image addresses of the located memories of live instances (under ``memory_lock``)."""
if hasattr(os, "register_at_fork"):
    # A forked child has none of the parent's instances running (and must not
    # skip a new memory because a parent's was once at its address).
    os.register_at_fork(after_in_child=_live.clear)


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


class PristineMemory:
    """One instance's linear memory and how to put it back as saved (or instantiated).

    ``[base, end)`` is the memory as instantiated: zeros, then the
    artifact's image ``[image_start, image_end)``, then zeros; past ``end``
    lie guard pages until the guest grows its memory. ``registered``: the
    range is registered with the process's userfaultfd (``_userfaultfd``),
    so restores can track writes.
    """

    def __init__(
        self, linux: Linux, *, base: int, image_start: int, image_end: int, end: int, source: int, registered: bool
    ) -> None:
        self.base, self.image_start, self.image_end, self.end = base, image_start, image_end, end
        self._linux = linux
        self._source = source
        """The address of the original of guest address a is ``_source + a``."""
        self._registered = registered
        self._scanner = Scanner(linux)
        self._probe = ctypes.create_string_buffer(1)
        self._local = Iovec(ctypes.addressof(self._probe), 1)
        self._remote = Iovec(end, 1)
        self._saved: list[tuple[int, int]] = []
        """The written ranges at ``save``; their bytes then, end to end, in ``_saved_bytes``."""
        self._saved_bytes = memoryview(b"")
        self._saved_at: dict[tuple[int, int], int] = {}
        """Where each saved range's bytes start in ``_saved_bytes``."""
        self._saved_starts: list[int] = []
        self._saved_stops: list[int] = []
        self._tracking = False
        """Every page was write-protected when the memory was last as saved: a
        page written since is one without the mark (``Scanner.unmarked``)."""
        self._marked = False
        """Pages have been write-protected: the scan for pages that differ from
        instantiation now also reports unpopulated ones (the kernel keeps their
        mark as a swap-like entry), so ``save`` must find them otherwise."""

    def written_pages(self) -> int:
        """How many pages differ from instantiation now (or may: written at some point)."""
        return sum(stop - start for start, stop in self._scanner.written(self.base, self.end)) // PAGE

    def grown(self) -> bool:
        """True once the guest has grown its memory: the page at ``end`` became
        readable (or the probe failed otherwise than on an inaccessible page)."""
        read = self._linux.read_process(os.getpid(), ctypes.byref(self._local), 1, ctypes.byref(self._remote), 1, 0)
        return read != -1 or ctypes.get_errno() != errno.EFAULT

    def save(self) -> bool:
        """Make the memory as it is now (after the trusted warm-up, before any
        script) the state ``restore`` returns to: its pages that differ from
        instantiation are copied aside. False (nothing saved) if the memory
        grew or a scan failed."""
        if self.grown():
            return False
        try:
            if self._tracking and not self._saved:
                # Marked when it was as instantiated: what differs was written since.
                ranges = self._scanner.unmarked(self.base, self.end)
            elif self._marked:
                return False
            else:
                ranges = self._scanner.written(self.base, self.end)
        except OSError:
            return False
        saved = bytearray(sum(stop - start for start, stop in ranges))
        view, at = memoryview(saved), 0
        self._saved_at = {}
        for start, stop in ranges:
            view[at : at + stop - start] = MEMORY[start:stop]
            self._saved_at[start, stop] = at
            at += stop - start
        self._saved, self._saved_bytes = ranges, view
        self._saved_starts, self._saved_stops = [start for start, _ in ranges], [stop for _, stop in ranges]
        self._mark_all()
        return True

    @property
    def saved_bytes(self) -> int:
        """The size of the state saved by ``save`` (0: none; ``restore`` returns to instantiation)."""
        return len(self._saved_bytes)

    def drop_saved(self) -> None:
        """Forget the saved state (the instance will not be restored again)."""
        self._saved, self._saved_bytes, self._saved_at = [], memoryview(b""), {}
        self._saved_starts, self._saved_stops = [], []
        self._tracking = False

    def restore(self) -> bool:
        """Put back the saved state (``save``), or the state at instantiation if
        none was saved. False (nothing restored; discard the instance) if the
        memory grew or a scan failed.

        Tracked (every page write-protected once, when the memory was last as
        saved), only the pages written since are put back: ~80 for short
        scripts, instead of every page that differs from instantiation (~370
        after a warm-up). They are not protected again: each restore would then
        cost a TLB shootdown per range (~40 µs here) and each run a fault per
        page, so the pages a pool's runs write stay unmarked and are put back
        every time. Untracked (the first restore, a system without
        userfaultfd, a forked child's inherited memory), every page that
        differs from instantiation is."""
        if self.grown():
            return False
        written = None
        if self._tracking:
            try:
                written = self._scanner.unmarked(self.base, self.end)
            except OSError:  # no longer registered: untracked from now on
                self._tracking = False
        try:
            self._put_back(self._scanner.written(self.base, self.end) if written is None else written)
        except OSError:
            return False
        if written is None:
            self._mark_all()
        return True

    def _mark_all(self) -> None:
        """The memory is as saved: write-protect every page, so that from now on
        a scan finds just the pages written since."""
        self._tracking = self._registered and write_protect(self.base, self.end)
        self._marked |= self._tracking

    def _put_back(self, ranges: list[tuple[int, int]]) -> None:
        """Copy the saved bytes, or else instantiation's, over ``ranges``.

        Slice assignments copy with the GIL held: ~100 ctypes calls would each
        release and retake it, a thread switch apiece when runs contend. One
        ``process_vm_writev`` for all ranges releases it once, but pinning the
        pages cost the daemon more CPU per run than the GIL saved."""
        saved, at_of, starts, stops = self._saved_bytes, self._saved_at, self._saved_starts, self._saved_stops
        count = len(starts)
        for start, stop in ranges:
            offset = at_of.get((start, stop))
            if offset is not None:  # nearly every range, untracked: one saved range exactly
                MEMORY[start:stop] = saved[offset : offset + stop - start]
                continue
            at = bisect.bisect_right(stops, start)  # the first saved range that ends past ``start``
            while start < stop:
                if at == count or starts[at] >= stop:
                    self._original(start, stop)
                    break
                if starts[at] > start:
                    self._original(start, starts[at])
                    start = starts[at]
                cut = min(stop, stops[at])
                offset = at_of[starts[at], stops[at]] + start - starts[at]
                MEMORY[start:cut] = saved[offset : offset + cut - start]
                start, at = cut, at + 1

    def _original(self, start: int, stop: int) -> None:
        """Copy the bytes instantiation left in ``[start, stop)`` back."""
        image_start, image_end = self.image_start, self.image_end
        if start < image_start:  # zeros before the image
            cut = min(stop, image_start)
            zero(start, cut)
            start = cut
        if start < stop and start < image_end:
            cut = min(stop, image_end)
            MEMORY[start:cut] = MEMORY[self._source + start : self._source + cut]
            start = cut
        if start < stop:  # zeros after it
            zero(start, stop)

    def forget(self) -> None:
        """The instance is being freed (call with ``memory_lock`` held)."""
        _live.discard(self.image_start)


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


def locate_memory(artifact: Path) -> PristineMemory | None:
    """The memory of the instance just made from ``artifact`` (call with
    ``memory_lock`` held, right after instantiating), or None if it cannot be
    told apart, does not look as expected or is not pristine."""
    linux = process()
    if linux is None or not linux.supported:
        return None
    path, live = str(artifact), _live
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
        registered=False,
    )
    try:
        if memory.grown() or memory.written_pages():
            return None
    except OSError:
        return None
    live.add(image_start)
    memory._registered = register(memory.base, memory.end)  # before the guest reads a page
    return memory
