"""Every error the runtime raises or reports.

Hierarchy::

    OtcError
    ├── UsageError                  the caller's mistake; raised at once, never in a result
    │   ├── InvalidLimits           a Limits field out of range (also a ValueError)
    │   ├── InvalidCode             code that is not text, or too large (also a ValueError)
    │   └── ToolDefinitionError     a function that cannot be a tool, or a name conflict
    ├── ToolError                   raised by a tool to tell the script why it failed
    ├── GuestBuildError             the guest component could not be built or loaded
    ├── SessionBroken               a session's interpreter died; raised by its next run
    └── ExecutionError              a run failed; found in ``ExecutionResult.error``
        ├── GuestException          the script raised and did not catch it
        │   └── GuestSyntaxError    the script does not parse
        ├── LimitExceeded           a resource limit stopped the script
        │   ├── TimeoutExceeded
        │   ├── FuelExhausted
        │   ├── MemoryLimitExceeded
        │   ├── OutputLimitExceeded
        │   └── RecursionLimitExceeded
        ├── Cancelled               the caller cancelled the run
        └── GuestCrashed            the guest trapped or answered something malformed

Runtime failures (``ExecutionError``) are values: a run returns them in its
result so that partial output is kept next to them, and
``ExecutionResult.raise_for_error()`` raises them for callers who prefer
exceptions. Wasmtime's own errors are converted into these in exactly one
place, ``runtime._traps``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Cancelled",
    "ExecutionError",
    "FuelExhausted",
    "GuestBuildError",
    "GuestCrashed",
    "GuestException",
    "GuestSyntaxError",
    "InvalidCode",
    "InvalidLimits",
    "LimitExceeded",
    "MemoryLimitExceeded",
    "OtcError",
    "OutputLimitExceeded",
    "RecursionLimitExceeded",
    "SessionBroken",
    "TimeoutExceeded",
    "ToolDefinitionError",
    "ToolError",
    "UsageError",
]


class OtcError(Exception):
    """Base class of everything this package raises or reports."""


class UsageError(OtcError):
    """Raised when the caller passes something invalid: fix the call, not the script."""


class InvalidLimits(UsageError, ValueError):
    """Raised by ``Limits(...)`` when a field has the wrong type or is out of range."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"Limits.{field}={value!r} is invalid: expected {expected}")


class InvalidCode(UsageError, ValueError):
    """Raised by ``run`` before anything reaches the guest when the code is not
    a ``str`` or is longer than ``Limits.max_code_bytes``."""


class ToolDefinitionError(UsageError, TypeError):
    """Raised when a tool is defined: the function cannot be described as a
    tool (``*args``, an unsupported annotation, a bad name), or two tools in a
    ``ToolSet`` share a name."""


class ToolError(OtcError):
    """Raise it inside a tool to fail the call with ``message`` shown to the
    script (as a guest ``ToolError`` it can catch). Any other exception a tool
    raises reaches the script only as its type name: messages of unexpected
    errors can carry secrets, so they stay in the host's call log."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class GuestBuildError(OtcError):
    """Raised on first use when the guest component cannot be built, compiled
    or loaded from the cache; ``log`` holds the builder's output."""

    def __init__(self, message: str, *, log: str = "") -> None:
        self.log = log
        super().__init__(message)


class SessionBroken(OtcError):
    """Raised by ``Session.run`` after an earlier run killed the session's
    interpreter (a timeout, fuel exhaustion, a crash): its state is gone.
    ``cause`` is the error that killed it. Start a new session."""

    def __init__(self, cause: ExecutionError) -> None:
        self.cause = cause
        super().__init__(
            f"this session's interpreter was discarded after {type(cause).__name__}: "
            f"{cause.message}; its state is lost, start a new Session"
        )


class ExecutionError(OtcError):
    """A failed run, as reported in ``ExecutionResult.error``.

    Every subclass has the same structured fields, so a caller can render any
    failure without knowing its class.
    """

    #: Whether the interpreter that ran the script had to be discarded.
    fatal: bool = False

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        traceback: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type or self.__class__.__name__
        self.traceback = traceback
        self.line = line
        self.column = column

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (what the CLI and the daemon send)."""
        return {
            "error": self.__class__.__name__,
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "line": self.line,
            "column": self.column,
        }


class GuestException(ExecutionError):
    """The script raised ``type`` and did not catch it; ``traceback`` shows only
    the script's own frames, with the script's line numbers."""


class GuestSyntaxError(GuestException):
    """The script does not parse; ``line`` and ``column`` locate the problem."""


class LimitExceeded(ExecutionError):
    """A resource limit stopped the script. ``limit`` names the ``Limits`` field
    and ``value`` is its setting for the run."""

    limit: str = ""

    def __init__(self, message: str, *, value: object = None, **fields: Any) -> None:
        super().__init__(message, **fields)
        self.value = value

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "limit": self.limit, "value": self.value}


class TimeoutExceeded(LimitExceeded):
    """The run passed ``Limits.timeout`` seconds of wall-clock time (sleeping and
    waiting on the host included). The interpreter is discarded."""

    limit = "timeout"
    fatal = True


class FuelExhausted(LimitExceeded):
    """The run used up ``Limits.fuel``. The interpreter is discarded."""

    limit = "fuel"
    fatal = True


class MemoryLimitExceeded(LimitExceeded):
    """The script needed more linear memory than ``Limits.memory_mb``."""

    limit = "memory_mb"


class OutputLimitExceeded(LimitExceeded):
    """The script printed more than ``Limits.max_output_bytes``; the output in the
    result is exactly the first ``max_output_bytes`` bytes."""

    limit = "max_output_bytes"


class RecursionLimitExceeded(LimitExceeded):
    """The script recursed past ``Limits.recursion_limit`` Python frames, or
    exhausted the wasm stack (then the interpreter is discarded)."""

    limit = "recursion_limit"


class Cancelled(ExecutionError):
    """The caller cancelled the run (an ``arun`` task was cancelled, or Ctrl-C in
    the CLI). The interpreter is discarded."""

    fatal = True


class GuestCrashed(ExecutionError):
    """The guest trapped (e.g. it used a blocking WASI wait the sandbox does not
    grant) or answered the host with something malformed. The interpreter is
    discarded; the host is unaffected."""

    fatal = True
