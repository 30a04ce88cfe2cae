"""otc-runtime: untrusted Python in a WebAssembly-isolated CPython.

Data flow: code in -> ``Sandbox``/``Session`` (``runtime._outcome`` checks it)
-> a guest interpreter from the warm pool (``runtime._pool``,
``runtime._instance``) -> host functions the guest calls
(``runtime._imports``; tool calls through ``runtime._dispatch`` to the
``host_functions`` a sandbox was granted) -> ``ExecutionResult`` out.
"""

from ._build import cache_dir
from ._errors import (
    Cancelled,
    ExecutionError,
    FuelExhausted,
    GuestBuildError,
    GuestCrashed,
    GuestException,
    GuestSyntaxError,
    InvalidCode,
    InvalidLimits,
    LimitExceeded,
    MemoryLimitExceeded,
    OtcError,
    OutputLimitExceeded,
    RecursionLimitExceeded,
    SessionBroken,
    TimeoutExceeded,
    ToolDefinitionError,
    ToolError,
    UsageError,
)
from ._limits import Limits
from ._result import ExecutionResult, ToolCall, ToolOutcome, ValueKind
from ._sandbox import Sandbox
from ._session import Session

__all__ = [
    "Cancelled",
    "ExecutionError",
    "ExecutionResult",
    "FuelExhausted",
    "GuestBuildError",
    "GuestCrashed",
    "GuestException",
    "GuestSyntaxError",
    "InvalidCode",
    "InvalidLimits",
    "LimitExceeded",
    "Limits",
    "MemoryLimitExceeded",
    "OtcError",
    "OutputLimitExceeded",
    "RecursionLimitExceeded",
    "Sandbox",
    "Session",
    "SessionBroken",
    "TimeoutExceeded",
    "ToolCall",
    "ToolDefinitionError",
    "ToolError",
    "ToolOutcome",
    "UsageError",
    "ValueKind",
    "cache_dir",
]
