"""``POST /v1/executions`` answered without the framework's per-request machinery.

Under load the daemon's event loop is its bottleneck, and FastAPI's routing,
dependency solving and body handling cost more of it than the execution
itself does. ``FastExecutions`` (ASGI middleware, inside authentication and
the body limit) answers that one route itself when the request is plain: a
JSON body that validates, no query string. It does exactly what the route
does, through the same ``Executions``, parsing and validating the body the
way FastAPI does (``json.loads``, then the model in Python mode), so a
request gets the same answer either way.

Everything else (a body that is not JSON or does not validate, a query
string, another content type) goes on to FastAPI with the body replayed, so
every error keeps its one, documented shape. The route stays declared in
FastAPI for the OpenAPI schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pydantic
from fastapi import HTTPException, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._auth import Identity
from ._authenticate import IDENTITY_KEY
from ._executions import Executions
from ._models import ExecutionRequest
from ._responses import http_error

__all__ = ["EXECUTIONS_PATH", "FastExecutions", "FastPathStats"]

EXECUTIONS_PATH = "/v1/executions"


@dataclass
class FastPathStats:
    """How many requests the fast path answered itself, refusals by admission
    included (the app keeps one in ``app.state.fast_path``)."""

    answered: int = 0


def _plain_json(scope: Scope) -> bool:
    """No content type, or ``application/json``: what FastAPI reads as JSON without question."""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json"
    return True


def _validated(body: bytes) -> ExecutionRequest | None:
    if not body:
        return None
    try:
        return ExecutionRequest.model_validate(json.loads(body))
    except (ValueError, RecursionError, pydantic.ValidationError):  # JSON, text or model: FastAPI answers
        return None


class FastExecutions:
    """Answers plain ``POST /v1/executions`` requests itself; passes on the rest."""

    def __init__(self, app: ASGIApp, executions: Executions, stats: FastPathStats) -> None:
        self.app = app
        self.executions = executions
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        identity = scope.get(IDENTITY_KEY)
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != EXECUTIONS_PATH
            or scope.get("query_string")
            or not isinstance(identity, Identity)
            or not _plain_json(scope)
        ):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        try:
            body = await _read_body(receive, received)
        except HTTPException as exc:  # over the body limit while reading
            await (await http_error(Request(scope), exc))(scope, receive, send)
            return
        request = _validated(body) if body is not None else None
        if request is None:
            await self.app(scope, _replaying(received, receive), send)
            return
        self.stats.answered += 1
        try:
            admitted = self.executions.admit(identity, request, stream=False)
            _, result = await self.executions.run(admitted)
        except HTTPException as exc:
            await (await http_error(Request(scope), exc))(scope, receive, send)
            return
        response = Response(result, media_type="application/json", headers={"X-Execution-Id": admitted.execution})
        await response(scope, receive, send)


async def _read_body(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole body, keeping every message in ``received``; None if the client went away."""
    chunks = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """``receive`` that first gives back the messages already read."""
    pending = list(received)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay
