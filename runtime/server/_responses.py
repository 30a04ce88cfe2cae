"""How the daemon answers: JSON that always encodes, and errors that never leak.

* ``JSON``: compact JSON; text a hostile script or body made un-encodable
  (lone surrogates) falls back to ASCII escapes, non-finite numbers to null,
  instead of becoming a 500.
* Error bodies are ``{"detail": ...}``; 422s use FastAPI's shape
  (``detail: [{loc, msg, type}]``) without echoing the input.
* ``CatchAll``: an unexpected exception is logged with its traceback and
  answered with a generic 500; nothing of the host's internals is sent.
* ``BodyLimit``: request bodies over the configured size are refused with 413
  before they are read (Content-Length) or while they are (chunked).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["JSON", "BodyLimit", "CatchAll", "dumps", "http_error", "problem", "validation_error"]

log = logging.getLogger("otc.server")

_MAX_MESSAGE = 500


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


def dumps(content: Any) -> bytes:
    """``content`` as UTF-8 JSON, whatever strings and floats it holds."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return json.dumps(_finite(content), ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class JSON(JSONResponse):
    """A JSON response rendered with ``dumps``."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


def problem(status: int, detail: Any, headers: Mapping[str, str] | None = None, **extra: Any) -> JSON:
    """An error response: ``{"detail": detail, **extra}``."""
    return JSON({"detail": detail, **extra}, status_code=status, headers=dict(headers or {}))


async def http_error(request: Request, exc: Exception) -> JSON:
    """Handler for ``HTTPException`` (ours and the framework's 404/405)."""
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    extra = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
    return JSON(extra, status_code=exc.status_code, headers=dict(exc.headers or {}))


async def validation_error(request: Request, exc: Exception) -> JSON:
    """Handler for ``RequestValidationError``: 422 listing where and what, never the input."""
    if not isinstance(exc, RequestValidationError):
        raise exc
    detail = [
        {
            "loc": [part if isinstance(part, int) else str(part)[:100] for part in error.get("loc", ())][:10],
            "msg": str(error.get("msg", ""))[:_MAX_MESSAGE],
            "type": str(error.get("type", ""))[:100],
        }
        for error in list(exc.errors())[:20]
    ]
    return problem(422, detail)


class CatchAll:
    """Answers an unexpected exception with a generic 500 and logs it (traceback included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # too late for a 500: let the server drop the connection
            response = problem(500, "internal server error; the incident is logged on the server")
            await response(scope, receive, send)


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"the request body is over {self.max_bytes} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await problem(413, too_large)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI lets an HTTPException raised while reading the body through.
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited_receive, send)
