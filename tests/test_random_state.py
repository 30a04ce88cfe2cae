"""``RandomState``: a generator state is used only where memory shows what the warm-up reported."""

from __future__ import annotations

import ctypes
import json
import struct

import pytest

from runtime._random_state import RandomState

TYPE_ID, INDEX = 0x1234, 624
SIZE = 4096


@pytest.fixture
def memory() -> ctypes.Array[ctypes.c_char]:
    """A fake linear memory with a ``RandomObject`` at offset 64."""
    buffer = ctypes.create_string_buffer(SIZE)
    words = [7, TYPE_ID, INDEX, *range(100, 100 + 624)]
    struct.pack_into(f"<{len(words)}I", buffer, 64, *words)
    return buffer


def _reply(*value: object) -> str:
    return json.dumps({"value": list(value)})


def _found(memory: ctypes.Array[ctypes.c_char], reply: str) -> RandomState | None:
    return RandomState.found(reply, ctypes.addressof(memory), SIZE)


def test_the_reported_layout_is_found_and_reseeded(memory: ctypes.Array[ctypes.c_char]) -> None:
    state = _found(memory, _reply(64, TYPE_ID, INDEX, 100, 101, 723))
    assert state is not None
    before = memory.raw
    state.reseed()
    index, *words = struct.unpack_from("<625I", memory, 72)
    assert index == 624  # the next draw regenerates from the new state
    assert words[0] & 0x80000000
    assert words != list(range(100, 100 + 624))
    assert memory.raw[:72] == before[:72] and memory.raw[76 + 4 * 624 :] == before[76 + 4 * 624 :]


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(_reply(64, TYPE_ID + 1, INDEX, 100, 101, 723), id="other-type"),
        pytest.param(_reply(64, TYPE_ID, INDEX, 100, 101, 724), id="other-state"),
        pytest.param(_reply(60, TYPE_ID, INDEX, 100, 101, 723), id="other-address"),
        pytest.param(_reply(SIZE - 100, TYPE_ID, INDEX, 100, 101, 723), id="past-the-end"),
        pytest.param(_reply(-4, TYPE_ID, INDEX, 100, 101, 723), id="negative"),
        pytest.param(_reply(64, TYPE_ID, INDEX, 100, 101), id="too-short"),
        pytest.param(_reply(64, TYPE_ID, True, 100, 101, 723), id="a-bool"),
        pytest.param('{"value": null}', id="no-value"),
        pytest.param("[1, 2]", id="not-an-object"),
        pytest.param("not json", id="not-json"),
    ],
)
def test_anything_else_is_refused(memory: ctypes.Array[ctypes.c_char], reply: str) -> None:
    before = memory.raw
    assert _found(memory, reply) is None
    assert memory.raw == before
