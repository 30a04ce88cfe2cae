"""Tool calls of one run: checked on the host, run concurrently, logged.

The guest's thread calls in through the host imports (``call-tool``,
``submit-tool``, ``wait-tools``); async tools run on an event loop and sync
tools on a thread pool, so a script can have many calls in flight while its
own thread waits for completions. Every argument from the guest is hostile:
sizes are capped and arguments validated against the tool's schema before
the tool runs. What goes back is either the result as JSON or a short error
that never carries the host's traceback or an unexpected exception's message.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ._abi import HostTrap
from ._errors import ToolError
from ._limits import Limits
from ._result import ToolCall, ToolOutcome
from ._run_state import RunState, Stop
from ._tool_loop import tool_threads

if TYPE_CHECKING:
    from host_functions import Tool, ToolSet

__all__ = ["ToolDispatcher"]

_MAX_MESSAGE = 4000


@functools.cache
def _host_functions() -> Any:
    # Imported on first use: host_functions imports this package's errors.
    import host_functions

    return host_functions


def _error(kind: str, tool: str, message: str) -> str:
    return json.dumps({"error": {"kind": kind, "tool": tool, "message": message[:_MAX_MESSAGE]}})


class ToolDispatcher:
    """Serves one run's tool calls; ``close`` cancels what is still running."""

    def __init__(
        self, tools: ToolSet, limits: Limits, deps: Any, loop: asyncio.AbstractEventLoop, state: RunState
    ) -> None:
        self._tools = tools
        self._limits = limits
        self._deps = deps
        self._loop = loop
        self._state = state
        self._cond = threading.Condition()
        self._finished: dict[int, str] = {}
        self._blocking: set[int] = set()
        self._pending: dict[int, tuple[Future[None], str, float, int]] = {}
        self._next_id = 1
        self._closed = False
        self._semaphore = asyncio.Semaphore(limits.max_concurrent_tool_calls)
        self._t0 = time.monotonic()
        self.log: list[ToolCall] = []

    # --- host imports, on the guest's thread ---------------------------------------

    def call(self, name: str, arguments: str) -> str:
        """Run a call and wait for it (the guest's plain, blocking call)."""
        call_id, reply = self._start(name, arguments, blocking=True)
        return reply if reply is not None else self._wait_for(call_id)

    def submit(self, name: str, arguments: str) -> str:
        """Start a call; its result comes back through ``wait``."""
        call_id, reply = self._start(name, arguments, blocking=False)
        if reply is not None:
            return reply
        return f'{{"ok": {call_id}}}'

    def wait(self, timeout: float) -> str:
        """Wait until submitted calls finish (or ``timeout``); a JSON list of them."""
        state = self._state
        end = state.deadline if timeout < 0 else min(state.deadline, time.monotonic() + timeout)
        with self._cond:
            while True:
                ready = [i for i in self._finished if i not in self._blocking]
                if ready:
                    items = [f'{{"id": {i}, ' + self._finished.pop(i)[1:] for i in ready]
                    return "[" + ", ".join(items) + "]"
                self._check_stop()
                if not any(i not in self._blocking for i in self._pending):
                    return "[]"  # nothing submitted is running: nothing to wait for
                now = time.monotonic()
                if now >= end:
                    return "[]"
                self._cond.wait(end - now)

    # --- control ---------------------------------------------------------------

    def interrupt(self) -> None:
        """Wake the guest's thread (the run was cancelled)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> tuple[ToolCall, ...]:
        """Cancel calls still running and return the call log."""
        with self._cond:
            self._closed = True
            pending = list(self._pending.items())
            self._pending.clear()
            for call_id, (future, name, started, size) in pending:
                future.cancel()
                self._record(call_id, name, "cancelled", started, (size, 0), "the run ended before the call finished")
            return tuple(sorted(self.log, key=lambda c: c.id))

    # --- internals -----------------------------------------------------------------

    def _check_stop(self) -> None:
        state = self._state
        if state.cancelled:
            state.stop, state.detail = Stop.CANCELLED, "run cancelled"
            raise HostTrap("run cancelled")
        if time.monotonic() >= state.deadline:
            state.stop, state.detail = Stop.TIMEOUT, "run timed out waiting for tools"
            raise HostTrap("run timed out waiting for tools")

    def _wait_for(self, call_id: int) -> str:
        with self._cond:
            while call_id not in self._finished:
                self._check_stop()
                self._cond.wait(max(self._state.deadline - time.monotonic(), 0.0))
            self._blocking.discard(call_id)
            return self._finished.pop(call_id)

    def _record(
        self, call_id: int, name: str, outcome: ToolOutcome, started: float, sizes: tuple[int, int], detail: str | None
    ) -> None:
        self.log.append(
            ToolCall(
                id=call_id,
                tool=name,
                outcome=outcome,
                started=started - self._t0,
                duration=time.monotonic() - started,
                arguments_bytes=sizes[0],
                result_bytes=sizes[1],
                detail=detail,
            )
        )

    def _start(self, name: str, arguments: str, *, blocking: bool) -> tuple[int, str | None]:
        started = time.monotonic()
        limits = self._limits
        with self._cond:
            call_id = self._next_id
            self._next_id += 1
        size = len(arguments.encode("utf-8"))

        def reject(outcome: ToolOutcome, kind: str, message: str) -> tuple[int, str]:
            with self._cond:
                self._record(call_id, name[:200], outcome, started, (size, 0), message)
            return call_id, _error(kind, name[:200], message)

        if call_id > limits.max_tool_calls:
            return reject(
                "rejected", "limit", f"this run already made {limits.max_tool_calls} tool calls (Limits.max_tool_calls)"
            )
        if size > limits.max_tool_payload_bytes:
            message = f"arguments are {size} bytes, over Limits.max_tool_payload_bytes={limits.max_tool_payload_bytes}"
            return reject("rejected", "limit", message)
        tool = self._tools.get(name)
        if tool is None:
            close = self._tools.close_matches(name)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            return reject("rejected", "unknown", f"no tool named {name[:200]!r} is granted{hint}")
        hf = _host_functions()
        try:
            positional, keywords = tool.bind(arguments)
        except hf.ToolArgumentError as exc:
            return reject("invalid", "arguments", str(exc))
        except Exception:  # not even JSON: a guest bypassing its wrapper
            return reject("invalid", "arguments", f"{name}(): the arguments are not a JSON object")
        context = hf.ToolContext(deps=self._deps, tool=name, call_id=call_id)
        if tool.inline:
            reply = self._finish_inline(tool, call_id, positional, keywords, context, started, size)
            if blocking:
                return call_id, reply
            with self._cond:
                self._finished[call_id] = reply
            return call_id, None
        with self._cond:
            if blocking:
                self._blocking.add(call_id)
            work = self._execute(tool, call_id, positional, keywords, context, started, size)
            future = asyncio.run_coroutine_threadsafe(work, self._loop)
            self._pending[call_id] = (future, name, started, size)
        return call_id, None

    def _outcome(self, tool: Tool, result: Any) -> tuple[str, ToolOutcome, int, str | None]:
        try:
            text = tool.serialize(result)
        except TypeError as exc:
            return _error("result", tool.name, f"tool {tool.name!r} returned {exc}"), "error", 0, str(exc)
        size = len(text.encode("utf-8")) if len(text) * 4 > self._limits.max_tool_result_bytes else len(text)
        if size > self._limits.max_tool_result_bytes:
            cap = self._limits.max_tool_result_bytes
            message = f"tool {tool.name!r} returned {size} bytes, over Limits.max_tool_result_bytes={cap}"
            return _error("result", tool.name, message), "error", size, message
        return '{"ok": ' + text + "}", "ok", size, None

    def _failure(self, tool: Tool, exc: BaseException) -> tuple[str, ToolOutcome, int, str | None]:
        if isinstance(exc, ToolError):
            return _error("error", tool.name, exc.message), "error", 0, exc.message
        # An unexpected exception's message may hold secrets: only its type crosses.
        message = f"tool {tool.name!r} failed with {type(exc).__name__}"
        return _error("error", tool.name, message), "error", 0, repr(exc)[:2000]

    def _finish_inline(
        self,
        tool: Tool,
        call_id: int,
        positional: list[Any],
        keywords: dict[str, Any],
        context: Any,
        started: float,
        size: int,
    ) -> str:
        try:
            reply, outcome, result_size, detail = self._outcome(tool, tool.invoke(positional, keywords, context))
        except BaseException as exc:  # contained whatever it is: the guest's thread must go on
            reply, outcome, result_size, detail = self._failure(tool, exc)
        with self._cond:
            self._record(call_id, tool.name, outcome, started, (size, result_size), detail)
        return reply

    async def _execute(
        self,
        tool: Tool,
        call_id: int,
        positional: list[Any],
        keywords: dict[str, Any],
        context: Any,
        started: float,
        size: int,
    ) -> None:
        timeout = self._limits.tool_timeout
        try:
            async with self._semaphore:
                if tool.is_async:
                    result = await asyncio.wait_for(tool.invoke(positional, keywords, context), timeout)
                else:
                    call = functools.partial(tool.invoke, positional, keywords, context)
                    result = await asyncio.wait_for(self._loop.run_in_executor(tool_threads(), call), timeout)
            reply, outcome, result_size, detail = self._outcome(tool, result)
        except TimeoutError:
            message = f"tool {tool.name!r} did not finish within {timeout} s (Limits.tool_timeout)"
            reply, outcome, result_size, detail = _error("timeout", tool.name, message), "timeout", 0, message
        except asyncio.CancelledError:
            raise  # the run ended: close() logged it
        except BaseException as exc:  # KeyboardInterrupt & co. must not take the loop down
            reply, outcome, result_size, detail = self._failure(tool, exc)
        with self._cond:
            if self._closed:
                return
            self._pending.pop(call_id, None)
            self._finished[call_id] = reply
            self._record(call_id, tool.name, outcome, started, (size, result_size), detail)
            self._cond.notify_all()
