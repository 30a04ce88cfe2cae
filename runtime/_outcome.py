"""The I/O-free core of a run: check the request, read the guest's reply.

Both drivers (``Sandbox.run``/``arun``, ``Session.run``/``arun``) go through
here, so validation and result building exist once. The guest's reply is
hostile input: it is size-checked, parsed with a depth-limited JSON parser and
validated field by field; anything malformed makes the run a ``GuestCrashed``.
A reply too large to read is an ``OutputLimitExceeded`` instead: the guest did
not trap, so its interpreter (a session's state) is kept.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
import pydantic_core
from pydantic import BaseModel, ConfigDict

from ._errors import (
    ExecutionError,
    GuestCrashed,
    GuestException,
    GuestSyntaxError,
    InvalidCode,
    LimitExceeded,
    MemoryLimitExceeded,
    OutputLimitExceeded,
    RecursionLimitExceeded,
)
from ._limits import Limits
from ._result import ExecutionResult, ToolCall
from ._run_state import OutputCapture

__all__ = ["RunOptions", "build_result", "check_code", "pick_limits", "run_options"]

_MAX_MESSAGE = 16 * 1024
_MAX_TRACEBACK = 64 * 1024
_REPLY_OVERHEAD = 1 << 20
_EMPTY_REPLY = '{"stdout": "", "stderr": "", "error": null, "value_kind": "none", "value": null}'
_VALUE_ONLY = '{"stdout": "", "stderr": "", "error": null, "value_kind": "json", "value": '
_SYNTAX = frozenset({"SyntaxError", "IndentationError", "TabError"})
_DEFAULT_OUTPUT = Limits().max_output_bytes


def pick_limits(given: object, default: Limits) -> Limits:
    """``given`` if it is a ``Limits``, ``default`` for None; raises ``TypeError`` otherwise."""
    if given is None:
        return default
    if not isinstance(given, Limits):
        raise TypeError(f"limits must be a runtime.Limits, got {type(given).__name__}")
    return given


def check_code(code: object, limits: Limits) -> str:
    """Return ``code`` if it may be sent to the guest, else raise ``InvalidCode``."""
    if not isinstance(code, str):
        raise InvalidCode(f"code must be a str, got {type(code).__name__}; decode bytes first")
    try:
        size = len(code) if code.isascii() else len(code.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidCode(f"code is not valid text: {exc.reason} at index {exc.start}") from None
    if size > limits.max_code_bytes:
        raise InvalidCode(
            f"code is {size} bytes, over Limits.max_code_bytes={limits.max_code_bytes}; "
            "raise the limit or send less code"
        )
    return code


@dataclass(frozen=True, slots=True)
class RunOptions:
    """The options JSON the guest's runner reads, in two forms; the instance
    sends the one its guest can use (``GuestInstance``)."""

    described: str
    """With the granted tools' descriptions, from which the guest builds
    their functions (and keeps them for later runs)."""
    named: str
    """Naming the granted tools only, for a guest that has built them:
    parsing one tool's description and building its function cost the guest
    ~160k instructions, more than a short run."""
    tools: frozenset[str]
    """The granted tools' names."""


@functools.lru_cache(maxsize=64)
def run_options(
    recursion_limit: int,
    *,
    fresh: bool,
    tools: str = "",
    names: tuple[str, ...] = (),
    max_output_bytes: int = _DEFAULT_OUTPUT,
) -> RunOptions:
    """The options for a run; ``tools`` is the JSON list of granted tools'
    guest descriptions (``ToolSet.guest_json``), if any, and ``names`` their names.

    ``max_output_bytes`` lets an honest runner refuse to encode a final value
    over the cap (it answers ``value_kind: "too_large"``) instead of sending a
    reply the host would not read. Its default is ``Limits()``'s."""
    text = json.dumps({"fresh": fresh, "recursion_limit": recursion_limit, "max_output_bytes": max_output_bytes})
    if not tools:
        return RunOptions(described=text, named=text, tools=frozenset())
    return RunOptions(
        described=text[:-1] + ', "tools": ' + tools + "}",
        named=text[:-1] + ', "tool_names": ' + json.dumps(names) + "}",
        tools=frozenset(names),
    )


