"""What a run returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import ExecutionError

__all__ = ["ExecutionResult", "ToolCall", "ToolOutcome", "ValueKind", "tool_calls_from_rows"]

ValueKind = Literal["none", "json", "repr"]
ToolOutcome = Literal["ok", "error", "invalid", "rejected", "timeout", "cancelled"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCall:
    """One entry of a run's call log (``ExecutionResult.tool_calls``)."""

    id: int
    """The call's id within the run (also ``ToolContext.call_id``)."""
    tool: str
    """The tool's name, as the script asked for it."""
    outcome: ToolOutcome
    """``ok``; ``error`` (the tool raised or returned something unusable);
    ``invalid`` (arguments failed validation); ``rejected`` (unknown tool or a
    limit); ``timeout``; ``cancelled`` (the run ended first)."""
    started: float
    """When the call started running, in seconds since the run started."""
    duration: float
    """Seconds from the start of the call to its completion."""
    waited: float
    """Seconds the call waited for a slot (``Limits.max_concurrent_tool_calls``)."""
    arguments_bytes: int
    """Size of the JSON arguments the script sent."""
    result_bytes: int
    """Size of the JSON result returned to the script (0 on failure)."""
    detail: str | None = None
    """For the host's eyes only: why the call failed, including the repr of an
    unexpected exception (which is never sent to the guest)."""

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


_TOOL_CALL_SETTERS = tuple(getattr(ToolCall, name).__set__ for name in ToolCall.__slots__)


def tool_calls_from_rows(rows: Iterable[tuple[Any, ...]]) -> tuple[ToolCall, ...]:
    """Call-log rows (``ToolCall``'s fields, in order) as ``ToolCall`` objects.

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``; a run's log can hold thousands of calls, so the
    slots' own descriptors set them, unrolled: 1.3 ms for 1000 calls, against
    2.5 ms looping over the descriptors and 3.7 ms through ``__init__``
    (``ToolCall`` has no ``__post_init__`` or default factory to skip). A field
    added to ``ToolCall`` must be added here (unpacking the setters then fails)."""
    set_id, set_tool, set_outcome, set_started, set_duration, set_waited, set_args, set_result, set_detail = (
        _TOOL_CALL_SETTERS
    )
    new = object.__new__
    calls = []
    for call_id, tool, outcome, started, duration, waited, arguments_bytes, result_bytes, detail in rows:
        call = new(ToolCall)
        set_id(call, call_id)
        set_tool(call, tool)
        set_outcome(call, outcome)
        set_started(call, started)
        set_duration(call, duration)
        set_waited(call, waited)
        set_args(call, arguments_bytes)
        set_result(call, result_bytes)
        set_detail(call, detail)
        calls.append(call)
    return tuple(calls)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionResult:
    """The outcome of one run: output, the final expression's value, and the error.

    A failed run is still a result: ``error`` says what stopped it and
    ``stdout``/``stderr`` keep what was printed before that.
    """

    stdout: str = ""
    """What the script printed to ``sys.stdout`` (capped by ``Limits.max_output_bytes``)."""

    stderr: str = ""
    """What the script printed to ``sys.stderr`` (same cap, shared with stdout)."""

    value: Any = None
    """The value of the script's final expression, REPL-style: the value itself
    when it is JSON (``None``, bool, int, float, str, lists, dicts with str
    keys), otherwise its ``repr`` as a string. ``None`` when the script does not
    end in an expression."""

    value_kind: ValueKind = "none"
    """``"json"`` when ``value`` is the value itself, ``"repr"`` when it is the
    repr string, ``"none"`` when there was no final value."""

    error: ExecutionError | None = None
    """``None`` on success, else the structured reason the run failed."""

    duration: float = 0.0
    """Wall-clock seconds spent in the guest for this run."""

    fuel_consumed: int | None = None
    """Fuel used by the run when ``Limits.fuel`` was set, else ``None``."""

    tool_calls: tuple[ToolCall, ...] = ()
    """Every tool call the run made, in call order (the call log)."""

    @property
    def ok(self) -> bool:
        """True when the run finished without error."""
        return self.error is None

    def raise_for_error(self) -> ExecutionResult:
        """Raise ``error`` if the run failed; return the result otherwise."""
        if self.error is not None:
            raise self.error
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form of the result."""
        return {
            "ok": self.ok,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "value": self.value,
            "value_kind": self.value_kind,
            "error": None if self.error is None else self.error.to_dict(),
            "duration": self.duration,
            "fuel_consumed": self.fuel_consumed,
            "tool_calls": [call.to_dict() for call in self.tool_calls],
        }
