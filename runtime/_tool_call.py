"""One tool call on the host: checked, run, and its outcome made the guest's reply.

Replies are JSON text: ``{"ok": <result>}`` or ``{"error": {"kind", "tool",
"message"}}``. A tool's own ``ToolError`` message crosses; any other
exception crosses only as its type name (its message may hold secrets) and
is kept, with its repr, for the host's call log.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import ToolError
from ._result import ToolOutcome

if TYPE_CHECKING:
    from host_functions import Tool, ToolSet

    from ._limits import Limits
    from ._tool_threads import ToolJob

__all__ = [
    "CallRejected",
    "Outcome",
    "ToolCallState",
    "check_call",
    "error_reply",
    "failure_for",
    "host_functions_module",
    "reply_for",
]

_MAX_MESSAGE = 4000
_MAX_NAME = 256
"""Longest tool name worth looking up or logging as sent."""

Outcome = tuple[str, ToolOutcome, int, "str | None"]
"""(reply JSON for the guest, outcome for the log, result size, detail for the log)."""


@functools.cache
def host_functions_module() -> Any:
    """The ``host_functions`` package, imported on first use (it imports this package's errors)."""
    import host_functions

    return host_functions


class CallRejected(Exception):
    """A call refused before its tool runs: what the log and the guest's reply say."""

    def __init__(self, name: str, size: int, outcome: ToolOutcome, kind: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.size = size
        self.outcome: ToolOutcome = outcome
        self.kind = kind
        self.message = message


def check_call(
    tools: ToolSet, limits: Limits, call_id: int, name: str, arguments: str
) -> tuple[Tool, list[Any], dict[str, Any], int]:
    """The tool called ``name``, its arguments bound (positional, keyword) and
    their size in bytes. Raises ``CallRejected`` for text that is not UTF-8,
    a call over ``limits``, an unknown tool, or arguments that do not fit."""
    size = len(arguments)  # in bytes, as long as it is ASCII
    if not name.isascii() or not arguments.isascii():
        # A batch is parsed with json, which turns an escaped lone surrogate
        # into text that is not UTF-8: refuse it like call-tool would.
        name = name[:_MAX_NAME].encode("utf-8", "replace").decode("utf-8")
        try:
            size = len(arguments.encode("utf-8"))
        except UnicodeEncodeError:
            message = f"{name}(): the arguments are not valid UTF-8 text"
            raise CallRejected(name, len(arguments), "invalid", "arguments", message) from None
    if call_id > limits.max_tool_calls:
        message = f"this run already made {limits.max_tool_calls} tool calls (Limits.max_tool_calls)"
        raise CallRejected(name, size, "rejected", "limit", message)
    if size > limits.max_tool_payload_bytes:
        message = f"arguments are {size} bytes, over Limits.max_tool_payload_bytes={limits.max_tool_payload_bytes}"
        raise CallRejected(name, size, "rejected", "limit", message)
    tool = tools.get(name)
    if tool is None:
        # No close matches for a giant name: difflib's cost grows with it, out of the timeout's reach.
        close = tools.close_matches(name) if len(name) <= _MAX_NAME else []
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise CallRejected(name, size, "rejected", "unknown", f"no tool named {name[:200]!r} is granted{hint}")
    try:
        positional, keywords = tool.bind(arguments)
    except host_functions_module().ToolArgumentError as exc:
        raise CallRejected(name, size, "invalid", "arguments", str(exc)) from None
    except Exception:  # not even JSON: a guest bypassing its wrapper
        message = f"{name}(): the arguments are not a JSON object"
        raise CallRejected(name, size, "invalid", "arguments", message) from None
    return tool, positional, keywords, size


def error_reply(kind: str, tool: str, message: str) -> str:
    """The JSON reply for a failed call."""
    return json.dumps({"error": {"kind": kind, "tool": tool, "message": message[:_MAX_MESSAGE]}})


@dataclass(eq=False)
class ToolCallState:
    """A validated call, queued or running."""

    id: int
    tool: Tool
    positional: list[Any]
    keywords: dict[str, Any]
    context: Any
    arrived: float
    size: int
    launched: float = 0.0
    expires: float = float("inf")
    future: ToolJob | asyncio.Task[None] | None = None
    """The pool job of a sync call, or the loop task of an async one."""


def reply_for(tool: Tool, result: Any, cap: int) -> Outcome:
    """The outcome of a call that returned ``result`` (capped at ``cap`` bytes)."""
    try:
        text = tool.serialize(result)
    except TypeError as exc:
        return error_reply("result", tool.name, f"tool {tool.name!r} returned {exc}"), "error", 0, str(exc)
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if size > cap:
        message = f"tool {tool.name!r} returned {size} bytes, over Limits.max_tool_result_bytes={cap}"
        return error_reply("result", tool.name, message), "error", size, message
    return '{"ok": ' + text + "}", "ok", size, None


def failure_for(tool: Tool, exc: BaseException) -> Outcome:
    """The outcome of a call that raised ``exc``."""
    if isinstance(exc, ToolError):
        return error_reply("error", tool.name, exc.message), "error", 0, exc.message
    message = f"tool {tool.name!r} failed with {type(exc).__name__}"
    try:
        detail = repr(exc)[:2000]
    except BaseException:  # an unprintable exception is still a failure, never an escape
        detail = f"{type(exc).__name__} (its repr failed)"
    return error_reply("error", tool.name, message), "error", 0, detail