class _GuestError(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    type: str
    message: str
    traceback: str | None = None
    line: int | None = None
    column: int | None = None


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    stdout: str
    stderr: str
    error: _GuestError | None
    value_kind: Literal["none", "json", "repr", "too_large"]
    """``too_large``: the runner refused to encode a final value over the output cap."""
    value: Any


class _Fatal(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    fatal: str


_REPLY = pydantic.TypeAdapter(_Reply | _Fatal)


def _clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters dropped by the host]"


def _value_too_large(limits: Limits) -> OutputLimitExceeded:
    return OutputLimitExceeded(f"the final value does not fit in the {limits.max_output_bytes}-byte output budget")


def _guest_error(raw: _GuestError) -> ExecutionError:
    fields: dict[str, Any] = {
        "type": raw.type[:200],
        "traceback": _clip(raw.traceback, _MAX_TRACEBACK),
        "line": raw.line,
        "column": raw.column,
    }
    message = _clip(raw.message, _MAX_MESSAGE) or ""
    if raw.type == "MemoryError":
        return MemoryLimitExceeded(f"the script ran out of memory: {message}", **fields)
    if raw.type == "RecursionError":
        return RecursionLimitExceeded(f"the script recursed too deeply: {message}", **fields)
    if raw.type in _SYNTAX:
        where = f" (line {raw.line}, column {raw.column})" if raw.line is not None else ""
        return GuestSyntaxError(f"{message}{where}", **fields)
    return GuestException(message, **fields)


def build_result(
    reply: str | None,
    trap: ExecutionError | None,
    capture: OutputCapture,
    limits: Limits,
    *,
    duration: float,
    fuel_consumed: int | None,
    tool_calls: tuple[ToolCall, ...] = (),
) -> ExecutionResult:
    """Turn what the guest answered (or the trap that ended it) into a result."""
    error, value, kind = trap, None, "none"
    if reply == _EMPTY_REPLY:
        pass  # the common "nothing to report" reply needs no parsing
    elif reply is not None:
        error, value, kind = _read_reply(reply, capture, limits)
    if capture.overflowed and not isinstance(error, OutputLimitExceeded) and (error is None or not error.fatal):
        # The host's count is the authority, whatever the guest did about it.
        error = OutputLimitExceeded(f"the script printed more than {limits.max_output_bytes} bytes; output truncated")
        value, kind = None, "none"
    if isinstance(error, LimitExceeded):
        error.value = getattr(limits, error.limit, None)
    return ExecutionResult(
        stdout=capture.text("stdout"),
        stderr=capture.text("stderr"),
        value=value,
        value_kind=kind,  # type: ignore[arg-type]
        error=error,
        duration=duration,
        fuel_consumed=fuel_consumed,
        tool_calls=tool_calls,
    )


def _read_reply(reply: str, capture: OutputCapture, limits: Limits) -> tuple[ExecutionError | None, Any, str]:
    small = len(reply) < min(4096, limits.max_output_bytes - capture.used)
    if small and reply.startswith(_VALUE_ONLY) and reply.endswith("}"):
        # Nothing printed, no error, a small value: only the value needs parsing.
        try:
            return None, pydantic_core.from_json(reply[len(_VALUE_ONLY) : -1], allow_inf_nan=False), "json"
        except ValueError:
            pass  # not a JSON value after all: the full check below reports it
    if len(reply) > 4 * limits.max_output_bytes + _REPLY_OVERHEAD:
        # Not read, whatever it holds. An honest runner never sends this much
        # (it refuses large values itself), but the guest did not trap: its
        # interpreter is still usable, so this is not a crash.
        budget = limits.max_output_bytes
        message = f"the guest's reply is {len(reply)} characters, far over the {budget}-byte output budget"
        return OutputLimitExceeded(message), None, "none"
    try:
        if "NaN" in reply or "Infinity" in reply:
            # Not JSON, but lenient parsers take them: refuse, values must stay JSON.
            parsed = _REPLY.validate_python(pydantic_core.from_json(reply, allow_inf_nan=False))
        else:
            parsed = _REPLY.validate_json(reply)
    except (pydantic.ValidationError, ValueError) as exc:
        return GuestCrashed(f"the guest answered something malformed ({type(exc).__name__})"), None, "none"
    if isinstance(parsed, _Fatal):
        return GuestCrashed(f"the guest reported a fatal error: {parsed.fatal[:200]}"), None, "none"
    capture.write("stdout", parsed.stdout)
    capture.write("stderr", parsed.stderr)
    error = None if parsed.error is None else _guest_error(parsed.error)
    value, kind = parsed.value, parsed.value_kind
    if kind == "too_large":
        return _value_too_large(limits), None, "none"
    if kind == "none":
        value = None
    elif kind == "repr" and not isinstance(value, str):
        return GuestCrashed("the guest sent a repr value that is not a string"), None, "none"
    if kind != "none" and not capture.overflowed:  # an overflow is reported as such by build_result
        size = len(reply) - len(parsed.stdout) - len(parsed.stderr)  # a cheap upper bound on the value's size
        if (
            size > limits.max_output_bytes - capture.used
            and len(json.dumps(value)) > limits.max_output_bytes - capture.used
        ):
            return _value_too_large(limits), None, "none"
    return error, value, kind
