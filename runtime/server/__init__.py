"""The executor daemon: code actions as a service (``otc serve``).

Data flow: an HTTP request with the caller's bearer token -> ``TokenVerifier``
-> an ``Identity`` -> admission (ceilings, concurrency, the caller's rate) ->
the app's shared ``Sandbox`` (``arun`` with the granted tools and the
identity as context) -> host functions: Python tools, and ``HttpTool``
backends called with the caller's own token -> the ``ExecutionResult`` as
JSON, or streamed as server-sent events; every execution and tool call goes
to the audit log and the metrics. With ``ServerConfig.workers`` > 1, ``serve``
runs that many such apps in worker processes on one socket, sharing the
ceilings, rate limits, metrics and audit file (``_workers``, ``_shared``).

Needs the ``serve`` extra (FastAPI, uvicorn): ``pip install 'otc-runtime[serve]'``.
"""

from ._app import API_VERSION, create_app
from ._auth import Identity, StaticTokenVerifier, TokenVerifier
from ._config import ServerConfig
from ._errors import ConfigError
from ._http_tools import HttpTool
from ._rate_limit import RateLimit
from ._serve import BackgroundServer, serve

__all__ = [
    "API_VERSION",
    "BackgroundServer",
    "ConfigError",
    "HttpTool",
    "Identity",
    "RateLimit",
    "ServerConfig",
    "StaticTokenVerifier",
    "TokenVerifier",
    "create_app",
    "serve",
]
