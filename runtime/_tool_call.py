"""One tool call on the host, and how its outcome becomes the guest's reply.

Replies are JSON text: ``{"ok": <result>}`` or ``{"error": {"kind", "tool",
"message"}}``. A tool's own ``ToolError`` message crosses; any other
exception crosses only as its type name (its message may hold secrets) and
is kept, with its repr, for the host's call log.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import ToolError
from ._result import ToolOutcome

if TYPE_CHECKING:
    from host_functions import Tool

    from ._tool_threads import ToolJob

__all__ = ["Outcome", "ToolCallState", "error_reply", "failure_for", "reply_for"]

_MAX_MESSAGE = 4000

Outcome = tuple[str, ToolOutcome, int, "str | None"]
"""(reply JSON for the guest, outcome for the log, result size, detail for the log)."""


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
