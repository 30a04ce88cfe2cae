"""Per-identity token buckets: how many executions and tool calls a caller may start.

The buckets live in flat arrays (``BucketTable``) so that the worker
processes of one daemon can share them: made once by the supervisor in
shared memory, a caller's rate is the same whichever worker answers it.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._errors import ConfigError

__all__ = ["BucketTable", "RateLimit", "RateLimiter"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RateLimit:
    """The shape of one token bucket.

    Usage::

        RateLimit(per_second=10, burst=20)    # 10 a second sustained, 20 at once after a quiet spell
    """

    per_second: float
    """Tokens added per second: the sustained rate. Must be positive and finite."""

    burst: int
    """The bucket's size: how many may start at once after a quiet spell. At least 1."""

    def __post_init__(self) -> None:
        rate = self.per_second
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
            raise ConfigError(f"RateLimit.per_second={rate!r} is invalid: expected a positive number")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ConfigError(f"RateLimit.burst={self.burst!r} is invalid: expected an integer >= 1")


class BucketTable:
    """Open-addressed storage for ``max_keys`` buckets (up to twice that while
    all are active): a key's 8-byte keyed hash, its tokens and when they were
    counted, in three arrays of at least four times that many slots, guarded
    by ``lock``.

    ``allocate`` makes the arrays and lock: plain ctypes arrays and a thread
    lock by default, or shared memory and a process lock from a
    ``multiprocessing`` context, which can be handed to worker processes.
    """

    def __init__(self, max_keys: int, hashes: Any, tokens: Any, counted: Any, counts: Any, lock: Any) -> None:
        self.max_keys = max_keys
        self.hashes, self.tokens, self.counted = hashes, tokens, counted
        self.counts = counts
        """[buckets held, how many trigger the next pruning]."""
        self.lock = lock
        self.capacity = len(hashes)
        self.secret = os.urandom(16)

    @classmethod
    def allocate(cls, max_keys: int = 10_000, context: Any = None, lock: Any = None) -> BucketTable:
        """A table for ``max_keys`` buckets, guarded by a thread lock; or, when
        ``context`` (a ``multiprocessing`` context) is given, in shared memory,
        guarded by ``lock`` (a ``ProcessLock``), which it then requires."""
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ValueError(f"max_keys must be a positive integer, got {max_keys!r}")
        capacity = 1 << max(4, (4 * max_keys - 1).bit_length())  # a power of two, at least 4x the keys
        if context is None:
            arrays = (ctypes.c_uint64 * capacity)(), (ctypes.c_double * capacity)(), (ctypes.c_double * capacity)()
            table = cls(max_keys, *arrays, (ctypes.c_int64 * 2)(), threading.Lock())
        else:
            if lock is None:
                raise ValueError("a shared BucketTable needs a lock for every process (a ProcessLock)")
            arrays = tuple(context.RawArray(kind, capacity) for kind in ("Q", "d", "d"))
            table = cls(max_keys, *arrays, context.RawArray("q", 2), lock)
        table.counts[1] = max_keys
        return table

    def digest(self, key: str) -> int:
        """``key``'s keyed hash, never 0 (an empty slot): callers cannot aim at one another's buckets."""
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, key=self.secret).digest()
        return int.from_bytes(digest, "little") | 1

    def slot(self, digest: int) -> int:
        """The slot holding ``digest``, or the empty one where it goes (call with the
        lock held). The table is never more than half full, so there is one."""
        mask = self.capacity - 1
        index = digest & mask
        hashes = self.hashes
        while True:
            found = hashes[index]
            if found == digest or found == 0:
                return index
            index = (index + 1) & mask

    def keep_only(self, keep: Callable[[float, float], bool]) -> None:
        """Drop every bucket whose (tokens, counted) ``keep`` refuses, and rehash the
        rest (lock held). The next pruning waits until a quarter of ``max_keys``
        more are held (or the table is full), so that many active keys do not
        make every new one prune."""
        kept = [
            (self.hashes[i], self.tokens[i], self.counted[i])
            for i in range(self.capacity)
            if self.hashes[i] and keep(self.tokens[i], self.counted[i])
        ]
        ctypes.memset(self.hashes, 0, ctypes.sizeof(self.hashes))
        for digest, tokens, counted in kept:
            index = self.slot(digest)
            self.hashes[index], self.tokens[index], self.counted[index] = digest, tokens, counted
        self.counts[0] = len(kept)
        self.counts[1] = max(self.max_keys, len(kept) + max(1, self.max_keys // 4))


class RateLimiter:
    """One token bucket per key (an identity's name); safe to use from any
    thread, and from any process sharing its ``table``.

    Buckets are created full. A bucket that has refilled holds no more
    information than a missing one, so past the table's ``max_keys`` the full
    ones are dropped (a verifier that mints many identities cannot grow the
    table while they are idle). Should more than twice that many be active at
    once, a key with no room starts with a full bucket that is not kept.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
        table: BucketTable | None = None,
    ) -> None:
        """``table``: where the buckets are (shared with other processes, say);
        default, a new private one for ``max_keys``. ``clock`` must read alike in
        every process sharing the table (``time.monotonic`` is system-wide)."""
        self.limit = limit
        self._clock = clock
        self.table = table if table is not None else BucketTable.allocate(max_keys)

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when taken, else the seconds until one
        will be there (nothing is taken then)."""
        rate, burst = self.limit.per_second, float(self.limit.burst)
        table = self.table
        digest = table.digest(key)
        with table.lock:
            now = self._clock()
            index = table.slot(digest)
            if table.hashes[index] == 0:  # a new bucket
                if table.counts[0] >= min(table.counts[1], 2 * table.max_keys):
                    table.keep_only(lambda tokens, then: tokens + (now - then) * rate < burst)
                    index = table.slot(digest)
                if table.counts[0] >= 2 * table.max_keys:
                    return 0.0  # no room: as if its bucket were new (see the class docstring)
                table.hashes[index], table.tokens[index], table.counted[index] = digest, burst, now
                table.counts[0] += 1
            tokens = min(burst, table.tokens[index] + (now - table.counted[index]) * rate)
            table.counted[index] = now
            if tokens >= 1.0:
                table.tokens[index] = tokens - 1.0
                return 0.0
            table.tokens[index] = tokens
            return float((1.0 - tokens) / rate)

    def __len__(self) -> int:
        """Buckets held now."""
        return int(self.table.counts[0])
