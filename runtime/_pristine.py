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
is found (``_locate``). If the kernel lacks ``PAGEMAP_SCAN``, or anything
about the layout is unexpected, instances are simply not restored (each run
gets a new one, as before).
"""

from __future__ import annotations

import bisect
import ctypes
import errno
import os

from ._abi import MEMORY
from ._page_scan import PAGE, Iovec, Linux, Scanner, zeros
from ._userfaultfd import write_protect

__all__ = ["PristineMemory"]


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
        self._saved_stops: list[int] = []
        """The saved ranges' ends, to search."""
        self._saved_offsets: list[int] = []
        """Where each saved range's bytes start in ``_saved_bytes``."""
        self._copied: list[tuple[int, int]] = []
        self._copies: list[tuple[slice, memoryview]] = []
        """The copies that put back the ranges ``_copied``: the last restore's.
        The pages short runs write are much the same every time, so the next
        restore of the same ranges reuses them instead of working them out."""
        self._tracking = False
        """Every page was write-protected when the memory was last as saved: a
        page written since is one without the mark (``Scanner.unmarked``)."""
        self._marked_by = 0
        """The process that write-protected pages here, if any: the scan for
        pages that differ from instantiation then also reports unpopulated
        ones (the kernel keeps their mark as a swap-like entry). A forked
        child's copy of the memory has no marks."""

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
            elif self._marks():
                return False
            else:
                ranges = self._scanner.written(self.base, self.end)
        except OSError:
            return False
        saved = bytearray(sum(stop - start for start, stop in ranges))
        view, at, offsets = memoryview(saved), 0, []
        for start, stop in ranges:
            view[at : at + stop - start] = MEMORY[start:stop]
            offsets.append(at)
            at += stop - start
        self._saved, self._saved_bytes = ranges, view
        self._saved_stops, self._saved_offsets = [stop for _, stop in ranges], offsets
        self._copied, self._copies = [], []
        self._mark_all()
        return True

    @property
    def saved_bytes(self) -> int:
        """The size of the state saved by ``save`` (0: none; ``restore`` returns to instantiation)."""
        return len(self._saved_bytes)

    def drop_saved(self) -> None:
        """Forget the saved state (the instance will not be restored again)."""
        self._saved, self._saved_bytes = [], memoryview(b"")
        self._saved_stops, self._saved_offsets = [], []
        self._copied, self._copies = [], []
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
            except OSError:  # no longer registered (a forked child): untracked from now on
                self._tracking = False
        if written is None and self._marks():
            return False  # marks but no tracking: a scan would take every page for written
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
        if self._registered:
            self._marked_by = os.getpid()  # a failed call may have marked some
        self._tracking = self._registered and write_protect(self.base, self.end)

    def _marks(self) -> bool:
        """This process write-protected pages here (see ``_marked_by``)."""
        return self._marked_by == os.getpid()

    def _put_back(self, ranges: list[tuple[int, int]]) -> None:
        """Copy the saved bytes, or else instantiation's, over ``ranges``.

        Slice assignments copy with the GIL held: ~100 ctypes calls would each
        release and retake it, a thread switch apiece when runs contend. One
        ``process_vm_writev`` for all ranges releases it once, but pinning the
        pages cost the daemon more CPU per run than the GIL saved."""
        if ranges != self._copied:
            self._copies = [copy for start, stop in ranges for copy in self._copies_for(start, stop)]
            self._copied = ranges
        for target, source in self._copies:
            MEMORY[target] = source

    def _copies_for(self, start: int, stop: int) -> list[tuple[slice, memoryview]]:
        """The copies that put back ``[start, stop)``: saved bytes where it was saved, else instantiation's."""
        saved, ranges_saved, stops, offsets = self._saved_bytes, self._saved, self._saved_stops, self._saved_offsets
        count = len(stops)
        copies = []
        at = bisect.bisect_right(stops, start)  # the first saved range that ends past ``start``
        while start < stop:
            if at == count or ranges_saved[at][0] >= stop:
                copies += self._original(start, stop)
                break
            first = ranges_saved[at][0]
            if first > start:
                copies += self._original(start, first)
                start = first
            cut = min(stop, stops[at])
            offset = offsets[at] + start - first
            copies.append((slice(start, cut), saved[offset : offset + cut - start]))
            start, at = cut, at + 1
        return copies

    def _original(self, start: int, stop: int) -> list[tuple[slice, memoryview]]:
        """The copies that put the bytes instantiation left in ``[start, stop)`` back."""
        image_start, image_end = self.image_start, self.image_end
        copies = []
        if start < image_start:  # zeros before the image
            cut = min(stop, image_start)
            copies += zeros(start, cut)
            start = cut
        if start < stop and start < image_end:
            cut = min(stop, image_end)
            copies.append((slice(start, cut), MEMORY[self._source + start : self._source + cut]))
            start = cut
        if start < stop:  # zeros after it
            copies += zeros(start, stop)
        return copies
