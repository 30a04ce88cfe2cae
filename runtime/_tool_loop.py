"""Where tool calls run: an event loop for async tools, threads for sync ones.

``Sandbox.arun`` runs async tools on the caller's own event loop (so they can
use the application's clients): a ``CallerLoop``, used as it is. ``Sandbox.run``
uses ``tool_loop()``, one loop on a daemon thread shared by every run in the
process, and so exposed to an async tool that blocks it (``time.sleep``
instead of ``asyncio.sleep``): every other run's calls would wait for it and
time out. A watchdog retires a loop that leaves posted work unstarted for
``STUCK_AFTER`` seconds and hands that work to a fresh loop. Sync tools run on
``tool_threads()``, which writes off threads held by hung calls
(``runtime._tool_threads``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._tool_threads import ToolThreads

__all__ = [
    "SYNC_TOOL_THREADS",
    "CallerLoop",
    "ToolLoop",
    "cancel_tasks",
    "new_event_loop",
    "tool_loop",
    "tool_threads",
]

SYNC_TOOL_THREADS = 64
"""Threads for sync tools, shared by every run in the process (as many more
may be written off, each held by a call that was given up on)."""
STUCK_AFTER = 0.1
"""Seconds the shared loop may leave posted work unstarted before it is retired."""
MAX_RETIRED = 8
"""Retired loops that may still be alive (each a thread a tool is blocking);
past that a stuck loop is kept, and its work waits for it."""
_QUIET_TICKS = 20
"""Watchdog ticks with nothing posted before it sleeps until the next post."""

_lock = threading.Lock()
_loop: ToolLoop | None = None
_threads: ToolThreads | None = None
_Work = tuple[Callable[..., object], tuple[Any, ...]]


class CallerLoop:
    """An application's own loop (``Sandbox.arun``): never retired, it is not ours."""

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def current(self) -> asyncio.AbstractEventLoop:
        """The loop new calls start on."""
        return self.loop

    def post(self, fn: Callable[..., object], *args: Any) -> None:
        """Call ``fn(*args)`` on the loop soon (from any thread)."""
        self.loop.call_soon_threadsafe(fn, *args)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (Linux and macOS, a dependency there),
    else asyncio's. A loop serving many calls spends its time in timers and
    callbacks, which uvloop runs in C: 1000 async calls of 10 ms at concurrency
    100 took 149.5 ms with it and 169.2 ms without (interleaved, one process)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class _Loop:
    """One event loop, the daemon thread running it and the work posted to it."""

    __slots__ = ("loop", "posted", "since")

    def __init__(self, on_end: Callable[[_Loop], None]) -> None:
        self.loop = new_event_loop()
        self.posted: collections.deque[_Work] = collections.deque()
        self.since = 0.0
        """When ``posted`` last stopped being empty."""
        threading.Thread(target=self._run, args=(on_end,), name="otc-tools", daemon=True).start()

    def _run(self, on_end: Callable[[_Loop], None]) -> None:
        try:
            self.loop.run_forever()  # returns only once retired and idle
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
            on_end(self)


async def _stop_when_idle() -> None:
    """Stop the running (retired) loop once the calls left on it are done."""
    me = asyncio.current_task()
    while others := asyncio.all_tasks() - {me}:
        await asyncio.wait(others)
    asyncio.get_running_loop().stop()


class ToolLoop:
    """The process-wide loop for async tools, watched.

    Work reaches it through ``post``. When posted work has waited
    ``STUCK_AFTER`` seconds, a tool is blocking the loop: a fresh loop takes
    over, with the posted work that never started. Nothing that started is
    moved (a tool is never run twice: side effects); calls running on the
    retired loop finish there, and it stops once they are done. The call that
    blocked it is reported to its own run as before (its ``tool_timeout``).
    A call whose task the loop created but had not stepped when it blocked
    stays with it (the task is the loop's): only that narrow window is exposed.
    The watchdog ticks only while work is being posted, and sleeps otherwise.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._current = _Loop(self._ended)
        self._retired: set[_Loop] = set()
        self._watching = False
        threading.Thread(target=self._watch, name="otc-tools-watchdog", daemon=True).start()

    def current(self) -> asyncio.AbstractEventLoop:
        """The loop new calls start on."""
        return self._current.loop

    def post(self, fn: Callable[..., object], *args: Any) -> None:
        """Call ``fn(*args)`` on the current loop soon (from any thread), or on
        the loop that replaces it if it is stuck before it gets there."""
        with self._cond:
            entry = self._current
            entry.posted.append((fn, args))
            if len(entry.posted) == 1:  # else a drain is on its way already
                entry.since = time.monotonic()
                entry.loop.call_soon_threadsafe(self._drain, entry)
                if not self._watching:
                    self._watching = True
                    self._cond.notify()

    def _drain(self, entry: _Loop) -> None:
        with self._cond:
            work = list(entry.posted)  # empty on a retired loop: its work was moved
            entry.posted.clear()
        for fn, args in work:
            try:
                fn(*args)
            except Exception as exc:  # as call_soon would: reported, and the rest still run
                entry.loop.call_exception_handler({"message": f"exception in {fn!r}", "exception": exc})

    def _watch(self) -> None:
        quiet = 0
        with self._cond:
            while True:
                if not self._watching:
                    self._cond.wait()
                    quiet = 0
                    continue
                self._cond.wait(STUCK_AFTER / 2)
                entry = self._current
                if not entry.posted:
                    quiet += 1
                    self._watching = quiet < _QUIET_TICKS
                    continue
                quiet = 0
                if time.monotonic() - entry.since >= STUCK_AFTER and len(self._retired) < MAX_RETIRED:
                    self._retire(entry)

    def _retire(self, stuck: _Loop) -> None:
        """Replace the stuck current loop (under the lock)."""
        fresh = _Loop(self._ended)
        fresh.posted, stuck.posted = stuck.posted, fresh.posted
        fresh.since = time.monotonic()
        fresh.loop.call_soon_threadsafe(self._drain, fresh)
        self._current = fresh
        self._retired.add(stuck)
        # Runs once the tool blocking it returns, if ever.
        asyncio.run_coroutine_threadsafe(_stop_when_idle(), stuck.loop)

    def _ended(self, entry: _Loop) -> None:
        with self._cond:
            self._retired.discard(entry)


def cancel_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` from any thread, each on its own loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Task[Any]]] = {}
    for task in tasks:
        by_loop.setdefault(task.get_loop(), []).append(task)
    for loop, group in by_loop.items():
        # A closed loop is a retired one that finished: its tasks are done.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_cancel_all, group)


def _cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()


def tool_loop() -> ToolLoop:
    """The process-wide tool loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = ToolLoop()
        return _loop


def tool_threads() -> ToolThreads:
    """The pool sync tools run on, shared by every run."""
    global _threads
    with _lock:
        if _threads is None:
            _threads = ToolThreads(SYNC_TOOL_THREADS, max_written_off=SYNC_TOOL_THREADS, name="otc-tool")
        return _threads
