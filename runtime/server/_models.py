"""The JSON API's request and response bodies (and so its OpenAPI schema).

Requests are validated strictly (``"5"`` is not a number, unknown keys are
refused): every body is hostile. Responses mirror ``ExecutionResult.to_dict()``
without the call log's host-only ``detail``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from runtime import ExecutionResult, ToolOutcome, ValueKind

__all__ = [
    "ErrorBody",
    "ErrorInfo",
    "ExecutionRequest",
    "ExecutionResponse",
    "Health",
    "LimitsOverride",
    "RateLimitedBody",
    "ToolCallInfo",
    "ToolInfo",
    "ToolList",
    "response_dict",
]

_MAX_INT = 2**53  # the largest integer every JSON parser keeps exact (and within wasmtime's 64-bit counters)


def _whole(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; strict pydantic would not.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Count = Annotated[int, Field(gt=0, le=_MAX_INT), BeforeValidator(_whole)]
"""A positive integer, also when a client's JSON writes it ``3.0``; never a string or a bool."""


def _seconds(text: str) -> Any:
    return Field(default=None, gt=0, allow_inf_nan=False, description=text)


def _count(text: str) -> Any:
    return Field(default=None, description=text)


class LimitsOverride(BaseModel):
    """Limits for one run; each field may lower the server's ceiling, never raise it.
    A field left out gets the ceiling. (The code-size cap is the server's:
    ``ceilings.max_code_bytes``.)"""

    model_config = ConfigDict(extra="forbid", strict=True)

    timeout: float | None = _seconds("Wall-clock seconds for the whole run.")
    memory_mb: Count | None = _count("Cap on the guest's linear memory, MiB.")
    max_output_bytes: Count | None = _count("Cap on stdout plus stderr, UTF-8 bytes.")
    fuel: Count | None = _count("Deterministic CPU budget (wasm fuel units).")
    recursion_limit: Count | None = _count("Python's recursion limit in the guest.")
    max_tool_calls: Count | None = _count("Tool calls the run may make in total.")
    max_concurrent_tool_calls: Count | None = _count("Tool calls in flight at once.")
    tool_timeout: float | None = _seconds("Seconds one tool call may take.")
    max_tool_payload_bytes: Count | None = _count("Largest JSON arguments of one tool call.")
    max_tool_result_bytes: Count | None = _count("Largest JSON result of one tool call.")


class ExecutionRequest(BaseModel):
    """Run ``code`` in a fresh sandbox with the tools named in ``tools``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    code: str = Field(description="The Python script; its final expression is the result's value.")
    tools: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Names of the server's tools this run may call (GET /v1/tools); none by default.",
    )
    limits: LimitsOverride | None = Field(default=None, description="Lower limits for this run.")


class ErrorInfo(BaseModel):
    """Why a run failed (``runtime.ExecutionError.to_dict()``)."""

    error: str = Field(description="The ExecutionError subclass: GuestException, TimeoutExceeded...")
    type: str = Field(description="The guest exception's type, or the error class.")
    message: str
    traceback: str | None = None
    line: int | None = None
    column: int | None = None
    limit: str | None = Field(default=None, description="For a LimitExceeded: the Limits field.")
    value: Any = Field(default=None, description="For a LimitExceeded: the limit's setting for the run.")


class ToolCallInfo(BaseModel):
    """One entry of the run's call log."""

    id: int
    tool: str
    outcome: ToolOutcome
    started: float
    duration: float
    waited: float
    arguments_bytes: int
    result_bytes: int


class ExecutionResponse(BaseModel):
    """What the run did: ``runtime.ExecutionResult.to_dict()``."""

    ok: bool
    stdout: str
    stderr: str
    value: Any = Field(description="The final expression's value (JSON), or its repr (see value_kind).")
    value_kind: ValueKind
    error: ErrorInfo | None
    duration: float
    fuel_consumed: int | None
    tool_calls: list[ToolCallInfo]


class ToolInfo(BaseModel):
    """A tool a run may be granted."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(description="JSON Schema of the arguments.")
    returns: dict[str, Any] | None = Field(description="JSON Schema of the result, when known.")


class ToolList(BaseModel):
    """The server's tools; best first when searched."""

    tools: list[ToolInfo]


class Health(BaseModel):
    """The daemon is up."""

    status: Literal["ok"]
    in_flight: int = Field(description="Executions admitted and not finished.")
    workers: int = Field(description="Worker processes serving the API now (1 for a single-process server).")


class ErrorBody(BaseModel):
    """A refused request (401, 413...)."""

    detail: str


class RateLimitedBody(BaseModel):
    """A request refused for now (429): retry after ``retry_after`` seconds."""

    detail: str
    reason: Literal["rate_limited", "busy"]
    retry_after: float


def response_dict(result: ExecutionResult) -> dict[str, Any]:
    """``result`` as an ``ExecutionResponse`` body, without the call log's ``detail``
    (host-side failure reasons, which may hold what scripts must not see)."""
    body = result.to_dict()
    for call in body["tool_calls"]:
        call.pop("detail", None)
    return body
