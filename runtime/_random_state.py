"""A new random sequence for every run on a restored instance.

A restored instance's memory is its state saved after the warm-up, the
state of ``random``'s generator included, so every run would draw the same
numbers; componentize-py reseeds ``random`` only on the first call after
instantiation. So after each restore the host writes a new generator state
itself: 624 words from ``os.urandom`` over the Mersenne Twister state of
``random._inst`` (CPython's ``RandomObject``: the object header, ``int
index``, ``uint32_t state[624]``), at the address the trusted warm-up
reported. Seeding in the guest instead cost each run 15-35 us.

The warm-up also reports the object's type and some of its state words,
and the layout is used only if memory holds exactly those: with another
CPython layout the instance is not saved (a restore then goes back to
instantiation, where componentize-py reseeds) rather than misread.
"""

from __future__ import annotations

import json
import os

from ._abi import MEMORY

__all__ = ["LOCATE_RANDOM", "RandomState"]

LOCATE_RANDOM = (
    "import random\n_r = random._inst\n_s = _r.getstate()[1]\n[id(_r), id(type(_r)), _s[-1], _s[0], _s[1], _s[623]]"
)
"""A trusted warm-up script: the generator's address and what memory must show there."""

_WORDS = 624
_TYPE_AT, _INDEX_AT, _STATE_AT = 4, 8, 12
"""Offsets in a wasm32 ``RandomObject``: after ``ob_refcnt``, ``ob_type``, ``index``."""
_SIZE = _STATE_AT + 4 * _WORDS


def _word(address: int) -> int:
    return int.from_bytes(MEMORY[address : address + 4], "little")


class RandomState:
    """Where one instance's ``random._inst`` keeps its state, verified."""

    def __init__(self, address: int) -> None:
        self._index = address + _INDEX_AT
        self._state = address + _STATE_AT

    @classmethod
    def found(cls, reply: str, base: int, size: int) -> RandomState | None:
        """From the reply to ``LOCATE_RANDOM`` on the memory at ``base`` (``size``
        bytes): the state, if memory holds what the guest reported, else None."""
        try:
            value = json.loads(reply).get("value")
        except (ValueError, AttributeError):
            return None
        if not (isinstance(value, list) and len(value) == 6 and all(type(item) is int for item in value)):
            return None
        address, type_id, index, first, second, last = value
        if not 0 <= address <= size - _SIZE:
            return None
        at = base + address
        shown = (
            _word(at + _TYPE_AT),
            _word(at + _INDEX_AT),
            _word(at + _STATE_AT),
            _word(at + _STATE_AT + 4),
            _word(at + _STATE_AT + 4 * (_WORDS - 1)),
        )
        return cls(at) if shown == (type_id, index, first, second, last) else None

    @property
    def span(self) -> tuple[int, int]:
        """The bytes ``reseed`` writes: ``[start, end)``, host addresses."""
        return self._index, self._state + 4 * _WORDS

    def reseed(self) -> None:
        """A new state from ``os.urandom``; the next draw regenerates from it."""
        state = bytearray(os.urandom(4 * _WORDS))
        state[3] |= 0x80  # as CPython's seeding does: the state is never all zeros
        MEMORY[self._state : self._state + 4 * _WORDS] = state
        MEMORY[self._index : self._index + 4] = _WORDS.to_bytes(4, "little")
