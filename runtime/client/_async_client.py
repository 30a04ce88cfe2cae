"""``AsyncClient``: the executor daemon's API over ``httpx.AsyncClient``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from runtime import ExecutionResult, Limits
from runtime.llm import ToolSpec

from ._base import DEFAULT_URL, BaseClient, EventDecoder, OutputEvent
from ._client import map_transport_errors
from ._errors import ProtocolError

__all__ = ["AsyncClient"]


class AsyncClient(BaseClient):
    """``Client`` for asyncio: the same methods, awaited (``stream`` is an async iterator).

    Usage::

        async with AsyncClient("http://127.0.0.1:8000", token=token) as client:
            result = await client.run("1 + 1")
            async for item in client.stream("print('hi')"):
                ...
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str,
        timeout: float | None = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport
        )

    async def run(
        self,
        code: str,
        *,
        tools: Iterable[str] = (),
        limits: Limits | Mapping[str, float | int | None] | None = None,
        on_output: Callable[[str, str], object] | None = None,
    ) -> ExecutionResult:
        """See ``Client.run``."""
        if on_output is not None:
            async for item in self.stream(code, tools=tools, limits=limits):
                if isinstance(item, OutputEvent):
                    on_output(item.stream, item.text)
                else:
                    return item
        body = self._execution_body(code, tools, limits)
        with map_transport_errors():
            response = await self._http.post("/v1/executions", json=body)
        return self._result(response)

    async def stream(
        self,
        code: str,
        *,
        tools: Iterable[str] = (),
        limits: Limits | Mapping[str, float | int | None] | None = None,
    ) -> AsyncIterator[OutputEvent | ExecutionResult]:
        """See ``Client.stream``."""
        body = self._execution_body(code, tools, limits)
        with map_transport_errors():
            async with self._http.stream("POST", "/v1/executions/stream", json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._check(response)
                decoder = EventDecoder()
                async for line in response.aiter_lines():
                    event = decoder.feed(line)
                    item = None if event is None else self._stream_item(*event)
                    if item is not None:
                        yield item
                        if isinstance(item, ExecutionResult):
                            return
        raise ProtocolError("the stream ended without a result")

    async def tools(self, q: str | None = None, *, k: int = 20) -> list[ToolSpec]:
        """See ``Client.tools``."""
        with map_transport_errors():
            response = await self._http.get("/v1/tools", params=self._tools_params(q, k))
        return self._tool_specs(response)

    async def health(self) -> dict[str, Any]:
        """See ``Client.health``."""
        with map_transport_errors():
            response = await self._http.get("/healthz")
        return self._health(response)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()
