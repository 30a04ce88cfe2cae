"""A typed client for the executor daemon (``otc serve``), sync and async.

Data flow: ``Client.run(code, tools=..., limits=...)`` -> ``POST /v1/executions``
with the caller's bearer token -> the daemon's sandbox -> the JSON result ->
a ``runtime.ExecutionResult`` (its ``error`` the same ``ExecutionError``
subclass the library would report). ``stream`` reads the server-sent events
of ``/v1/executions/stream``: ``OutputEvent``s as the script prints, then
the result. Requests that fail raise the ``ClientError``s drawn in
``runtime.client._errors``. Needs only ``httpx`` (a core dependency).
"""

from ._async_client import AsyncClient
from ._base import OutputEvent
from ._client import Client
from ._errors import (
    ClientError,
    ProtocolError,
    RateLimited,
    RequestRejected,
    ServerError,
    TransportError,
    Unauthorized,
)

__all__ = [
    "AsyncClient",
    "Client",
    "ClientError",
    "OutputEvent",
    "ProtocolError",
    "RateLimited",
    "RequestRejected",
    "ServerError",
    "TransportError",
    "Unauthorized",
]
