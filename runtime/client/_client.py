"""``Client``: the executor daemon's API over a blocking ``httpx.Client``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from runtime import ExecutionResult, Limits
from runtime.llm import ToolSpec

from ._base import DEFAULT_URL, BaseClient, EventDecoder, OutputEvent
from ._errors import ProtocolError, TransportError

__all__ = ["Client", "map_transport_errors"]


@contextlib.contextmanager
def map_transport_errors() -> Iterator[None]:
    """Turn ``httpx`` transport failures into ``TransportError`` (the one place it happens)."""
    try:
        yield
    except httpx.TransportError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc


class Client(BaseClient):
    """Runs scripts on an ``otc serve`` daemon, as ``Sandbox.run`` does locally.

    Usage::

        with Client("http://127.0.0.1:8000", token=token) as client:
            result = client.run("print('hi')\\n1 + 1", tools=["crm.list_candidates"])
            result.value         # 2
            for item in client.stream("print('a')\\nimport time; time.sleep(1)\\nprint('b')"):
                print(item)      # OutputEvent('stdout', 'a\\n'), ..., then the ExecutionResult

    Failures of the script are in ``result.error`` (the same ``ExecutionError``
    classes as the library); the request's own failures raise ``ClientError``s
    (``Unauthorized``, ``RateLimited``, ``RequestRejected``, ``TransportError``...).
    ``transport`` replaces the network (``httpx.MockTransport``, or
    ``httpx.ASGITransport``-like test transports).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str,
        timeout: float | None = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport)

    def run(
        self,
        code: str,
        *,
        tools: Iterable[str] = (),
        limits: Limits | Mapping[str, float | int | None] | None = None,
        on_output: Callable[[str, str], object] | None = None,
    ) -> ExecutionResult:
        """Run ``code`` with the server's tools named in ``tools``; its result.

        ``limits`` lowers the server's ceilings for this run (a ``Limits``, or a
        mapping of some of its fields). ``on_output(stream, text)`` is called as
        the script prints (the run is streamed). Raises ``ClientError``s."""
        if on_output is not None:
            for item in self.stream(code, tools=tools, limits=limits):
                if isinstance(item, OutputEvent):
                    on_output(item.stream, item.text)
                else:
                    return item
        body = self._execution_body(code, tools, limits)
        with map_transport_errors():
            response = self._http.post("/v1/executions", json=body)
        return self._result(response)

    def stream(
        self,
        code: str,
        *,
        tools: Iterable[str] = (),
        limits: Limits | Mapping[str, float | int | None] | None = None,
    ) -> Iterator[OutputEvent | ExecutionResult]:
        """Run ``code``, yielding ``OutputEvent``s as it prints, then its
        ``ExecutionResult`` (always last). Closing the iterator early cancels
        the run on the server. Raises ``ClientError``s."""
        body = self._execution_body(code, tools, limits)
        with map_transport_errors(), self._http.stream("POST", "/v1/executions/stream", json=body) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            decoder = EventDecoder()
            for line in response.iter_lines():
                event = decoder.feed(line)
                item = None if event is None else self._stream_item(*event)
                if item is not None:
                    yield item
                    if isinstance(item, ExecutionResult):
                        return
        raise ProtocolError("the stream ended without a result")

    def tools(self, q: str | None = None, *, k: int = 20) -> list[ToolSpec]:
        """The server's tools, or the best ``k`` for the search words ``q``."""
        with map_transport_errors():
            response = self._http.get("/v1/tools", params=self._tools_params(q, k))
        return self._tool_specs(response)

    def health(self) -> dict[str, Any]:
        """The server's ``/healthz`` answer (``{"status": "ok", "in_flight": n, "workers": n}``)."""
        with map_transport_errors():
            response = self._http.get("/healthz")
        return self._health(response)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
