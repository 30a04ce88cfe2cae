"""An ``ExecutionResult`` as the short text a model reads back.

Only what the script printed and its final value are returned, within a
character budget; whatever is cut is replaced by a marker saying how much
and why, never dropped silently. A failure becomes a short report (the
exception, the script's line, the tool that failed, what already ran) that
invites a fix. Nothing from the host's side of a tool failure (its call-log
detail) is included: that may hold secrets.
"""

from __future__ import annotations

import collections
import json
from typing import TYPE_CHECKING

from runtime._errors import LimitExceeded

if TYPE_CHECKING:
    from runtime._result import ExecutionResult

__all__ = ["cut", "report"]

_TRACEBACK_SHARE = 0.25
"""At most this share of the budget goes to a traceback."""


def cut(text: str, budget: int, *, what: str = "output") -> str:
    """``text`` within ``budget`` characters: its head and tail around a marker
    saying how many characters were cut."""
    if len(text) <= budget:
        return text
    marker = f"\n[... {{}} characters of {what} cut: over the budget of {budget} ...]\n"
    room = max(0, budget - len(marker.format(len(text))))
    head = room * 2 // 3
    tail = room - head
    omitted = len(text) - head - tail
    return text[:head] + marker.format(omitted) + (text[len(text) - tail :] if tail else "")


def _value_text(result: ExecutionResult) -> str:
    if result.value_kind == "json":
        return json.dumps(result.value, ensure_ascii=False)
    return str(result.value)


def _calls_summary(result: ExecutionResult) -> str:
    if not result.tool_calls:
        return "No tool calls were made."
    outcomes = collections.Counter(call.outcome for call in result.tool_calls)
    counts = ", ".join(f"{count} {outcome}" for outcome, count in outcomes.most_common())
    failed = [call for call in result.tool_calls if call.outcome != "ok"]
    text = f"Tool calls made before it stopped: {len(result.tool_calls)} ({counts})."
    if failed:
        last = failed[-1]
        text += f" The last failed call was {last.tool}() ({last.outcome})."
    if outcomes["ok"]:
        text += " Calls that succeeded are not undone: do not repeat their side effects."
    return text


def _error_text(result: ExecutionResult, budget: int) -> str:
    error = result.error
    assert error is not None
    where = f" (line {error.line})" if error.line is not None else ""
    lines = [f"Error: {error.type}{where}: {error.message}"]
    if error.traceback:
        lines.append(cut(error.traceback.rstrip(), int(budget * _TRACEBACK_SHARE), what="traceback"))
    lines.append(_calls_summary(result))
    if isinstance(error, LimitExceeded):
        lines.append(
            f"The script was stopped by the sandbox's {error.limit} limit ({error.value}). "
            "Do less per run: fewer or smaller steps, less output, aggregate before printing."
        )
    else:
        lines.append("Fix the script and run it again.")
    return cut("\n".join(lines), budget // 2, what="error report")


def report(result: ExecutionResult, *, budget: int) -> str:
    """The text a model gets back for ``result``, at most ``budget`` characters
    (plus the markers of what was cut)."""
    sections: list[tuple[str, str]] = []
    error = _error_text(result, budget) if result.error is not None else ""
    room = budget - len(error)
    parts = [("", result.stdout), ("stderr:\n", result.stderr)]
    if result.value_kind != "none":
        parts.append(("value: ", _value_text(result)))
    wanted = sum(len(text) for _, text in parts)
    for label, text in parts:
        if text:
            # Each part gets a share of the room in proportion to its size.
            share = max(200, room * len(text) // max(1, wanted))
            sections.append((label, cut(text, share, what=label.strip(": \n") or "printed output")))
    body = "".join(f"{label}{text}" if text.endswith("\n") else f"{label}{text}\n" for label, text in sections)
    if error:
        return body + error
    return body or "(The script printed nothing and ended without an expression: print what you need to see.)"
