"""What ``Client`` and ``AsyncClient`` share, without I/O: building requests,
reading responses, decoding the event stream, rebuilding results.

``ExecutionResult``s are rebuilt as the library makes them: ``error`` is the
``ExecutionError`` subclass the server named (``TimeoutExceeded``,
``GuestException``...), with the same structured fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx

from runtime import (
    Cancelled,
    ExecutionError,
    ExecutionResult,
    FuelExhausted,
    GuestCrashed,
    GuestException,
    GuestSyntaxError,
    LimitExceeded,
    Limits,
    MemoryLimitExceeded,
    OutputLimitExceeded,
    RecursionLimitExceeded,
    TimeoutExceeded,
    ToolCall,
)
from runtime.llm import ToolSpec

from ._errors import ProtocolError, RateLimited, RequestRejected, ServerError, Unauthorized

__all__ = ["DEFAULT_URL", "BaseClient", "EventDecoder", "OutputEvent", "result_from_dict"]

DEFAULT_URL = "http://127.0.0.1:8000"

_ERRORS: dict[str, type[ExecutionError]] = {
    cls.__name__: cls
    for cls in (
        ExecutionError,
        GuestException,
        GuestSyntaxError,
        LimitExceeded,
        TimeoutExceeded,
        FuelExhausted,
        MemoryLimitExceeded,
        OutputLimitExceeded,
        RecursionLimitExceeded,
        Cancelled,
        GuestCrashed,
    )
}
_REJECTED = frozenset({400, 404, 405, 413, 422})


@dataclass(frozen=True, slots=True)
class OutputEvent:
    """Output a streamed run printed, as it printed it."""

    stream: Literal["stdout", "stderr"]
    """Where the script wrote it."""
    text: str
    """What it wrote (a line, or the part of one kept under the output cap)."""


def _error_from_dict(data: Mapping[str, Any]) -> ExecutionError:
    cls = _ERRORS.get(str(data["error"]), ExecutionError)
    fields: dict[str, Any] = {
        "type": data.get("type"),
        "traceback": data.get("traceback"),
        "line": data.get("line"),
        "column": data.get("column"),
    }
    message = str(data["message"])
    if issubclass(cls, LimitExceeded):
        return cls(message, value=data.get("value"), **fields)
    return cls(message, **fields)


def result_from_dict(data: Any) -> ExecutionResult:
    """Rebuild an ``ExecutionResult`` from the API's JSON. Raises ``ProtocolError``
    when ``data`` is not an ``ExecutionResponse``."""
    try:
        error = data["error"]
        return ExecutionResult(
            stdout=str(data["stdout"]),
            stderr=str(data["stderr"]),
            value=data["value"],
            value_kind=data["value_kind"],
            error=None if error is None else _error_from_dict(error),
            duration=float(data["duration"]),
            fuel_consumed=data["fuel_consumed"],
            tool_calls=tuple(
                ToolCall(
                    id=int(call["id"]),
                    tool=str(call["tool"]),
                    outcome=call["outcome"],
                    started=float(call["started"]),
                    duration=float(call["duration"]),
                    waited=float(call["waited"]),
                    arguments_bytes=int(call["arguments_bytes"]),
                    result_bytes=int(call["result_bytes"]),
                )
                for call in data["tool_calls"]
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"the server's result is malformed ({type(exc).__name__}: {exc})") from None


class EventDecoder:
    """Decodes a ``text/event-stream`` line by line into (event, data) pairs."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        """Take one line (without its newline); an event when ``line`` ends one."""
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = (self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None


class BaseClient:
    """The I/O-free half of the clients."""

    def __init__(self, base_url: str, token: str) -> None:
        if not isinstance(token, str) or not token:
            raise TypeError("token must be the caller's bearer token (a non-empty str)")
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}({self.base_url!r})"

    @staticmethod
    def _execution_body(
        code: str, tools: Iterable[str], limits: Limits | Mapping[str, float | int | None] | None
    ) -> dict[str, Any]:
        if isinstance(tools, str):
            raise TypeError("tools must be a collection of tool names, not a single string")
        body: dict[str, Any] = {"code": code, "tools": list(tools)}
        if isinstance(limits, Limits):
            # A whole Limits is sent field by field; the server's code-size cap is its own.
            body["limits"] = {k: v for k, v in asdict(limits).items() if k != "max_code_bytes" and v is not None}
        elif limits is not None:
            body["limits"] = dict(limits)
        return body

    @staticmethod
    def _tools_params(q: str | None, k: int) -> dict[str, Any]:
        return {"k": k} if q is None else {"q": q, "k": k}

    @staticmethod
    def _check(response: httpx.Response) -> None:
        """Raise the ``ServerError`` for an error status (the body must have been read)."""
        status = response.status_code
        if status < 400:
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = body.get("detail", body) if isinstance(body, dict) else response.text[:500]
        if status == 401:
            raise Unauthorized(status, detail)
        if status == 429:
            retry_after = body.get("retry_after") if isinstance(body, dict) else None
            if not isinstance(retry_after, (int, float)):
                try:
                    retry_after = float(response.headers.get("retry-after", "1"))
                except ValueError:
                    retry_after = 1.0
            reason = str(body.get("reason", "")) if isinstance(body, dict) else ""
            raise RateLimited(status, detail, retry_after=float(retry_after), reason=reason)
        if status in _REJECTED:
            raise RequestRejected(status, detail)
        raise ServerError(status, detail)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ProtocolError(f"the server answered {response.status_code} with a body that is not JSON") from None

    @classmethod
    def _result(cls, response: httpx.Response) -> ExecutionResult:
        cls._check(response)
        return result_from_dict(cls._json(response))

    @classmethod
    def _tool_specs(cls, response: httpx.Response) -> list[ToolSpec]:
        cls._check(response)
        try:
            return [
                ToolSpec(
                    name=str(t["name"]),
                    description=str(t["description"]),
                    parameters=t["parameters"],
                    returns=t["returns"],
                )
                for t in cls._json(response)["tools"]
            ]
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"the server's tool list is malformed ({exc!r})") from None

    @classmethod
    def _health(cls, response: httpx.Response) -> dict[str, Any]:
        cls._check(response)
        body = cls._json(response)
        if not isinstance(body, dict):
            raise ProtocolError("the server's health answer is not an object")
        return body

    @staticmethod
    def _stream_item(event: str, data: str) -> OutputEvent | ExecutionResult | None:
        """What one event of the stream means: output, the result, or nothing (an unknown event)."""
        try:
            if event in ("stdout", "stderr"):
                text = json.loads(data)
                if not isinstance(text, str):
                    raise ValueError("output data is not a string")
                return OutputEvent(event, text)  # type: ignore[arg-type]
            if event == "result":
                return result_from_dict(json.loads(data))
            if event == "error":
                body = json.loads(data)
                raise ServerError(500, body.get("detail", data) if isinstance(body, dict) else data)
        except ValueError:
            raise ProtocolError(f"malformed {event!r} event in the stream") from None
        return None
