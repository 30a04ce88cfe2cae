"""What every peer of the comparison (``test_peers.py``) offers, and helpers they share.

A peer is something that runs a Python script for an application: otc-runtime
itself, plain ``exec`` (no isolation), a CPython subprocess, pydantic-monty,
smolagents' ``LocalPythonExecutor``. Each adapter says what it isolates and
what it does not, whether it can run here (``available``), and offers
fresh runs with tools granted (``runner``), sessions that keep state
(``session``) and a memory probe (``live_sandboxes``). A scenario a peer
cannot do raises ``NotSupported`` with the reason, shown as ``n/a: reason``.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "MemorySample",
    "NotSupported",
    "Outcome",
    "Peer",
    "PeerSession",
    "Runner",
    "Tools",
    "background_loop",
    "limit_concurrency",
    "process_memory",
]

Tools = Mapping[str, Callable[..., Any]]
"""Host functions granted to a run, by the name scripts call them; sync or ``async``."""


class NotSupported(Exception):
    """The peer cannot do this scenario; ``reason`` says why (the report shows ``n/a: <reason>``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run produced: its printed output and the value of its last expression."""

    stdout: str
    value: Any


@dataclass(frozen=True, slots=True)
class MemorySample:
    """Memory held per live sandbox (a session that has run one script)."""

    rss_mib: float
    """Resident set size added per live sandbox, in MiB (its worker process's, for a peer that has one)."""
    private_mib: float
    """Of which ``Private_Dirty``: memory no other sandbox or process shares (RSS also counts shared pages)."""
    detail: str
    """How it was measured and the breakdown (private, shared)."""


class Runner(Protocol):
    """Fresh isolated runs with a fixed set of tools; safe to call from several threads."""

    def prepare(self) -> None:
        """Untimed, before each timed run: get ready as the peer's own warm-up would (a warm pool, a worker)."""

    def run(self, code: str) -> Outcome:
        """Run ``code`` in a fresh environment; raises on a failed run."""

    def close(self) -> None: ...


class PeerSession(Protocol):
    """One environment kept across runs (variables survive from one run to the next)."""

    def run(self, code: str) -> Outcome: ...

    def close(self) -> None: ...


class Peer(Protocol):
    """One way to run untrusted Python, as the comparison sees it."""

    name: str
    isolates: str
    """What a script cannot reach or break, in one line."""
    does_not_isolate: str
    """What it still shares with the host, in one line."""

    def available(self) -> str | None:
        """None when the peer runs on this machine; otherwise why not (not installed, unusable)."""

    def version(self) -> str: ...

    def start(self) -> None:
        """Create what the scenarios share (pools); called once, before any scenario."""

    def close(self) -> None: ...

    def runner(self, tools: Tools, *, concurrency: int) -> Runner:
        """Fresh runs granting ``tools`` (at most ``concurrency`` async calls in flight); may raise ``NotSupported``."""

    def session(self) -> PeerSession: ...

    def live_sandboxes(self, n: int, code: str, expected: str) -> MemorySample:
        """Create ``n`` sessions, run ``code`` in each (checking it printed ``expected``), measure, close them."""


def limit_concurrency(tools: Tools, concurrency: int) -> dict[str, Callable[..., Any]]:
    """``tools`` with every async one behind one semaphore: at most ``concurrency`` in flight.

    Build it anew for every event loop (a semaphore belongs to the loop it first waits on).
    """
    gate = asyncio.Semaphore(concurrency)

    def limited(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            async with gate:
                return await function(*args, **kwargs)

        return call

    return {name: limited(fn) if inspect.iscoroutinefunction(fn) else fn for name, fn in tools.items()}


_LOOP: list[asyncio.AbstractEventLoop] = []
_LOOP_LOCK = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """One event loop on a daemon thread, shared by the peers that serve async tools from another thread."""
    with _LOOP_LOCK:
        if not _LOOP:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="peers-loop", daemon=True).start()
            _LOOP.append(loop)
        return _LOOP[0]


def process_memory(pid: int | str = "self") -> dict[str, int]:
    """Bytes by kind (``Rss``, ``Pss``, ``Private_Dirty``, ...) of a process, from ``/proc/<pid>/smaps_rollup``."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[key] = int(parts[0]) * 1024
    return fields
