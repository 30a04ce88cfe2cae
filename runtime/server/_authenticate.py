"""Authentication as the request's first step, before a byte of its body is read.

``Authenticate`` (ASGI middleware) resolves the bearer token of every
request under ``/v1/`` with the app's ``TokenVerifier``; a request without a
valid one is answered 401 with ``WWW-Authenticate`` at once. The endpoints
receive the ``Identity`` through the ``Caller`` dependency, which also
declares the bearer scheme in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from ._auth import AuthenticationFailed, Identity, TokenVerifier, bearer_token
from ._metrics import Metrics
from ._responses import problem

__all__ = ["IDENTITY_KEY", "PROTECTED_PREFIX", "Authenticate", "Caller"]

PROTECTED_PREFIX = "/v1/"
"""Every path under it needs a bearer token; the probes (``/healthz``, ``/metrics``) and the schema do not."""

IDENTITY_KEY = "otc.identity"
"""Where the middleware leaves the caller's ``Identity`` in the ASGI scope."""

_bearer = HTTPBearer(auto_error=False, description="A token the server knows (its token file).")


def _challenge(error: str) -> str:
    return 'Bearer realm="otc"' + (f', error="{error}"' if error else "")


class Authenticate:
    """Answers 401 for requests under ``PROTECTED_PREFIX`` without a valid bearer token."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, metrics: Metrics) -> None:
        self.app = app
        self.verifier = verifier
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            token = bearer_token(header)
            identity = await self.verifier.verify(token)
            if identity is None:
                raise AuthenticationFailed("invalid_token", "unknown bearer token")
        except AuthenticationFailed as exc:
            self.metrics.rejection("unauthorized")
            await problem(401, exc.message, {"WWW-Authenticate": _challenge(exc.error)})(scope, receive, send)
            return
        scope[IDENTITY_KEY] = identity
        await self.app(scope, receive, send)


async def _caller(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Identity:
    identity = request.scope.get(IDENTITY_KEY)
    if not isinstance(identity, Identity):  # a route the middleware does not cover
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": _challenge("")})
    return identity


Caller = Annotated[Identity, Depends(_caller)]
"""The authenticated caller of an endpoint (declares the bearer scheme in the schema)."""
