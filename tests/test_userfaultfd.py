"""What registering memory with the process's userfaultfd does
(``runtime/_userfaultfd.py``), by effect.

A guest's memory maps only the pages it reads: the resident size Linux
reports for the instance's image mapping (``/proc/self/smaps``), with the
registration and without. And write-protection tells the pages written
since: what ``PAGEMAP_SCAN`` reports unmarked.
"""

from __future__ import annotations

import ctypes
import mmap

import pytest

import runtime._locate
from runtime import Limits
from runtime._driver import new_state, run_on
from runtime._engine import guest_runtime
from runtime._instance import GuestInstance
from runtime._locate import restoring_supported
from runtime._page_scan import PAGE, Scanner, process
from runtime._userfaultfd import register, write_protect


def _can_disable() -> bool:
    if not restoring_supported():
        return False
    probe = mmap.mmap(-1, mmap.PAGESIZE)
    try:
        address = ctypes.addressof(ctypes.c_char.from_buffer(probe))
        return register(address, address + mmap.PAGESIZE)
    finally:
        probe.close()


pytestmark = pytest.mark.skipif(not _can_disable(), reason="needs Linux 6.7+ with userfaultfd allowed")


def _resident_kib(address: int) -> int:
    """``Rss`` of the mapping that holds ``address``."""
    with open("/proc/self/smaps") as file:
        inside = False
        for line in file:
            head = line.split(maxsplit=1)[0]
            if "-" in head and ":" not in head:
                start, _, end = head.partition("-")
                inside = int(start, 16) <= address < int(end, 16)
            elif inside and line.startswith("Rss:"):
                return int(line.split()[1])
    raise AssertionError(f"no mapping holds {address:#x}")


def _first_run(instance: GuestInstance) -> int:
    limits = Limits(timeout=5.0)
    assert run_on(instance, "import json\nprint(json.dumps([1]))", limits, new_state(limits), fresh=True).ok
    assert instance.memory is not None
    return _resident_kib(instance.memory.image_start)


def test_a_new_instance_maps_far_fewer_pages_than_fault_around_would(
    instances: list[GuestInstance], monkeypatch: pytest.MonkeyPatch
) -> None:
    instances.append(GuestInstance(guest_runtime(fuel=False)))
    registered = _first_run(instances[0])
    monkeypatch.setattr(runtime._locate, "register", lambda start, end: False)
    instances.append(GuestInstance(guest_runtime(fuel=False)))
    plain = _first_run(instances[1])
    # Measured: ~1.2 MiB against ~7.5 MiB.
    assert registered * 3 < plain, (registered, plain)


def test_a_range_that_cannot_be_registered_is_refused() -> None:
    assert not register(0, mmap.PAGESIZE)  # nothing is mapped at address 0


def test_write_protection_tells_the_pages_written_since() -> None:
    size = 8 * PAGE
    area = mmap.mmap(-1, size)
    try:
        start = ctypes.addressof(ctypes.c_char.from_buffer(area))
        assert register(start, start + size)
        area[:] = b"x" * size
        linux = process()
        assert linux is not None
        scanner = Scanner(linux)
        assert scanner.unmarked(start, start + size) == [(start, start + size)]
        assert write_protect(start, start + size)
        assert scanner.unmarked(start, start + size) == []
        area[3 * PAGE] = 1
        area[4 * PAGE + 7] = 2
        assert scanner.unmarked(start, start + size) == [(start + 3 * PAGE, start + 5 * PAGE)]
        assert (area[3 * PAGE], area[4 * PAGE + 7], area[5 * PAGE]) == (1, 2, ord("x"))  # the writes went through
    finally:
        area.close()


def test_unregistered_memory_cannot_be_write_protected_or_scanned_for_marks() -> None:
    area = mmap.mmap(-1, PAGE)
    try:
        start = ctypes.addressof(ctypes.c_char.from_buffer(area))
        linux = process()
        assert linux is not None
        assert not write_protect(start, start + PAGE)
        with pytest.raises(OSError):
            Scanner(linux).unmarked(start, start + PAGE)
    finally:
        area.close()
