"""Per-run state the host keeps for a guest, found by its store's context.

Host functions and the epoch check are defined once on a shared linker, so
they find the run they serve through ``REGISTRY``, keyed by the calling
store's context. Everything here is host-owned: the guest can only reach it
through the checked host functions in ``runtime._imports``.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["REGISTRY", "RUNNING", "OutputCapture", "RunState", "Stop", "idle", "register", "should_stop", "unregister"]


class Stop(enum.Enum):
    """Why the host ended a run with a trap (so no trap message is parsed)."""

    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    OUTPUT = "output"
    DENIED = "denied"
    PROTOCOL = "protocol"


class OutputCapture:
    """stdout and stderr of one run, capped at ``cap`` UTF-8 bytes in total."""

    __slots__ = ("_parts", "cap", "listener", "overflowed", "used")

    def __init__(self, cap: int, listener: Callable[[str, str], object] | None = None) -> None:
        self.cap = cap
        self.used = 0
        self.overflowed = False
        self.listener = listener  # told (stream, text) of every piece kept, on the guest's thread
        self._parts: dict[str, list[str]] = {"stdout": [], "stderr": []}

    def _tell(self, stream: str, text: str) -> None:
        listener = self.listener
        if listener is None or not text:
            return
        try:
            listener(stream, text)
        except BaseException:  # never unwind through wasm: a failing listener is dropped
            self.listener = None

    def write(self, stream: str, text: str) -> bool:
        """Keep ``text`` up to the cap; False once anything had to be dropped."""
        if self.overflowed:
            return False
        data = text.encode("utf-8", "replace")
        room = self.cap - self.used
        if len(data) <= room:
            kept = text if len(data) == len(text) else data.decode("utf-8")
            self._parts[stream].append(kept)
            self.used += len(data)
            self._tell(stream, kept)
            return True
        kept = data[:room].decode("utf-8", "ignore")
        self._parts[stream].append(kept)
        self.used += len(kept.encode("utf-8"))
        self.overflowed = True
        self._tell(stream, kept)
        return False

    def text(self, stream: str) -> str:
        return "".join(self._parts[stream])


@dataclass(eq=False, slots=True)
class RunState:
    """What the host knows about the run in progress on one store."""

    deadline: float
    """``time.monotonic()`` value past which the run is stopped."""
    capture: OutputCapture
    stop: Stop | None = None
    """Set by the host just before it traps the guest on purpose."""
    detail: str = ""
    """Human-readable detail for ``stop`` (what was denied, what was malformed)."""
    cancelled: bool = False
    dispatcher: Any = None
    """The run's ``ToolDispatcher``, once made (see ``tools``)."""
    make_dispatcher: Callable[[], Any] | None = None
    """Makes the dispatcher when tools are granted: on the first tool call, as
    most runs of a session with tools call none and making one costs more than
    such a run."""
    wake: threading.Event | None = None
    """Set on cancellation so host-side waits (sleep) return at once. It is the
    instance's own event, attached by ``attach``: making one per run costs
    more than a small run."""

    def tools(self) -> Any:
        """The run's dispatcher (made on first use), or None when no tools are granted.
        Called on the guest's thread only."""
        if self.dispatcher is None and self.make_dispatcher is not None:
            self.dispatcher = self.make_dispatcher()
        return self.dispatcher

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def attach(self, wake: threading.Event, timeout: float) -> None:
        """Start the clock on the instance that will run this state."""
        if wake.is_set():  # clear() takes a lock: skip it in the common case
            wake.clear()
        self.wake = wake
        self.deadline = time.monotonic() + timeout
        if self.cancelled:  # cancelled before it started
            wake.set()

    def cancel(self) -> None:
        """Stop the run (from any thread): within one epoch tick, or at once if sleeping."""
        self.cancelled = True
        if self.wake is not None:
            self.wake.set()
        if self.dispatcher is not None:
            self.dispatcher.interrupt()


REGISTRY: dict[int, RunState] = {}
"""Runs in progress, by store context: read by host functions and the epoch check."""

RUNNING = threading.Event()
"""Set while runs are registered: the epoch ticker sleeps when nothing runs.
Set by ``register``, cleared by the ticker (``idle``) once it finds no run,
so back-to-back runs do not pay an Event set and clear each."""
_registry_lock = threading.Lock()


def register(key: int, state: RunState) -> None:
    """Make ``state`` the run of store ``key`` (before entering the guest)."""
    with _registry_lock:
        REGISTRY[key] = state
        if not RUNNING.is_set():
            RUNNING.set()


def unregister(key: int) -> None:
    """End the run of store ``key``."""
    with _registry_lock:
        del REGISTRY[key]


def idle() -> None:
    """For the epoch ticker, after a tick: clear ``RUNNING`` if no run is registered.

    Under the registry's lock, so a run registering meanwhile either is seen
    here or sets ``RUNNING`` again after this clears it."""
    with _registry_lock:
        if not REGISTRY:
            RUNNING.clear()


def should_stop(key: int) -> str | None:
    """The epoch check: a reason to trap the run on store ``key``, or None."""
    state = REGISTRY.get(key)
    if state is None:
        return None  # trusted warm-up or idle store: no run to police
    if state.stop is Stop.OUTPUT:  # set by the WASI output sink, which cannot trap itself
        return "output limit reached"
    if state.cancelled:
        state.stop = Stop.CANCELLED
        return "run cancelled"
    if time.monotonic() >= state.deadline:
        state.stop = Stop.TIMEOUT
        return "run timed out"
    return None
