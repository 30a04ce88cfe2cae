"""What the client raises.

Hierarchy (under ``runtime.OtcError``)::

    OtcError
    └── ClientError                 anything that kept the client from getting a result
        ├── TransportError          the server could not be reached, or the connection broke
        ├── ProtocolError           the server answered something this client cannot read
        └── ServerError             the server answered with an error status (.status_code, .detail)
            ├── Unauthorized        401: the token is missing, malformed or unknown
            ├── RequestRejected     400/404/405/413/422: unknown tool, limits over the
            │                       ceilings, code too large, an invalid body
            └── RateLimited         429: busy or over the caller's rate (.retry_after, .reason)

A script that fails is not an error here: ``run`` returns its
``ExecutionResult`` with the ``ExecutionError`` in ``result.error``, as
``Sandbox.run`` does.
"""

from __future__ import annotations

from typing import Any

from runtime import OtcError

__all__ = [
    "ClientError",
    "ProtocolError",
    "RateLimited",
    "RequestRejected",
    "ServerError",
    "TransportError",
    "Unauthorized",
]


class ClientError(OtcError):
    """Base class of the client's errors."""


class TransportError(ClientError):
    """Raised when the server cannot be reached, does not answer in time, or
    the connection breaks mid-response (the ``httpx`` error is the ``__cause__``)."""


class ProtocolError(ClientError):
    """Raised when a response is not what the API promises (a body that is not
    the documented JSON, a stream that ends without its result)."""


class ServerError(ClientError):
    """Raised when the server answers with an error status; ``status_code`` and
    ``detail`` (the body's ``detail``: a message, or a list of
    ``{loc, msg, type}`` for a 422) say why."""

    def __init__(self, status_code: int, detail: Any) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(f"{status_code}: {detail}")


class Unauthorized(ServerError):
    """Raised on 401: the bearer token is missing, malformed or unknown to the server."""


class RequestRejected(ServerError):
    """Raised on 400, 404, 405, 413 and 422: the request itself is wrong (a tool
    the server does not have, limits over its ceilings, code too large, a body
    that does not validate). Sending it again will not help."""


class RateLimited(ServerError):
    """Raised on 429: ``reason`` is ``"busy"`` (the server runs as many
    executions as it admits) or ``"rate_limited"`` (the caller's execution
    rate); retry after ``retry_after`` seconds."""

    def __init__(self, status_code: int, detail: Any, *, retry_after: float, reason: str) -> None:
        super().__init__(status_code, detail)
        self.retry_after = retry_after
        self.reason = reason
