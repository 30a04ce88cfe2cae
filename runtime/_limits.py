"""Resource limits for one run."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._errors import InvalidLimits

__all__ = ["Limits"]


def _positive(field: str, value: object, kind: type, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
    what = "a positive number of seconds" if kind is float else "a positive integer"
    if optional:
        what += " or None"
    if not ok:
        raise InvalidLimits(field, value, what)
    if value <= 0:  # type: ignore[operator]
        raise InvalidLimits(field, value, what)


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """What one run may use. Every field must be positive; fields are checked
    when the object is built, so a bad value fails at configuration time.

    Usage::

        Limits()                                  # the defaults below
        Limits(timeout=2.0, memory_mb=64)         # tighter
        Limits(fuel=50_000_000)                   # deterministic CPU budget
    """

    timeout: float = 10.0
    """Wall-clock seconds for the whole run, including sleeps and host calls.
    Enforced by epoch interruption: a script in a busy loop or a ``time.sleep``
    is stopped, and the result reports ``TimeoutExceeded``."""

    memory_mb: int = 128
    """Cap on the guest's linear memory in MiB. Allocation past it raises
    ``MemoryError`` in the script, reported as ``MemoryLimitExceeded``. Must be
    at least the interpreter's baseline (about 40 MiB)."""

    max_output_bytes: int = 1_000_000
    """Cap on stdout plus stderr, in UTF-8 bytes, counted on the host. The result
    keeps exactly the first bytes up to the cap and reports
    ``OutputLimitExceeded``; so does a final value whose JSON does not fit in
    what is left of the cap (a session keeps its state)."""

    fuel: int | None = None
    """Optional deterministic CPU budget (wasm fuel units; roughly one per wasm
    instruction). ``None`` means no fuel metering, which runs about a third
    faster. Exhaustion is reported as ``FuelExhausted``."""

    recursion_limit: int = 1000
    """Python's recursion limit inside the guest (``sys.setrecursionlimit``).
    Deeper recursion is reported as ``RecursionLimitExceeded``."""

    max_code_bytes: int = 1_000_000
    """Largest script accepted, in UTF-8 bytes; larger code is rejected with
    ``InvalidCode`` before it reaches the guest."""

    max_tool_calls: int = 10_000
    """Tool calls one run may make in total; later calls fail in the script
    with a ``ToolError`` (kind ``"limit"``)."""

    max_concurrent_tool_calls: int = 64
    """Tool calls of one run in flight at once; more wait their turn on the host."""

    tool_timeout: float = 30.0
    """Seconds one tool call may take before the script gets ``ToolTimeoutError``
    (an async tool is cancelled; a sync tool's thread cannot be stopped: its
    late result is dropped and the thread stops counting against the shared
    pool, see ``runtime._tool_threads``)."""

    max_tool_payload_bytes: int = 1_000_000
    """Largest JSON arguments a script may send to one tool call."""

    max_tool_result_bytes: int = 10_000_000
    """Largest JSON result one tool call may return to the script; a larger
    result fails the call with a ``ToolError``, the run goes on."""

    def __post_init__(self) -> None:
        _positive("timeout", self.timeout, float)
        _positive("memory_mb", self.memory_mb, int)
        _positive("max_output_bytes", self.max_output_bytes, int)
        _positive("fuel", self.fuel, int, optional=True)
        _positive("recursion_limit", self.recursion_limit, int)
        _positive("max_code_bytes", self.max_code_bytes, int)
        _positive("max_tool_calls", self.max_tool_calls, int)
        _positive("max_concurrent_tool_calls", self.max_concurrent_tool_calls, int)
        _positive("tool_timeout", self.tool_timeout, float)
        _positive("max_tool_payload_bytes", self.max_tool_payload_bytes, int)
        _positive("max_tool_result_bytes", self.max_tool_result_bytes, int)
