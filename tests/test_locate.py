"""A new instance's memory is found however many other guests map the same
artifact (``runtime/_locate.py``).

An instance made without locating its memory (a pool of size 0) maps the
artifact too; its mapping must not hide every later instance's: before the
fix one such instance alive made each later one unrestorable, for the life
of the process.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import runtime._locate
from runtime import Sandbox
from runtime._engine import guest_runtime
from runtime._instance import GuestInstance
from runtime._locate import restoring_supported

pytestmark = pytest.mark.skipif(not restoring_supported(), reason="needs Linux 6.7+ (PAGEMAP_SCAN)")


def test_instances_are_located_while_an_unlocated_one_is_alive(instances: list[GuestInstance]) -> None:
    guest = guest_runtime(fuel=False)
    instances.append(GuestInstance(guest, located=False))
    instances.extend(GuestInstance(guest) for _ in range(3))
    assert [instance.memory is not None for instance in instances] == [False, True, True, True]
    assert len({instance.memory.base for instance in instances[1:] if instance.memory}) == 3


def test_a_mapping_no_located_memory_owns_costs_at_most_one_instance(
    instances: list[GuestInstance], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mapping the module did not see made (here: one it was made to
    forget) is found at the next look; the instance after is located."""
    guest = guest_runtime(fuel=False)
    instances.append(GuestInstance(guest))
    assert instances[0].memory is not None
    monkeypatch.setattr(runtime._locate, "_strays", set())
    runtime._locate.forget_memory(instances[0].memory)
    instances.extend(GuestInstance(guest) for _ in range(2))
    assert instances[2].memory is not None


def test_a_pool_keeps_restoring_beside_a_sandbox_without_one() -> None:
    """A size-0 sandbox's used instances wait for its pool's thread, which
    frees them only when none of its runs is in flight: the benchmark that
    found this had ~60 still mapped when it made its next sandbox."""
    plain = Sandbox(pool_size=0)
    busy = threading.Thread(target=plain.run, args=("import time\ntime.sleep(1.5)",))
    busy.start()
    made: list[GuestInstance] = []
    original = GuestInstance.__init__

    def recording(self: GuestInstance, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    try:
        for i in range(3):
            assert plain.run(f"{i}").value == i  # each leaves its instance mapped
        with Sandbox(pool_size=2) as pooled, pytest.MonkeyPatch.context() as patch:
            patch.setattr(GuestInstance, "__init__", recording)
            for i in range(20):
                assert pooled.run(f"{i}").value == i
        # Restored pool instances serve all 20 runs; unlocated ones, one each.
        assert len(made) < 10, f"{len(made)} instances for 20 runs"
    finally:
        busy.join()
        plain.close()
