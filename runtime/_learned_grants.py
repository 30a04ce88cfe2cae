"""The tool subsets a pool's runs are granted often, for its warm-ups to parse ahead.

A run granted all of its sandbox's tools, or none, finds its options already
parsed in a warm interpreter: the warm-up parsed them before the state its
restores return to was saved. A run granted a subset (``only_tools``, or a
daemon request naming some of the tools) parses them itself, and writes to
pages no warm-up wrote: ~25 µs more per fresh run. A sandbox's runs are
usually granted a few subsets over and over (an agent's tool list, a
daemon client's), so the pool learns them: a subset granted ``LEARN_AFTER``
times is parsed by the warm-ups from then on, up to ``MAX_LEARNED`` subsets,
after which the pool stops learning (each new one costs every pooled
interpreter a new warm-up). The pool replaces an interpreter warmed before
only as it comes back while no other run is in flight: the replacement's
warm-up waits for an idle pool, so under steady load the old ones stay.
"""

from __future__ import annotations

import threading

__all__ = ["LEARN_AFTER", "MAX_LEARNED", "LearnedGrants"]

LEARN_AFTER = 3
"""Grants of one subset before warm-ups parse it."""
MAX_LEARNED = 4
"""Subsets learned at most, per pool."""
_MAX_COUNTED = 256
"""Distinct subsets counted at once; past it the counts start over (no eviction order to keep)."""


class LearnedGrants:
    """Counts the subsets of ``names`` runs are granted; thread-safe."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._all = frozenset(names)
        self._counts: dict[tuple[str, ...], int] = {}
        self._learned: tuple[tuple[str, ...], ...] = ()
        self._lock = threading.Lock()

    @property
    def grants(self) -> tuple[tuple[str, ...], ...]:
        """The learned subsets, oldest first: what a warm-up parses besides all and none."""
        return self._learned

    def note(self, names: tuple[str, ...]) -> bool:
        """A run was granted the tools ``names`` (in the sandbox's order); True
        when that made it a learned subset (warm-ups from now on parse it)."""
        if not names or len(self._learned) >= MAX_LEARNED or frozenset(names) == self._all:
            return False
        with self._lock:
            if names in self._learned or len(self._learned) >= MAX_LEARNED:
                return False
            if len(self._counts) >= _MAX_COUNTED:
                self._counts.clear()
            count = self._counts[names] = self._counts.get(names, 0) + 1
            if count < LEARN_AFTER:
                return False
            del self._counts[names]
            self._learned += (names,)
            return True
