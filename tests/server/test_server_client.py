"""``runtime.client``: the typed client, sync and async, against the real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from server_harness import AsgiHarness, Backend

from runtime import ExecutionResult, GuestException, Limits, TimeoutExceeded, ToolCall
from runtime.client import (
    AsyncClient,
    Client,
    OutputEvent,
    ProtocolError,
    RateLimited,
    RequestRejected,
    ServerError,
    TransportError,
    Unauthorized,
)
from runtime.client._base import EventDecoder, result_from_dict
from runtime.server import BackgroundServer, RateLimit, ServerConfig


@pytest.fixture(scope="module")
def client(live: BackgroundServer, tokens: dict[str, str]) -> Iterator[Client]:
    with Client(live.url, token=tokens["alice"]) as c:
        yield c


def test_run_rebuilds_the_execution_result(client: Client) -> None:
    result = client.run("print('hi')\n[echo(1), whoami()]", tools=["echo", "whoami"])

    assert isinstance(result, ExecutionResult)
    assert (result.ok, result.stdout, result.value, result.value_kind) == (True, "hi\n", [1, "alice"], "json")
    assert [call.tool for call in result.tool_calls] == ["echo", "whoami"]
    assert isinstance(result.tool_calls[0], ToolCall) and result.tool_calls[0].detail is None


def test_script_errors_are_the_library_classes(client: Client) -> None:
    failed = client.run("def f():\n    raise KeyError('k')\nf()")
    timed_out = client.run("while True: pass", limits={"timeout": 0.2})

    assert isinstance(failed.error, GuestException)
    assert (failed.error.type, failed.error.line) == ("KeyError", 2)
    assert "line 2" in (failed.error.traceback or "")
    assert isinstance(timed_out.error, TimeoutExceeded)
    assert (timed_out.error.limit, timed_out.error.value) == ("timeout", 0.2)
    with pytest.raises(TimeoutExceeded):
        timed_out.raise_for_error()


def test_limits_object_is_sent_field_by_field(client: Client) -> None:
    limits = Limits(timeout=1.0, memory_mb=64, max_output_bytes=10, tool_timeout=1.0)
    result = client.run("print('x' * 100)", limits=limits)
    assert result.error is not None and result.error.limit == "max_output_bytes"


def test_stream_yields_output_then_the_result(client: Client) -> None:
    items = list(client.stream("import time\nprint('a')\ntime.sleep(0.1)\nprint('b')\n7"))

    assert items[:2] == [OutputEvent("stdout", "a\n"), OutputEvent("stdout", "b\n")]
    assert isinstance(items[-1], ExecutionResult) and items[-1].value == 7
    assert len(items) == 3


def test_run_with_on_output_streams(client: Client) -> None:
    seen: list[tuple[str, str]] = []
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)"
    result = client.run(code, on_output=lambda stream, text: seen.append((stream, text)))
    assert seen == [("stdout", "out\n"), ("stderr", "err\n")]
    assert result.stdout == "out\n"


def test_tools_and_health(client: Client) -> None:
    found = client.tools("weather forecast", k=1)
    assert [spec.name for spec in found] == ["weather"]
    assert found[0].parameters["required"] == ["city"]
    assert {"echo", "users.get"} <= {spec.name for spec in client.tools()}
    assert client.health()["status"] == "ok"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"tools": ["nope"]}, RequestRejected),
        ({"limits": {"timeout": 1e6}}, RequestRejected),
        ({"limits": {"bogus": 1}}, RequestRejected),
    ],
    ids=["unknown-tool", "over-ceiling", "unknown-limit"],
)
def test_refused_requests_raise(client: Client, kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        client.run("1", **kwargs)
    assert caught.value.status_code == 422  # type: ignore[attr-defined]
    assert isinstance(caught.value.detail, list)  # type: ignore[attr-defined]


def test_bad_token_is_unauthorized(live: BackgroundServer) -> None:
    with Client(live.url, token="not-a-known-token-000000") as bad, pytest.raises(Unauthorized) as caught:
        bad.run("1")
    assert caught.value.status_code == 401
    assert "not-a-known" not in repr(bad)


def test_unreachable_server_is_a_transport_error() -> None:
    with Client("http://127.0.0.1:9", token="t" * 20, timeout=2) as nowhere, pytest.raises(TransportError) as caught:
        nowhere.health()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_async_client(live: BackgroundServer, tokens: dict[str, str]) -> None:
    async def scenario() -> tuple[list[ExecutionResult], list[Any], list[str], dict[str, Any]]:
        async with AsyncClient(live.url, token=tokens["bob"]) as client:
            results = await asyncio.gather(*(client.run(f"{i} * 2") for i in range(8)))
            items = [item async for item in client.stream("print('s')\n'v'")]
            tools = [spec.name for spec in await client.tools("weather")]
            return list(results), items, tools, await client.health()

    results, items, tools, health = asyncio.run(scenario())

    assert [result.value for result in results] == [i * 2 for i in range(8)]
    assert items[0] == OutputEvent("stdout", "s\n")
    assert isinstance(items[-1], ExecutionResult) and items[-1].value == "v"
    assert tools[0] == "weather"
    assert health["status"] == "ok"


@pytest.fixture(scope="module")
def limited_live(make_config: Callable[..., ServerConfig], backend: Backend) -> Iterator[BackgroundServer]:
    config = make_config(execution_rate=RateLimit(per_second=0.25, burst=1))
    with BackgroundServer(config, transport=backend.transport) as server:
        yield server


def test_rate_limited_carries_retry_after(limited_live: BackgroundServer, tokens: dict[str, str]) -> None:
    with Client(limited_live.url, token=tokens["carol"]) as client:
        assert client.run("1").value == 1
        with pytest.raises(RateLimited) as caught:
            client.run("2")
        with pytest.raises(RateLimited):
            list(client.stream("3"))
    assert caught.value.reason == "rate_limited"
    assert 3.0 < caught.value.retry_after <= 4.0


def test_async_client_errors(limited_live: BackgroundServer, tokens: dict[str, str]) -> None:
    async def scenario() -> None:
        async with AsyncClient(limited_live.url, token=tokens["dave"]) as client:
            await client.run("1")
            with pytest.raises(RateLimited):
                await client.run("2")
            with pytest.raises(RequestRejected):
                await client.run("1", tools=["nope"])

    asyncio.run(scenario())


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    return Client("http://otc.test", token="t" * 20, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500, json={"detail": "boom"}), ServerError),
        (httpx.Response(503, text="<html>down</html>"), ServerError),
        (httpx.Response(200, text="not json"), ProtocolError),
        (httpx.Response(200, json={"ok": True}), ProtocolError),
        (httpx.Response(413, json={"detail": "too big"}), RequestRejected),
        (httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}), RateLimited),
    ],
    ids=["500", "503-html", "not-json", "not-a-result", "413", "429-header-only"],
)
def test_error_mapping(response: httpx.Response, error: type[Exception]) -> None:
    with _mock(lambda request: response) as client, pytest.raises(error) as caught:
        client.run("1")
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7.0


def test_requests_carry_the_token_and_the_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(422, json={"detail": []})

    with _mock(handler) as client, pytest.raises(RequestRejected):
        client.run("x", tools=("a", "b"), limits=Limits(timeout=2.0))
    body = json.loads(seen[0].content)
    assert seen[0].headers["authorization"] == "Bearer " + "t" * 20
    assert (body["code"], body["tools"], body["limits"]["timeout"]) == ("x", ["a", "b"], 2.0)
    assert "max_code_bytes" not in body["limits"] and "fuel" not in body["limits"]


def test_stream_without_a_result_is_a_protocol_error() -> None:
    events = b'event: stdout\ndata: "a\\n"\n\n'
    with _mock(lambda request: httpx.Response(200, content=events)) as client, pytest.raises(ProtocolError):
        list(client.stream("1"))


def test_event_decoder() -> None:
    decoder = EventDecoder()
    lines = [": comment", "event: stdout", 'data: "x"', "", "", "data: a", "data: b", ""]
    assert [event for line in lines if (event := decoder.feed(line))] == [("stdout", '"x"'), ("message", "a\nb")]


def test_unknown_error_class_is_a_plain_execution_error() -> None:
    data = {
        "ok": False,
        "stdout": "",
        "stderr": "",
        "value": None,
        "value_kind": "none",
        "error": {"error": "FromTheFuture", "type": "X", "message": "m"},
        "duration": 0.1,
        "fuel_consumed": None,
        "tool_calls": [],
    }
    error = result_from_dict(data).error
    assert type(error).__name__ == "ExecutionError" and error is not None and error.message == "m"


def test_client_through_asgi(asgi: AsgiHarness, tokens: dict[str, str]) -> None:
    async def scenario() -> ExecutionResult:
        transport = httpx.ASGITransport(app=asgi.app)
        async with AsyncClient("http://otc.test", token=tokens["alice"], transport=transport) as client:
            return await client.run("6 * 7")

    assert asgi.call(scenario()).value == 42
