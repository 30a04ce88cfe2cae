"""Tool calls of one run: checked on the host, run concurrently, logged.

The guest's thread calls in through the host imports (``call-tool``,
``submit-tool(s)``, ``wait-tools``). Async tools run on an event loop, sync
tools straight on a thread pool (one hop each way, no loop in between), so a
script can have many calls in flight while its own thread waits for
completions. Every argument from the guest is hostile: sizes are capped and
arguments validated against the tool's schema before the tool runs. What
goes back is the result as JSON or a short error that never carries the
host's traceback or an unexpected exception's message.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import threading
import time
from typing import TYPE_CHECKING, Any

from ._abi import HostTrap
from ._limits import Limits
from ._result import ToolCall, ToolOutcome, tool_calls_from_rows
from ._run_state import RunState, Stop
from ._tool_call import (
    CallRejected,
    Outcome,
    ToolCallState,
    check_call,
    error_reply,
    failure_for,
    host_functions_module,
    reply_for,
)
from ._tool_loop import CallerLoop, cancel_tasks, tool_loop, tool_threads

if TYPE_CHECKING:
    from host_functions import Tool, ToolSet

__all__ = ["ToolDispatcher"]

_START_EVERY = 16
"""Calls of a submitted batch started together: the first run while later ones are still checked."""
_BATCH_SLACK = 1 << 20
"""How far past ``Limits.max_tool_payload_bytes`` a submitted batch may be."""


class ToolDispatcher:
    """Serves one run's tool calls; ``close`` cancels what is still running."""

    def __init__(
        self,
        tools: ToolSet,
        limits: Limits,
        deps: Any,
        loop: asyncio.AbstractEventLoop | None,
        state: RunState,
        *,
        t0: float | None = None,
    ) -> None:
        """Async tools run on ``loop``, or on the process-wide tool loop for None;
        ``t0`` is when the run started (the call log's times count from it), default now."""
        self._tools = tools
        self._limits = limits
        self._deps = deps
        self._loops = tool_loop() if loop is None else CallerLoop(loop)
        self._state = state
        self._cond = threading.Condition()
        self._finished: dict[int, str] = {}
        self._blocking: set[int] = set()
        self._running: dict[int, ToolCallState] = {}
        self._queued: collections.deque[ToolCallState] = collections.deque()
        self._to_spawn: list[ToolCallState] = []  # async calls to start on the loop, one wake-up per batch
        self._wake_pending = False
        self._ids = itertools.count(1)  # next() is atomic under the GIL
        self._closed = False
        self._t0 = time.monotonic() if t0 is None else t0
        self._log: list[tuple[Any, ...]] = []  # ToolCall fields; objects are made at close()

    # --- host imports, on the guest's thread ---------------------------------------

    def call(self, name: str, arguments: str) -> str:
        """Run a call and wait for it (the guest's plain, blocking call)."""
        call_id, reply, call = self._check(name, arguments, blocking=True)
        if call is None:
            assert reply is not None  # a blocking call refused or run inline has its reply
            return reply
        self._start([call], blocking=True)
        return self._wait_for(call_id)

    def submit(self, name: str, arguments: str) -> str:
        """Start a call; its result comes back through ``wait``."""
        call_id, reply, call = self._check(name, arguments, blocking=False)
        if call is not None:
            self._start([call], blocking=False)
        return reply if reply is not None else f'{{"ok": {call_id}}}'

    def submit_many(self, batch: str) -> str:
        """Start several calls (a JSON list alternating names and argument
        texts); a JSON list of their ids or errors, in order."""
        if len(batch) > self._limits.max_tool_payload_bytes + _BATCH_SLACK:
            # The guest's wrapper sends small batches: this is a guest bypassing it.
            raise self._protocol(f"submit-tools: a batch of {len(batch)} characters is far over the limit")
        try:
            flat = json.loads(batch)
        except (ValueError, RecursionError):
            flat = None
        if not isinstance(flat, list) or len(flat) % 2 or not all(isinstance(item, str) for item in flat):
            raise self._protocol("submit-tools: expected a JSON list alternating names and argument texts")
        acks = []
        checked: list[ToolCallState] = []
        for name, arguments in zip(flat[::2], flat[1::2], strict=True):
            call_id, reply, call = self._check(name, arguments, blocking=False)
            acks.append(str(call_id) if reply is None else reply)
            if call is not None:
                checked.append(call)
                if len(checked) >= _START_EVERY:
                    self._start(checked, blocking=False)  # these run while later ones are checked
                    checked = []
        if checked:
            self._start(checked, blocking=False)
        return "[" + ", ".join(acks) + "]"

    def wait(self, timeout: float) -> str:
        """Wait until submitted calls finish (or ``timeout``); a JSON list of them."""
        end = self._state.deadline if timeout < 0 else min(self._state.deadline, time.monotonic() + timeout)
        with self._cond:
            while True:
                self._expire()
                ready = [i for i in self._finished if i not in self._blocking]
                if ready:
                    return "[" + ", ".join(f'{{"id": {i}, ' + self._finished.pop(i)[1:] for i in ready) + "]"
                self._check_stop()
                if all(i in self._blocking for i in self._running) and not self._queued:
                    return "[]"  # nothing submitted is in flight: nothing to wait for
                if not self._sleep_until(end):
                    return "[]"

    # --- control ---------------------------------------------------------------

    def interrupt(self) -> None:
        """Wake the guest's thread (the run was cancelled)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> tuple[ToolCall, ...]:
        """Cancel calls still in flight and return the call log, in call order."""
        with self._cond:
            self._closed = True
            tasks = []
            for call in [*self._running.values(), *self._queued]:
                if isinstance(call.future, asyncio.Task):
                    tasks.append(call.future)
                elif call.future is not None:
                    call.future.write_off()  # never runs, or runs on (its result dropped) off the pool's count
                self._record(call, "cancelled", 0, "the run ended before the call finished")
            self._running.clear()
            self._queued.clear()
            self._to_spawn.clear()
        if tasks:
            cancel_tasks(tasks)
        with self._cond:
            rows = sorted(self._log)
        return tool_calls_from_rows(rows)

    # --- waiting -------------------------------------------------------------------

    def _protocol(self, detail: str) -> HostTrap:
        self._state.stop, self._state.detail = Stop.PROTOCOL, detail
        return HostTrap(detail)

    def _check_stop(self) -> None:
        state = self._state
        if state.cancelled:
            state.stop, state.detail = Stop.CANCELLED, "run cancelled"
            raise HostTrap("run cancelled")
        if time.monotonic() >= state.deadline:
            state.stop, state.detail = Stop.TIMEOUT, "run timed out waiting for tools"
            raise HostTrap("run timed out waiting for tools")

    def _sleep_until(self, end: float) -> bool:
        """Wait on the condition until ``end`` or the next call's expiry; False once ``end`` passed."""
        now = time.monotonic()
        if now >= end:
            return False
        soonest = next(iter(self._running.values())).expires if self._running else end  # see _expire
        self._cond.wait(max(min(end, soonest) - now, 0.0))
        return True

    def _expire(self) -> None:
        """Fail calls past ``Limits.tool_timeout``: an async tool is cancelled, a
        sync one cannot be stopped: its late result is dropped and its thread
        written off. Calls run in launch order with one timeout, so the oldest
        expire first."""
        now = time.monotonic()
        while self._running:
            call = next(iter(self._running.values()))
            if call.expires > now:
                return
            message = (
                f"tool {call.tool.name!r} did not finish within {self._limits.tool_timeout} s (Limits.tool_timeout)"
            )
            self._finish(call, error_reply("timeout", call.tool.name, message), "timeout", 0, message)
            if isinstance(call.future, asyncio.Task):
                cancel_tasks([call.future])
            elif call.future is not None:
                call.future.write_off()

    def _wait_for(self, call_id: int) -> str:
        with self._cond:
            while call_id not in self._finished:
                self._expire()
                if call_id in self._finished:
                    break
                self._check_stop()
                self._sleep_until(self._state.deadline)
            self._blocking.discard(call_id)
            return self._finished.pop(call_id)

    # --- starting and finishing calls ------------------------------------------------

    def _record(self, call: ToolCallState, outcome: ToolOutcome, result_size: int, detail: str | None) -> None:
        now = time.monotonic()
        launched = call.launched or now  # never launched: cancelled while queued
        row = (call.id, call.tool.name, outcome, launched - self._t0, now - launched, launched - call.arrived)
        self._log.append((*row, call.size, result_size, detail))

    def _reject(self, call_id: int, name: str, size: int, outcome: ToolOutcome, kind: str, message: str) -> str:
        self._log.append((call_id, name[:200], outcome, time.monotonic() - self._t0, 0.0, 0.0, size, 0, message))
        return error_reply(kind, name[:200], message)

    def _check(self, name: str, arguments: str, *, blocking: bool) -> tuple[int, str | None, ToolCallState | None]:
        """(call id, reply, None) for a call refused or run inline (a non-blocking
        inline call's reply waits in ``_finished``: None); (call id, None, the call)
        for one to start. Takes no lock unless it has to."""
        arrived = time.monotonic()
        call_id = next(self._ids)
        try:
            tool, positional, keywords, size = check_call(self._tools, self._limits, call_id, name, arguments)
        except CallRejected as no:
            return call_id, self._reject(call_id, no.name, no.size, no.outcome, no.kind, no.message), None
        if tool.schema.context_parameter is None:
            context = None
        else:
            context = host_functions_module().ToolContext(deps=self._deps, tool=name, call_id=call_id)
        if not tool.inline:
            return call_id, None, ToolCallState(call_id, tool, positional, keywords, context, arrived, size)
        reply = self._run_inline(call_id, tool, positional, keywords, context, arrived, size)
        if blocking:
            return call_id, reply, None
        with self._cond:
            self._finished[call_id] = reply
        return call_id, None, None

    def _start(self, calls: list[ToolCallState], *, blocking: bool) -> None:
        """Launch ``calls``, or queue those over the concurrency limit, under one
        taking of the lock; then hand the async ones to the loop."""
        limit = self._limits.max_concurrent_tool_calls
        with self._cond:
            for call in calls:
                if blocking:
                    self._blocking.add(call.id)
                if len(self._running) < limit:
                    self._launch(call)
                else:
                    self._queued.append(call)
            spawn, self._to_spawn = self._to_spawn, []
        if spawn:
            self._loops.post(self._spawn_on_loop, spawn)

    def _launch(self, call: ToolCallState) -> bool:
        """Start ``call`` (under the lock): async on the loop (see ``_start``),
        sync on the pool. False if the pool refused it (then it has failed)."""
        call.launched = time.monotonic()
        call.expires = call.launched + self._limits.tool_timeout
        if not call.tool.is_async:
            call.future = tool_threads().submit(self._run_sync, call)
            if call.future is None:
                self._finished[call.id] = self._exhausted(call)
                return False
        else:
            self._to_spawn.append(call)
        self._running[call.id] = call
        return True

    def _exhausted(self, call: ToolCallState) -> str:
        pool = tool_threads()
        message = (
            f"tool {call.tool.name!r} could not start: the host's sync tool threads are exhausted by hung calls "
            f"({pool.size} busy, {pool.written_off} more written off after their calls timed out)"
        )
        self._record(call, "rejected", 0, message)
        return error_reply("limit", call.tool.name, message)

    def _spawn_on_loop(self, calls: list[ToolCallState]) -> None:
        loop = asyncio.get_running_loop()
        with self._cond:
            for call in calls:
                if call.id in self._running:  # not cancelled or closed meanwhile
                    call.future = loop.create_task(self._run_async(call))

    def _finish(
        self,
        call: ToolCallState,
        reply: str,
        outcome: ToolOutcome,
        result_size: int,
        detail: str | None,
        *,
        on_loop: bool = False,
    ) -> None:
        """Complete ``call`` (under the lock), then start the next queued one.
        ``on_loop``: called by an async call's task, on the loop it runs on."""
        if self._closed or self._running.pop(call.id, None) is None:
            return  # already timed out, or the run is over
        self._finished[call.id] = reply
        self._record(call, outcome, result_size, detail)
        if self._queued:
            while self._queued and not self._launch(self._queued.popleft()):
                pass  # refused by the sync pool (so failed already): the slot is still free
            if self._to_spawn:
                calls, self._to_spawn = self._to_spawn, []
                if on_loop and asyncio.get_running_loop() is self._loops.current():
                    self._spawn_on_loop(calls)  # already on the loop: no wake-up needed
                else:
                    self._loops.post(self._spawn_on_loop, calls)
        if not on_loop or call.id in self._blocking:
            self._cond.notify_all()  # a blocking call's waiter is woken at once
        elif not self._wake_pending:
            # Calls finishing in one loop iteration wake the guest once, not once each.
            # Posted, not call_soon: a tool blocking this loop next must not delay it.
            self._wake_pending = True
            self._loops.post(self._wake_guest)

    def _wake_guest(self) -> None:
        with self._cond:
            self._wake_pending = False
            self._cond.notify_all()

    def _invoke(self, call: ToolCallState) -> Outcome:
        try:
            result = call.tool.invoke(call.positional, call.keywords, call.context)
            return reply_for(call.tool, result, self._limits.max_tool_result_bytes)
        except BaseException as exc:  # contained whatever it is: this thread must go on
            return failure_for(call.tool, exc)

    def _run_inline(
        self,
        call_id: int,
        tool: Tool,
        positional: list[Any],
        keywords: dict[str, Any],
        context: Any,
        arrived: float,
        size: int,
    ) -> str:
        """Run an inline tool on the guest's thread and log it; its reply."""
        try:
            result = tool.invoke(positional, keywords, context)
            reply, outcome, result_size, detail = reply_for(tool, result, self._limits.max_tool_result_bytes)
        except BaseException as exc:  # contained whatever it is, as on the pool
            reply, outcome, result_size, detail = failure_for(tool, exc)
        took = time.monotonic() - arrived
        # No lock: list.append is atomic, and close() runs on this thread after the guest returns.
        self._log.append((call_id, tool.name, outcome, arrived - self._t0, took, 0.0, size, result_size, detail))
        return reply

    def _run_sync(self, call: ToolCallState) -> None:
        outcome = self._invoke(call)
        with self._cond:
            self._finish(call, *outcome)

    async def _run_async(self, call: ToolCallState) -> None:
        tool = call.tool
        try:
            # No per-call timer: _expire times calls out (one timer per call
            # costs more loop time than the call itself at high concurrency).
            result = await tool.invoke(call.positional, call.keywords, call.context)
            outcome = reply_for(tool, result, self._limits.max_tool_result_bytes)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # we cancelled it (timed out, or the run ended): already logged
            outcome = failure_for(tool, exc)  # the tool raised it itself: a failure like any other
        except BaseException as exc:  # KeyboardInterrupt & co. must not take the loop down
            outcome = failure_for(tool, exc)
        with self._cond:
            self._finish(call, *outcome, on_loop=True)
