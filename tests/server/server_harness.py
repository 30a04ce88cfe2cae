"""Test doubles and drivers for the daemon: a recording HTTP backend, an
in-process ASGI driver that runs the app's lifespan, and helpers for an
``otc serve`` process. (The real server on a loopback port in this process
is the package's own ``runtime.server.BackgroundServer``.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from runtime import Limits
from runtime.server import HttpTool

T = TypeVar("T")

CEILINGS = Limits(timeout=5.0, memory_mb=128, max_output_bytes=100_000, max_code_bytes=50_000, tool_timeout=5.0)
"""The test servers' ceilings (small enough to test "over the ceiling")."""

Send = Callable[..., httpx.Response]
"""``send(method, url, **kwargs)``: one request to a test server."""

Auth = Callable[[str], dict[str, str]]
"""``auth("alice")``: the headers that authenticate a caller."""

API = "https://api.test"

HTTP_TOOLS = (
    HttpTool(
        name="users.get",
        description="Fetch a user's profile by id.",
        method="GET",
        url=f"{API}/users/{{user_id}}",
        parameters={
            "type": "object",
            "properties": {
                "user_id": {"type": "string", "description": "The user's id."},
                "fields": {"type": "array", "items": {"type": "string"}},
                "verbose": {"type": "boolean"},
            },
            "required": ["user_id"],
        },
    ),
    HttpTool(
        name="orders.create",
        description="Create an order.",
        method="POST",
        url=f"{API}/orders",
        parameters={
            "type": "object",
            "properties": {"item": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
            "required": ["item", "quantity"],
        },
    ),
    HttpTool(name="backend.echo_auth", description="Echo the request's headers.", method="GET", url=f"{API}/echo"),
    HttpTool(name="backend.forbidden", description="Always 403.", method="GET", url=f"{API}/forbidden"),
    HttpTool(name="backend.slow", description="Answers late.", method="GET", url=f"{API}/slow", timeout=0.2),
    HttpTool(name="backend.text", description="Answers text.", method="GET", url=f"{API}/text"),
)


@dataclass(frozen=True)
class Seen:
    """One request the backend received."""

    method: str
    raw_path: str
    query: dict[str, list[str]]
    authorization: str | None
    body: Any


class Backend:
    """A fake HTTP API behind ``httpx.MockTransport``; records every request."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.transport = httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        raw = request.url.raw_path.decode("ascii")
        path = raw.partition("?")[0]
        query: dict[str, list[str]] = {}
        for key, value in request.url.params.multi_items():
            query.setdefault(key, []).append(value)
        body = json.loads(request.content) if request.content else None
        auth = request.headers.get("authorization")
        self.seen.append(Seen(request.method, path, query, auth, body))
        if path.startswith("/users/"):
            return httpx.Response(200, json={"id": path.removeprefix("/users/"), "query": query})
        if path == "/orders":
            return httpx.Response(201, json={"created": body})
        if path == "/echo":
            return httpx.Response(200, json={"headers": dict(request.headers), "auth": auth})
        if path == "/forbidden":
            return httpx.Response(403, text=f"denied: {auth} may not do this " + "x" * 1000)
        if path == "/slow":
            await asyncio.sleep(2.0)
            return httpx.Response(200, json={})
        if path == "/text":
            return httpx.Response(200, text="<html>not json</html>")
        return httpx.Response(404, json={"detail": "no such path"})


class AsgiHarness:
    """Drives an app in-process through ``httpx.ASGITransport``, on a loop thread of its own.

    ``ASGITransport`` does not run the lifespan, so the harness does: the app's
    sandbox is made when the harness starts and closed when it closes.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="asgi-harness", daemon=True)
        self._thread.start()
        self._stack = contextlib.AsyncExitStack()
        self.client: httpx.AsyncClient = self.call(self._start())

    async def _start(self) -> httpx.AsyncClient:
        await self._stack.enter_async_context(self.app.router.lifespan_context(self.app))
        transport = httpx.ASGITransport(app=self.app)
        return await self._stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://otc.test"))

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coroutine`` on the harness's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.call(self.client.request(method, url, **kwargs))

    def gather(self, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
        """Send ``(method, url, kwargs)`` requests concurrently; responses in order."""

        async def send() -> list[httpx.Response]:
            return list(await asyncio.gather(*(self.client.request(m, u, **kw) for m, u, kw in requests)))

        return self.call(send())

    def close(self) -> None:
        self.call(self._stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def free_port() -> int:
    """A loopback TCP port nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(process: subprocess.Popen[str], url: str, timeout: float = 60.0) -> None:
    """Wait until the ``otc serve`` ``process`` answers ``/healthz`` at ``url``; fails if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            assert process.poll() is None, "otc serve exited"
            assert time.monotonic() < deadline, "otc serve did not start"
            time.sleep(0.1)
