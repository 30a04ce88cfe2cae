"""List the snapshot's objects, so the build can make them immortal.

Runs once, at build time, as the last thing before componentize-py takes the
snapshot. A run's ``Py_INCREF``/``Py_DECREF`` on an object of the snapshot
(a module, a function, a type, an interned name) writes its reference count,
and that write copies the object's whole page into the instance: about a
third of the pages a trivial fresh run copied were refcount traffic. CPython
skips the write for an immortal object, but has no Python API to make one,
so this module lists every live object (its address and its type's), and
the host-side build step (``runtime/_immortal.py``) sets their counts to the
immortal value in the built component's data.

Only objects reachable now are listed; the build checks each entry against
the snapshot before patching it (see there), so an object freed after the
listing is skipped, never patched.
"""

import array
import gc
import sys
import zlib

import guest_warmup

_MARKER = b"otc-immortal" + bytes([45, 118, 49, 0])
"""The listing's first bytes, ``otc-immortal-v1`` and a NUL (built at run
time, so the bytes are not also among this module's code constants)."""


def _listing() -> array.array:
    """The marker, the pair count, a CRC-32 of the pairs, then the pairs.

    Lean on memory: the heap only grows, so whatever this allocates stays in
    every instance's image. One bit per 8-byte slot marks what is listed,
    and the pairs go straight into the array that is the listing.
    """
    gc.disable()  # a collection now could free something already listed
    gc.unfreeze()  # get_objects() leaves the frozen generation out
    try:
        listing = array.array("I", _MARKER + bytes(8))
        tracked = gc.get_objects()
        seen = bytearray((max(map(id, tracked)) >> 6) * 5 // 4)
        # The heap-gap fillers are never used: listing them would only cost memory.
        skip = id(guest_warmup._FILLER)
        todo = []
        for obj in tracked:
            if not sys._is_immortal(obj):
                listing.append(id(obj))
                listing.append(id(type(obj)))
            if id(obj) == skip:
                continue
            # Strings, numbers and atom-only tuples and dicts are not tracked
            # by the GC: they are reached as what the tracked objects refer to.
            todo.extend(gc.get_referents(obj))
            while todo:
                ref = todo.pop()
                at = id(ref) >> 3
                if gc.is_tracked(ref) or sys._is_immortal(ref):
                    continue
                while at >> 3 >= len(seen):
                    seen.extend(bytes(len(seen)))
                if seen[at >> 3] & (1 << (at & 7)):
                    continue
                seen[at >> 3] |= 1 << (at & 7)
                listing.append(id(ref))
                listing.append(id(type(ref)))
                todo.extend(gc.get_referents(ref))
        del tracked, seen, todo
    finally:
        gc.freeze()
        gc.enable()
    listing[4] = len(listing) - 6  # in 32-bit words: two per object
    listing[5] = zlib.crc32(memoryview(listing)[6:])
    return listing


LISTING = _listing()
"""Kept alive, so the snapshot holds it for the build step to find."""
