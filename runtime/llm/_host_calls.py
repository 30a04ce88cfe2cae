"""Tool calls a model asks for directly (the batch tool, a direct tool call),
run on the host with the same checks, limits and call log as a script's calls.

There is no guest here, but the calls go through the same ``ToolDispatcher``
a run uses: arguments validated against the schema, ``Limits`` on
concurrency, count, sizes and per-call time, async tools on an event loop,
sync tools on the tool thread pool, and a ``ToolCall`` log entry each.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime._abi import HostTrap
from runtime._dispatch import ToolDispatcher
from runtime._driver import new_state
from runtime._result import ToolCall
from runtime._run_state import RunState
from runtime._tool_call import error_reply

if TYPE_CHECKING:
    from host_functions import ToolSet
    from runtime._limits import Limits

__all__ = ["CallReply", "acall_tools", "call_tools"]


@dataclass(frozen=True, slots=True)
class CallReply:
    """How one requested call ended: ``{"ok": result}`` or ``{"error": {...}}``."""

    tool: str
    reply: dict[str, Any]

    @property
    def ok(self) -> bool:
        return "ok" in self.reply


def call_tools(
    tools: ToolSet,
    calls: Sequence[tuple[str, str]],
    *,
    limits: Limits,
    context: Any = None,
    loop: asyncio.AbstractEventLoop | None = None,
    state: RunState | None = None,
) -> tuple[list[CallReply], tuple[ToolCall, ...]]:
    """Run ``calls`` (tool name, JSON arguments) concurrently and wait for all
    of them, at most ``limits.timeout`` seconds in all. Replies come back in
    request order; a failure is a reply, never an exception. ``state.cancel()``
    from another thread stops the wait and cancels what is in flight."""
    state = state or new_state(limits)
    state.deadline = time.monotonic() + limits.timeout
    dispatcher = state.dispatcher = ToolDispatcher(tools, limits, context, loop, state)
    replies: dict[int, dict[str, Any]] = {}
    pending: list[int] = []
    order: list[int | dict[str, Any]] = []
    try:
        for name, arguments in calls:
            ack = json.loads(dispatcher.submit(name, arguments))
            if isinstance(ack.get("ok"), int):
                pending.append(ack["ok"])
                order.append(ack["ok"])
            else:
                order.append(ack)
        while len(replies) < len(pending):
            finished = json.loads(dispatcher.wait(-1.0))
            if not finished:
                break  # the deadline passed
            for item in finished:
                replies[item.pop("id")] = item
    except HostTrap:
        pass  # timed out or cancelled: what did not finish is reported below
    finally:
        log = dispatcher.close()
    stopped = "the batch was cancelled" if state.cancelled else f"the batch ran out of time ({limits.timeout} s)"
    out = []
    for (name, _), entry in zip(calls, order, strict=True):
        if isinstance(entry, int):
            entry = replies.get(entry) or json.loads(error_reply("cancelled", name, f"not finished: {stopped}"))
        out.append(CallReply(name, entry))
    return out, log


async def acall_tools(
    tools: ToolSet, calls: Sequence[tuple[str, str]], *, limits: Limits, context: Any = None
) -> tuple[list[CallReply], tuple[ToolCall, ...]]:
    """``call_tools`` for asyncio: async tools run on the caller's loop, the
    waiting on a worker thread; cancelling the caller cancels the calls."""
    loop = asyncio.get_running_loop()
    state = new_state(limits)
    future = loop.run_in_executor(
        None, lambda: call_tools(tools, calls, limits=limits, context=context, loop=loop, state=state)
    )
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        state.cancel()
        await asyncio.wait([future])
        raise
