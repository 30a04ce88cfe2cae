"""The build makes the snapshot's objects immortal, and patches nothing else."""

from __future__ import annotations

import struct
import zlib

import pytest

from runtime import GuestBuildError, Sandbox
from runtime._immortal import _IMMORTAL_REFCNT, _MARKER, immortalize

_TYPE = 0x2000  # a made-up type object's address in the fake snapshots below
_OBJECTS = 0x1000


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _section(section: int, payload: bytes) -> bytes:
    return bytes([section]) + _leb(len(payload)) + payload


def _component(segments: dict[int, bytes]) -> bytearray:
    """A component whose one core module holds ``segments`` (address: bytes) as its data."""
    data = _leb(len(segments)) + b"".join(
        b"\x00\x41" + _leb(address) + b"\x0b" + _leb(len(content)) + content for address, content in segments.items()
    )
    module = b"\0asm\x01\0\0\0" + _section(11, data)
    return bytearray(b"\0asm\x0d\x00\x01\x00" + _section(1, module))


def _listing(pairs: list[tuple[int, int]], *, damage: bool = False) -> bytes:
    body = b"".join(struct.pack("<II", address, kind) for address, kind in pairs)
    checksum = zlib.crc32(body) ^ (1 if damage else 0)
    return _MARKER + struct.pack("<II", 2 * len(pairs), checksum) + body


def _objects(*refcounts: int) -> bytes:
    """Objects 16 bytes apart: a reference count, then the type pointer."""
    return b"".join(struct.pack("<II8x", refcount, _TYPE) for refcount in refcounts)


def _refcounts(component: bytearray, at: int, count: int) -> list[int]:
    """The counts of ``count`` objects whose bytes start at ``at`` in ``component``."""
    return [struct.unpack_from("<I", component, at + 16 * i)[0] for i in range(count)]


def test_listed_objects_become_immortal_and_the_rest_stay_as_they_were() -> None:
    pairs = [(_OBJECTS, _TYPE), (_OBJECTS + 16, _TYPE), (_OBJECTS + 32, _TYPE)]
    objects = _objects(3, 1, 7, 5)
    component = _component({_OBJECTS: objects, 0x4000: _listing(pairs)})
    at = component.find(objects)
    before = bytes(component)
    stats = immortalize(component)
    assert (stats.listed, stats.patched) == (3, 3)
    assert _refcounts(component, at, 4) == [_IMMORTAL_REFCNT] * 3 + [5]  # the unlisted fourth is untouched
    assert len(component) == len(before)
    changed = [i for i, (a, b) in enumerate(zip(before, component, strict=True)) if a != b]
    assert len(changed) <= 3 * 4  # nothing but the three counts


@pytest.mark.parametrize(
    ("refcount", "kind"),
    [(0, _TYPE), (0x0012_3458, _TYPE), (2, _TYPE + 8)],
    ids=["count-zero", "count-an-address", "another-type"],
)
def test_an_entry_that_does_not_match_the_snapshot_is_left_alone(refcount: int, kind: int) -> None:
    # Four good entries and one that reads like a freed chunk (malloc's links
    # where the count and type were) or like some other object.
    pairs = [(_OBJECTS + 16 * i, _TYPE) for i in range(4)] + [(_OBJECTS + 64, kind)]
    objects = _objects(1, 1, 1, 1, refcount)
    component = _component({_OBJECTS: objects, 0x4000: _listing(pairs)})
    at = component.find(objects)
    stats = immortalize(component)
    assert (stats.listed, stats.patched) == (5, 4)
    assert _refcounts(component, at, 5) == [_IMMORTAL_REFCNT] * 4 + [refcount]


def test_the_listing_is_found_past_a_stray_copy_of_its_marker() -> None:
    pairs = [(_OBJECTS, _TYPE)]
    stray = _MARKER + b"\xff" * 12  # the guest's freed copy of the marker
    component = _component({_OBJECTS: _objects(2), 0x3000: stray, 0x4000: _listing(pairs)})
    assert immortalize(component).patched == 1


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ({_OBJECTS: _objects(1)}, "no object listing"),
        ({_OBJECTS: _objects(1), 0x4000: _listing([(_OBJECTS, _TYPE)], damage=True)}, "missing or damaged"),
        ({_OBJECTS: _objects(1, 1), 0x4000: _listing([(_OBJECTS, _TYPE + 8), (_OBJECTS + 16, _TYPE + 8)])}, "match"),
    ],
    ids=["no-listing", "damaged-listing", "listing-of-another-snapshot"],
)
def test_a_component_the_step_cannot_trust_fails_the_build(segments: dict[int, bytes], message: str) -> None:
    component = _component(segments)
    before = bytes(component)
    with pytest.raises(GuestBuildError, match=message):
        immortalize(component)
    assert bytes(component) == before


def test_not_a_component_fails_the_build() -> None:
    with pytest.raises(GuestBuildError, match="not produce a WebAssembly component"):
        immortalize(bytearray(b"\0asm\x01\0\0\0"))


def test_the_guest_snapshot_objects_are_immortal_and_a_run_s_are_not(sandbox: Sandbox) -> None:
    result = sandbox.run(
        "import sys, json\n"
        "made = {'new': [1, 2]}\n"
        "[sys._is_immortal(json.dumps), sys._is_immortal(json), sys._is_immortal(json.JSONDecoder),\n"
        " sys._is_immortal(made), sys._is_immortal(made['new'])]"
    )
    assert result.value == [True, True, True, False, False], result.error


def test_immortal_snapshot_objects_still_behave(sandbox: Sandbox) -> None:
    # Dropping, replacing and copying what the snapshot holds works as in CPython.
    result = sandbox.run(
        "import sys, statistics\n"
        "old = statistics.mean\n"
        "del statistics.mean\n"
        "statistics.mean = lambda xs: 'replaced'\n"
        "copy = dict(statistics.__dict__)\n"
        "copy.clear()\n"
        "out = [statistics.mean([1]), old([1, 2])]\n"
        "del old\n"
        "out + [sys.getrefcount(statistics) > 1 << 20]"
    )
    assert result.value == ["replaced", 1.5, True], result.error
    assert sandbox.run("import statistics\nstatistics.mean([2, 4])").value == 3  # the next run is fresh


def test_a_count_cut_by_a_gap_in_the_data_is_left_alone() -> None:
    # The data leaves out runs of zeros: here the second count's three zero
    # bytes are in no segment, so an immortal value could not be written back.
    first = _objects(1)
    pairs = [(_OBJECTS, _TYPE), (_OBJECTS + 16, _TYPE)]
    segments = {_OBJECTS: first, _OBJECTS + 16: b"\x02", _OBJECTS + 20: struct.pack("<I", _TYPE)}
    component = _component({**segments, 0x4000: _listing(pairs)})
    at = component.find(first)
    before = bytes(component)
    stats = immortalize(component)
    assert (stats.listed, stats.patched) == (2, 1)
    assert _refcounts(component, at, 1) == [_IMMORTAL_REFCNT]
    assert component[at + 16 :] == before[at + 16 :]  # the first count is the only change
