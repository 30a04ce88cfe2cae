"""Build step: make the snapshot's objects immortal in the built component.

The guest lists, at build time, every object of its snapshot with its type
(``wasm/guest/guest_immortal.py``). Here, on the host, each listed object's
reference count in the component's data is set to CPython's immortal value,
so a run's ``Py_INCREF``/``Py_DECREF`` on it writes nothing and copies no page.

The snapshot is the data section of one core module: active segments at
constant addresses of linear memory. Every entry is checked against it
before it is patched: the object's type pointer must still be the listed
type and its count a live object's (at least 1, far below immortal). A
chunk freed after the listing fails that check (malloc keeps its free-list
links there), so it is left alone. Segment sizes never change, so the
component is patched in place.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from dataclasses import dataclass

from ._errors import GuestBuildError
from ._wasm_binary import COMPONENT_PREAMBLE, END, GLOBAL_GET, I32_CONST, read_leb, read_sleb32, sections

__all__ = ["ImmortalStats", "immortalize"]

_MARKER = b"otc-immortal-v1\0"
_IMMORTAL_REFCNT = 5 << 28
"""CPython 3.14's ``_Py_IMMORTAL_INITIAL_REFCNT`` on 32-bit targets (wasm32): at
least ``1 << 30`` counts as immortal; statically allocated objects carry ``7 << 28``."""
_MAX_LIVE_REFCNT = 1 << 20
"""A higher count than any snapshot object has; a free chunk's link (an address) is higher."""
_CORE_MODULE_SECTION = 1
_DATA_SECTION = 11
_WORD = struct.Struct("<I")


@dataclass(frozen=True, kw_only=True)
class ImmortalStats:
    """What ``immortalize`` did."""

    listed: int
    """Objects the guest listed."""
    patched: int
    """Objects whose reference count is now immortal."""


@dataclass(frozen=True)
class _Segment:
    address: int
    offset: int  # of its bytes in the component
    size: int


def _data_segments(data: bytes | bytearray, start: int, end: int) -> list[_Segment]:
    """The active segments at constant addresses of a core module's data section."""
    segments = []
    for section, payload, _size in sections(data, start + 8, end):
        if section != _DATA_SECTION:
            continue
        count, at = read_leb(data, payload)
        for _ in range(count):
            flags, at = read_leb(data, at)
            if flags == 1:  # passive: no address
                length, at = read_leb(data, at)
                at += length
                continue
            if flags == 2:
                _, at = read_leb(data, at)  # memory index
            opcode = data[at]
            if opcode == I32_CONST:
                address, at = read_sleb32(data, at + 1)
            elif opcode == GLOBAL_GET:  # an address known only when linked: not the snapshot
                address, at = -1, read_leb(data, at + 1)[1]
            else:
                raise GuestBuildError(f"a data segment's address is an unsupported expression (opcode {opcode:#x})")
            if data[at] != END:
                raise GuestBuildError("a data segment's address is not a single constant")
            length, at = read_leb(data, at + 1)
            if address >= 0:
                segments.append(_Segment(address, at, length))
            at += length
    return segments


def _snapshot(component: bytearray) -> list[_Segment]:
    """The data segments of the core module that holds the guest's listing."""
    if not component.startswith(COMPONENT_PREAMBLE):
        raise GuestBuildError("the guest build did not produce a WebAssembly component")
    for section, payload, size in sections(component, len(COMPONENT_PREAMBLE), len(component)):
        if section != _CORE_MODULE_SECTION:
            continue
        segments = _data_segments(component, payload, payload + size)
        if any(component.find(_MARKER, s.offset, s.offset + s.size) >= 0 for s in segments):
            return segments
    raise GuestBuildError("the guest component has no object listing (guest_immortal did not run)")


def _listing(memory: bytearray) -> tuple[int, ...]:
    """The guest's (address, type address) pairs, flattened.

    The marker's bytes can also be elsewhere (the guest built them, and a
    freed copy keeps its bytes), so the listing is the one whose checksum holds."""
    at = memory.find(_MARKER)
    while at >= 0:
        head = at + len(_MARKER)
        if head + 8 <= len(memory):
            count, checksum = struct.unpack_from("<II", memory, head)
            body = memory[head + 8 : head + 8 + 4 * count]
            if count and count % 2 == 0 and len(body) == 4 * count and zlib.crc32(body) == checksum:
                return struct.unpack(f"<{count}I", body)
        at = memory.find(_MARKER, at + 1)
    raise GuestBuildError("the guest component's object listing is missing or damaged")


def immortalize(component: bytearray) -> ImmortalStats:
    """Set the listed objects' reference counts to immortal, in place.

    Raises ``GuestBuildError`` when the component has no listing, the listing
    is damaged, or most of it does not match the snapshot (a guest built
    some other way than ``guest_immortal`` assumes).
    """
    segments = sorted(_snapshot(component), key=lambda s: s.address)
    top = max(s.address + s.size for s in segments)
    memory = bytearray(top)
    for s in segments:
        memory[s.address : s.address + s.size] = component[s.offset : s.offset + s.size]
    listing = _listing(memory)
    starts = [s.address for s in segments]
    patched = 0
    for address, type_address in zip(listing[::2], listing[1::2], strict=True):
        # Only a count wholly inside one segment is written back: the data
        # leaves out runs of zeros, which can begin inside a small count.
        where = bisect.bisect_right(starts, address) - 1
        if where < 0 or address + 4 > segments[where].address + segments[where].size or address + 8 > top:
            continue
        refcnt, kind = struct.unpack_from("<II", memory, address)
        if kind == type_address and 1 <= refcnt < _MAX_LIVE_REFCNT:
            _WORD.pack_into(memory, address, _IMMORTAL_REFCNT)
            patched += 1
    listed = len(listing) // 2
    if patched < listed // 2:
        raise GuestBuildError(f"only {patched} of the {listed} listed objects match the snapshot")
    for s in segments:
        component[s.offset : s.offset + s.size] = memory[s.address : s.address + s.size]
    return ImmortalStats(listed=listed, patched=patched)
