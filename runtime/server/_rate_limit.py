"""Per-identity token buckets: how many executions and tool calls a caller may start."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._errors import ConfigError

__all__ = ["RateLimit", "RateLimiter"]


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


class RateLimiter:
    """One token bucket per key (an identity's name); safe to use from any thread.

    Buckets are created full. A bucket that has refilled holds no more
    information than a missing one, so past ``max_keys`` buckets the full
    ones are dropped (a verifier that mints many identities cannot grow the
    table without bound while they are active).
    """

    def __init__(
        self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when they were counted)

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when taken, else the seconds until one
        will be there (nothing is taken then)."""
        rate, burst = self.limit.per_second, self.limit.burst
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - then) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self._max_keys:
                    self._prune(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate

    def _prune(self, now: float) -> None:
        rate, burst = self.limit.per_second, self.limit.burst
        full = [key for key, (tokens, then) in self._buckets.items() if tokens + (now - then) * rate >= burst]
        for key in full:
            del self._buckets[key]
